package main

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

// syncBuffer is a process's stdout, readable while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startRole is background with stdout kept: it starts a long-running
// mesh command on c's home, waits for its addrs file and returns its
// first address and its stdout.
func (c *cli) startRole(args ...string) (string, *syncBuffer) {
	c.t.Helper()
	cmd := exec.Command(meshBin, args...)
	cmd.Env = c.env
	out := &syncBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.proc = cmd
	c.t.Cleanup(c.stop)
	var addrs []string
	wrote := func() bool {
		b, _ := os.ReadFile(filepath.Join(c.home, "addrs"))
		addrs = strings.Fields(string(b))
		return len(addrs) > 0
	}
	if !testkit.Poll(30*time.Second, wrote) {
		c.t.Fatalf("mesh %s never wrote its addresses", strings.Join(args, " "))
	}
	return addrs[0], out
}

// interrupt stops c's background process as an operator would (SIGINT),
// so that it writes its stop record, and waits for it.
func (c *cli) interrupt() {
	c.t.Helper()
	if c.proc == nil {
		return
	}
	c.proc.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- c.proc.Wait() }()
	if err := testkit.Within(c.t, 30*time.Second, done, "mesh stops on SIGINT"); err != nil {
		c.t.Fatalf("mesh exited with %v after SIGINT", err)
	}
	c.proc = nil
}

// peerOf connects a fresh host with key name to the bootstrap at addr.
func peerOf(t *testing.T, name, addr string) (host.Host, peer.ID) {
	t.Helper()
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	h := testkit.Host(t, testkit.Key(t, name))
	if err := h.Connect(testkit.Context(t, 10*time.Second), *info); err != nil {
		t.Fatal(err)
	}
	return h, info.ID
}

func publishHandle(t *testing.T, name, handle, addr string) error {
	t.Helper()
	h, boot := peerOf(t, name, addr)
	relayAddr := ma.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/" + boot.String() + "/p2p-circuit")
	sr, err := directory.SignRecord(testkit.Key(t, name), directory.Record{Handle: directory.Handle(handle), Relays: []ma.Multiaddr{relayAddr},
		Seq: directory.SeqAt(time.Now()), Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return directory.Publish(testkit.Context(t, 10*time.Second), h, boot, sr)
}

// secretForms lists what must never appear in a role's audit files: its
// peer key's seed and the audit key derived from it, raw and encoded.
func secretForms(t *testing.T, home, role string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("identity.key is not PEM")
	}
	seed := block.Bytes
	auditKey, err := hkdf.Key(sha256.New, seed, []byte(role), "ocmt-mesh/infra-audit/v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, s := range [][]byte{seed, auditKey} {
		out = append(out, s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)),
			[]byte(base64.RawURLEncoding.EncodeToString(s)))
	}
	return out
}

// scanAuditFiles fails the test if a role's audit log or head holds any
// of canaries.
func scanAuditFiles(t *testing.T, path string, canaries ...[]byte) {
	t.Helper()
	for _, p := range []string{path, path + ".head"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range canaries {
			if bytes.Contains(b, c) {
				t.Errorf("%s holds a canary (%.12q…)", p, c)
			}
		}
	}
}

// TestCLIInfraAuditEverywhere: mesh bootstrap and mesh relay keep a
// verifiable audit log in their folder by default; the bootstrap records
// registrations, squats and mail counts and serves metrics; mesh relay
// grant and revoke record themselves in the relay's log whether it runs or
// not; mesh relay audit and mesh bootstrap audit verify; and neither log
// holds a token, a mail's bytes, a peer key or the audit key.
func TestCLIInfraAuditEverywhere(t *testing.T) {
	erin := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	boot := newCLI(t)
	bootAddr, bootOut := boot.startRole("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0", "--metrics", "127.0.0.1:0")
	var metricsURL string
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, l := range strings.Split(bootOut.String(), "\n") {
			if u, ok := strings.CutPrefix(l, "metrics on "); ok {
				metricsURL = u
				return true
			}
		}
		return false
	}, "mesh bootstrap prints its metrics address")
	rel := newCLI(t)
	rel.startRole("relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr)

	// Directory and mail traffic, with a canary in the sealed bytes.
	if err := publishHandle(t, "alice", "alice", bootAddr); err != nil {
		t.Fatal(err)
	}
	if err := publishHandle(t, "mallory", "alice", bootAddr); err == nil {
		t.Fatal("mallory took alice's handle")
	}
	sealed := []byte("SEALEDMAILCANARY-cli-3b7f")
	bob, bootID := peerOf(t, "bob", bootAddr)
	if err := directory.MailboxPut(testkit.Context(t, 10*time.Second), bob, bootID, testkit.Key(t, "alice").ID(), sealed); err != nil {
		t.Fatal(err)
	}
	alice, _ := peerOf(t, "alice", bootAddr)
	if mail, err := directory.MailboxFetch(testkit.Context(t, 10*time.Second), alice, bootID); err != nil || len(mail) != 1 {
		t.Fatalf("alice fetched %d items: %v", len(mail), err)
	}

	// The operator's actions, with the relay running and stopped.
	running := strings.TrimSpace(rel.ok("", nil, "relay", "grant", "--to", erin))
	if out := rel.ok(running, nil, "relay", "revoke", "-"); !strings.Contains(out, "pushed") {
		t.Fatalf("revoke: %q", out)
	}
	rel.interrupt()
	stopped := strings.TrimSpace(rel.ok("", nil, "relay", "grant", "--to", erin, "--for", "1h"))
	if out := rel.ok("", nil, "relay", "revoke", stopped); !strings.Contains(out, "stored") {
		t.Fatalf("revoke: %q", out)
	}

	t.Run("mesh relay audit verifies and shows every action", func(t *testing.T) {
		out := rel.ok("", nil, "relay", "audit")
		if !strings.Contains(out, "chain verified: 6 records, head at record 6") {
			t.Fatalf("mesh relay audit:\n%s", out)
		}
		for _, tok := range []string{running, stopped} {
			parsed, err := capability.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "token="+parsed.ID().String()) != 2 {
				t.Errorf("the grant and revoke of %s are not both shown:\n%s", parsed.ID().Short(), out)
			}
		}
		for _, want := range []string{" start ", " grant ", "src=" + erin, "detail=pushed to the running relay", "detail=stored; in force when the relay starts", " stop "} {
			if !strings.Contains(out, want) {
				t.Errorf("mesh relay audit lacks %q:\n%s", want, out)
			}
		}
		// --json is one object, as mesh audit --json
		var rep struct {
			Records []map[string]any `json:"records"`
			Head    uint64           `json:"head"`
			Breaks  []string         `json:"breaks"`
		}
		if err := json.Unmarshal([]byte(rel.ok("", nil, "relay", "audit", "--json")), &rep); err != nil || len(rep.Records) != 6 || rep.Head != 6 || len(rep.Breaks) != 0 {
			t.Fatalf("mesh relay audit --json: %+v, %v", rep, err)
		}
		var grant struct {
			Token, ID, To string
			Expiry        time.Time
		}
		if err := json.Unmarshal([]byte(rel.ok("", nil, "relay", "grant", "--to", erin, "--for", "1h", "--json")), &grant); err != nil || grant.To != erin || !strings.HasPrefix(grant.Token, "ocmt1.") || grant.Expiry.IsZero() {
			t.Fatalf("mesh relay grant --json: %+v, %v", grant, err)
		}
	})
	t.Run("mesh bootstrap audit verifies while the bootstrap runs", func(t *testing.T) {
		out := boot.ok("", nil, "bootstrap", "audit")
		aliceID := testkit.Key(t, "alice").ID().String()
		for _, want := range []string{" start ", " register ", "peer=" + aliceID + " handle=alice", " publish-refused ", "reason=handle-taken", "chain verified"} {
			if !strings.Contains(out, want) {
				t.Errorf("mesh bootstrap audit lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("mesh bootstrap --metrics serves metadata only", func(t *testing.T) {
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"ocmt_bootstrap_directory_records 1", "ocmt_bootstrap_mailbox_bytes", "ocmt_bootstrap_lookups_total",
			"ocmt_bootstrap_publishes_total 1", "ocmt_bootstrap_mail_puts_total 1", "ocmt_bootstrap_revocations"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		if bytes.Contains(body, []byte("alice")) || bytes.Contains(body, sealed) {
			t.Error("metrics name a handle or hold mail")
		}
	})
	boot.interrupt()
	if out := boot.ok("", nil, "bootstrap", "audit"); !strings.Contains(out, " stop ") || !strings.Contains(out, `"mail_puts":1`) {
		t.Fatalf("the stopped bootstrap's log lacks its counts or its stop:\n%s", out)
	}
	t.Run("no log holds a token, a mail's bytes or a key", func(t *testing.T) {
		canaries := [][]byte{sealed, []byte(running), []byte(stopped), []byte(base64.StdEncoding.EncodeToString(sealed))}
		scanAuditFiles(t, filepath.Join(rel.home, "audit.log"), append(canaries, secretForms(t, rel.home, "relay")...)...)
		scanAuditFiles(t, filepath.Join(boot.home, "audit.log"), append(canaries, secretForms(t, boot.home, "bootstrap")...)...)
	})
}

// TestCLIRelayAuditReportsTampering: an edited record and a deleted tail
// each make mesh relay audit fail, naming the break.
func TestCLIRelayAuditReportsTampering(t *testing.T) {
	peerID := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	boot := newCLI(t)
	bootAddr, _ := boot.startRole("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")
	rel := newCLI(t)
	rel.startRole("relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr)
	rel.interrupt()
	for range 3 {
		rel.ok("", nil, "relay", "grant", "--to", peerID)
	}
	if out := rel.ok("", nil, "relay", "audit"); !strings.Contains(out, "chain verified: 5 records") {
		t.Fatalf("before tampering:\n%s", out)
	}
	path := filepath.Join(rel.home, "audit.log")
	orig, _ := os.ReadFile(path)
	ls := bytes.SplitAfter(orig, []byte("\n"))

	edited := bytes.Replace(orig, []byte(`"event":"grant","src":"`+peerID), []byte(`"event":"grant","src":"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTM`), 1)
	os.WriteFile(path, edited, 0o600)
	out, errs, ok := rel.run("", nil, "relay", "audit")
	if ok || !strings.Contains(out, "BREAK: record 3 (line 3): its MAC does not verify") || !strings.Contains(errs, "does not verify") {
		t.Fatalf("an edited record: ok=%v\n%s%s", ok, out, errs)
	}

	os.WriteFile(path, bytes.Join(ls[:3], nil), 0o600)
	out, _, ok = rel.run("", nil, "relay", "audit")
	if ok || !strings.Contains(out, "records 4 to 5 were removed from the end") {
		t.Fatalf("a deleted tail: ok=%v\n%s", ok, out)
	}
	// The next grant notices the cut and records it before its own
	// record, so the evidence outlives the head it rewrites.
	rel.ok("", nil, "relay", "grant", "--to", peerID)
	out, _, ok = rel.run("", nil, "relay", "audit")
	if ok || !strings.Contains(out, "an appender found the log cut: records 4 to 5 were removed from the end") {
		t.Fatalf("after the next grant: ok=%v\n%s", ok, out)
	}
}

// TestCLIAuditFileChoices: --audit FILE (relative to the working
// directory) and a config file's audit: (relative to the home folder)
// choose the relay's log, and grant and audit given the same flag or
// config find it.
func TestCLIAuditFileChoices(t *testing.T) {
	peerID := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	boot := newCLI(t)
	bootAddr, _ := boot.startRole("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")

	rel := newCLI(t)
	flagFile := filepath.Join(t.TempDir(), "relay-audit.jsonl")
	rel.startRole("relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr, "--audit", flagFile)
	rel.ok("", nil, "relay", "grant", "--to", peerID, "--audit", flagFile)
	rel.interrupt()
	if out := rel.ok("", nil, "relay", "audit", "--audit", flagFile); !strings.Contains(out, "chain verified: 3 records") {
		t.Fatalf("--audit FILE:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(rel.home, "audit.log")); err == nil {
		t.Fatal("DIR/audit.log was written although --audit chose another file")
	}

	cfg := filepath.Join(t.TempDir(), "relay.yaml")
	os.WriteFile(cfg, []byte("audit: logs-relay.jsonl\nbootstrap: ["+bootAddr+"]\nlisten: [/ip4/127.0.0.1/tcp/0]\n"), 0o600)
	rel2 := newCLI(t)
	rel2.startRole("relay", "--config", cfg)
	rel2.ok("", nil, "relay", "grant", "--to", peerID, "--config", cfg)
	rel2.interrupt()
	if out := rel2.ok("", nil, "relay", "audit", "--config", cfg); !strings.Contains(out, "chain verified: 3 records") {
		t.Fatalf("audit: in a config file:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(rel2.home, "logs-relay.jsonl")); err != nil {
		t.Fatalf("the config's relative audit path is not in the home folder: %v", err)
	}
}

// TestInfraConfigsDocumentTheAuditAndMetrics: the example files set every
// new option to its default, and the bootstrap's has metrics.
func TestInfraConfigsDocumentTheAuditAndMetrics(t *testing.T) {
	for _, f := range []string{"../../configs/bootstrap.yaml", "../../configs/relay.yaml"} {
		fc, err := loadInfraConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		if fc.Audit != "audit.log" || time.Duration(fc.AuditWindow) != time.Minute || fc.AuditMaxRecords != 64 || fc.Metrics == "" {
			t.Errorf("%s: audit %q, window %v, max records %d, metrics %q", f, fc.Audit, fc.AuditWindow, fc.AuditMaxRecords, fc.Metrics)
		}
		b, _ := os.ReadFile(f)
		for _, key := range []string{"audit:", "audit_window:", "audit_max_records:", "metrics:"} {
			i := bytes.Index(b, []byte("\n"+key))
			if i < 0 || !bytes.Contains(b[max(0, i-600):i], []byte("Default")) {
				t.Errorf("%s: %s is not documented with its default", f, key)
			}
		}
	}
}
