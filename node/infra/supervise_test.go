package infra

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/wake"
)

// TestSupervisorWakeCommandHelper is the supervisor's wake command in
// these tests: the test binary run again (the os/exec pattern), as
// `BIN -test.run=^TestSupervisorWakeCommandHelper$ -- OUT ARG...`. It
// writes what it was given to OUT and a line to its output.
func TestSupervisorWakeCommandHelper(t *testing.T) {
	i := slices.Index(os.Args, "--")
	if i < 0 || i+1 >= len(os.Args) || os.Getenv(wakehook.EnvHandle) == "" {
		t.Skip("only run as a supervisor's wake command")
	}
	out := os.Args[i+1]
	rec, _ := json.Marshal(wokenRecord{Args: os.Args[i+2:], Handle: os.Getenv(wakehook.EnvHandle), Peer: os.Getenv(wakehook.EnvPeer)})
	fmt.Println("container started")
	os.WriteFile(out+".tmp", rec, 0o600)
	os.Rename(out+".tmp", out)
	os.Exit(0)
}

// wokenRecord is what the helper was run with.
type wokenRecord struct {
	Args         []string
	Handle, Peer string
}

// wakeTemplate runs the helper, which writes its record to out.
func wakeTemplate(out string, args string) string {
	return fmt.Sprintf(`'%s' -test.run=^TestSupervisorWakeCommandHelper$ -- '%s' %s`, os.Args[0], out, args)
}

// readWoken waits for the helper's record at out.
func readWoken(t *testing.T, out string) wokenRecord {
	t.Helper()
	var rec wokenRecord
	testkit.Eventually(t, 30*time.Second, func() bool {
		b, err := os.ReadFile(out)
		return err == nil && json.Unmarshal(b, &rec) == nil
	}, "the wake command to write %s", out)
	return rec
}

// supervisorSeed creates the supervisor's identity in h ahead of its
// start and returns its seed, for the canary checks.
func supervisorSeed(t *testing.T, h home.Home) []byte {
	t.Helper()
	k, err := home.LoadOrCreateIdentity(h)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	return bytes.Clone(k.Seed())
}

// noSeedIn fails if text holds seed, raw or encoded.
func noSeedIn(t *testing.T, what, text string, seed []byte) {
	t.Helper()
	for _, form := range []string{string(seed), hex.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed),
		base64.RawURLEncoding.EncodeToString(seed)} {
		if strings.Contains(text, form) {
			t.Fatalf("%s holds the supervisor's key", what)
		}
	}
}

func statusIs(err error, st wire.Status) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Status == st
}

// TestASupervisorRunsItsCommandOnlyOnItsRelaysOrders: an order from a
// listed relay runs the operator's command with the order's handle and
// peer; an order from a relay not listed is refused in words and runs
// nothing; a handle no command covers is refused as a failed wake.
func TestASupervisorRunsItsCommandOnlyOnItsRelaysOrders(t *testing.T) {
	relayKey, strangerKey := testkit.Key(t, "relay"), testkit.Key(t, "stranger relay")
	relayHost, strangerHost := testkit.Host(t, relayKey), testkit.Host(t, strangerKey)
	out := filepath.Join(t.TempDir(), "woken.json")
	supHome := tempHome(t, "sup")
	seed := supervisorSeed(t, supHome)
	logs := &supLog{}
	sup, err := StartSupervisor(context.Background(), SuperviseConfig{
		Config: Config{Home: supHome, Listen: loopback, Logger: slog.New(slog.NewJSONHandler(logs, nil))},
		Relays: []peer.ID{relayKey.ID()},
		ExecFor: map[string]string{
			"alice": wakeTemplate(out, "start-container {handle} --peer={peer}"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })
	if b, err := os.ReadFile(supHome.AddrsPath()); err != nil || !strings.Contains(string(b), "/p2p/"+sup.Host.ID().String()) {
		t.Fatalf("the addrs file: %q, %v", b, err)
	}
	testkit.Connect(t, relayHost, sup.Host)
	testkit.Connect(t, strangerHost, sup.Host)
	ctx := testkit.Context(t, time.Minute)
	alice := testkit.Key(t, "alice").ID()

	stranger, err := wakehook.NewSupervisor(strangerHost, strangerKey.Libp2pPrivKey(), sup.Host.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = stranger.Wake(ctx, wakehook.Target{Handle: "alice", Peer: alice})
	if !statusIs(err, wire.Forbidden) || !strings.Contains(err.Error(), "only from the relays it serves") {
		t.Fatalf("an order from a relay not listed: %v", err)
	}

	hook, err := wakehook.NewSupervisor(relayHost, relayKey.Libp2pPrivKey(), sup.Host.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hook.Wake(ctx, wakehook.Target{Handle: "bob", Peer: alice}); !statusIs(err, wire.Unavailable) || !strings.Contains(err.Error(), "could not wake bob") {
		t.Fatalf("a handle no command covers: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused order ran the command: %v", err)
	}
	if err := hook.Wake(ctx, wakehook.Target{Handle: "alice", Peer: alice}); err != nil {
		t.Fatal(err)
	}
	rec := readWoken(t, out)
	if want := []string{"start-container", "alice", "--peer=" + alice.String()}; !slices.Equal(rec.Args, want) {
		t.Fatalf("the command ran with %q, want %q", rec.Args, want)
	}
	if rec.Handle != "alice" || rec.Peer != alice.String() {
		t.Fatalf("the command's environment: %+v", rec)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return strings.Contains(logs.String(), `"line":"container started"`) },
		"the command's output in the supervisor's log")
	if l := logs.String(); !strings.Contains(l, "wake order carried out") {
		t.Fatalf("the supervisor's log does not record the order:\n%s", l)
	}
	noSeedIn(t, "the supervisor's log", logs.String(), seed)

	// Its audit log: the start, the stranger's refusal, the failed and the
	// carried-out orders, chained and verified with its key; the stop once
	// it closes.
	sup.Close()
	rep, err := VerifyAuditLog(supHome, RoleSupervisor, DefaultAuditFile(supHome))
	if err != nil || len(rep.Breaks) > 0 {
		t.Fatalf("the supervisor's audit log: %v, breaks %v", err, rep.Breaks)
	}
	var got []string
	for _, r := range rep.Records {
		var rec superviseRecord
		if err := json.Unmarshal(r.JSON, &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Event+" "+rec.Outcome+" "+rec.Handle)
		noSeedIn(t, "the supervisor's audit log", string(r.JSON), seed)
	}
	want := []string{"start  ", "wake refused ", "wake failed bob", "wake done alice", "stop  "}
	if !slices.Equal(got, want) {
		t.Fatalf("the supervisor's audit records: %q, want %q", got, want)
	}
}

// TestASupervisorWakesAHibernatingHome is the whole chain: alice holds a
// reservation at a relay whose wake hook is the supervisor, hibernates
// and goes; bob's wake, with alice's token, makes the relay order the
// supervisor, which runs its command for alice; alice's return answers
// bob.
func TestASupervisorWakesAHibernatingHome(t *testing.T) {
	if testing.Short() {
		t.Skip("a bootstrap, a relay, a supervisor and a wake: skipped in -short")
	}
	ctx := testkit.Context(t, 2*time.Minute)
	relHome, supHome := tempHome(t, "relay"), tempHome(t, "sup")
	rk, err := home.LoadOrCreateIdentity(relHome)
	if err != nil {
		t.Fatal(err)
	}
	relayID := rk.ID()
	rk.Wipe()
	out := filepath.Join(t.TempDir(), "woken.json")
	seed := supervisorSeed(t, supHome)
	logs := &supLog{}
	sup, err := StartSupervisor(ctx, SuperviseConfig{
		Config: Config{Home: supHome, Listen: loopback, Logger: slog.New(slog.NewJSONHandler(logs, nil))},
		Relays: []peer.ID{relayID}, Exec: wakeTemplate(out, "woke {handle} {peer}")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })
	// Alice: in the directory as "alice", reserved at the relay, then
	// hibernated and gone. Bob wakes her with her token, until the
	// supervisor's command has run.
	relInfo, aliceKey, bob, tok := startWakeMesh(t, ctx, relHome, WakeConfig{Supervisor: sup.Addrs()[0]})
	woken := func() bool { _, err := os.Stat(out); return err == nil }
	if !testkit.PollEvery(30*time.Second, 200*time.Millisecond, func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		// a refusal in words ends the test; bob giving up after 2s does not
		var refusal *wire.Error
		if err := wake.Wake(c, bob, relInfo.ID, aliceKey.ID(), tok); errors.As(err, &refusal) {
			t.Fatalf("bob's wake: %v", err)
		}
		return woken()
	}) {
		t.Fatalf("the supervisor never ran its command; its log:\n%s", logs.String())
	}
	rec := readWoken(t, out)
	if want := []string{"woke", "alice", aliceKey.ID().String()}; !slices.Equal(rec.Args, want) {
		t.Fatalf("the command ran with %q, want %q", rec.Args, want)
	}

	// Alice is back: a wake waiting for her is answered.
	answered := make(chan error, 1)
	go func() { answered <- wake.Wake(ctx, bob, relInfo.ID, aliceKey.ID(), tok) }()
	h := testkit.Host(t, aliceKey)
	if err := h.Connect(ctx, relInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, h, relInfo); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Within(t, 30*time.Second, answered, "bob's wake to be answered"); err != nil {
		t.Fatalf("bob's wake once alice is back: %v", err)
	}
	if !strings.Contains(logs.String(), relayID.String()) {
		t.Fatalf("the supervisor's log does not name the relay whose order it carried out:\n%s", logs.String())
	}
	noSeedIn(t, "the supervisor's log", logs.String(), seed)
}

// grantFrom is a token owner issues to audience, valid for an hour.
func grantFrom(t *testing.T, owner *keys.PeerKey, audience peer.ID) []byte {
	t.Helper()
	tok, err := capability.Issue(owner, capability.Params{Audience: audience, Resource: "files/**", Actions: capability.Read,
		NotBefore: time.Now().Add(-time.Minute), Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Bytes()
}

// TestASupervisorNeedsItsRelaysAndACommand: a supervisor with no relay,
// no command or a command that does not parse does not start, and leaves
// its folder free for the next start.
func TestASupervisorNeedsItsRelaysAndACommand(t *testing.T) {
	h := tempHome(t, "sup")
	relayID := testkit.Key(t, "relay").ID()
	ctx := context.Background()
	for _, c := range []struct {
		what string
		cfg  SuperviseConfig
		want string
	}{
		{"no relay", SuperviseConfig{Exec: "true {handle}"}, "the peer IDs of the relays"},
		{"no command", SuperviseConfig{Relays: []peer.ID{relayID}}, "no command is configured"},
		{"a bad template", SuperviseConfig{Relays: []peer.ID{relayID}, Exec: "true {hndle}"}, "the default wake command"},
		{"a bad handle", SuperviseConfig{Relays: []peer.ID{relayID}, ExecFor: map[string]string{"Not A Handle": "true"}}, "the wake command for"},
		{"a bad relay", SuperviseConfig{Relays: []peer.ID{"not a peer"}, Exec: "true"}, "is not a peer ID"},
	} {
		c.cfg.Config = Config{Home: h, Listen: loopback}
		p, err := StartSupervisor(ctx, c.cfg)
		if err == nil {
			p.Close()
			t.Fatalf("%s: started", c.what)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.what, err, c.want)
		}
	}
	p, err := StartSupervisor(ctx, SuperviseConfig{Config: Config{Home: h, Listen: loopback}, Relays: []peer.ID{relayID}, Exec: "true {handle}"})
	if err != nil {
		t.Fatalf("after the refusals: %v", err)
	}
	if _, err := StartSupervisor(ctx, SuperviseConfig{Config: Config{Home: h, Listen: loopback}, Relays: []peer.ID{relayID}, Exec: "true"}); !errors.Is(err, home.ErrAlreadyRunning) {
		t.Fatalf("a second supervisor on the same folder: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.AddrsPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a stopped supervisor left its addrs file: %v", err)
	}
}

// supLog is a log sink safe for concurrent use.
type supLog = testkit.Buffer
