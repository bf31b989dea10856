package infra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/revsync"
	"github.com/ocmt/mesh/relay"
)

// verifiedRecords verifies a role's log and decodes its records.
func verifiedRecords[R any](t *testing.T, h home.Home, role, path string) []R {
	t.Helper()
	rep, err := VerifyAuditLog(h, role, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Breaks) > 0 {
		t.Fatalf("the %s's audit log does not verify: %q", role, rep.Breaks)
	}
	out := make([]R, len(rep.Records))
	for i, r := range rep.Records {
		if err := json.Unmarshal(r.JSON, &out[i]); err != nil {
			t.Fatalf("record %s: %v", r.JSON, err)
		}
	}
	return out
}

func relayEvents(rs []relay.AuditRecord) []relay.AuditEvent {
	var out []relay.AuditEvent
	for _, r := range rs {
		out = append(out, r.Event)
	}
	return out
}

// TestTheRelayAuditsIntoItsHomeByDefault: with no audit path configured,
// the relay keeps a verifiable log in DIR/audit.log: start, a stranger's
// refusal, stop.
func TestTheRelayAuditsIntoItsHomeByDefault(t *testing.T) {
	relHome := tempHome(t, "relay")
	_, rel := startBoth(t, relHome)
	stranger := testkit.Host(t, nil)
	info := peer.AddrInfo{ID: rel.Host.ID(), Addrs: rel.Host.Addrs()}
	ctx := testkit.Context(t, 10*time.Second)
	if err := stranger.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, stranger, info); err == nil {
		t.Fatal("a stranger reserved")
	}
	path := filepath.Join(string(relHome), "audit.log")
	testkit.Eventually(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte(`"event":"reserve-refused","src":"`+stranger.ID().String()))
	}, "the stranger's refusal is in %s", path)
	rel.Close()
	rs := verifiedRecords[relay.AuditRecord](t, relHome, RoleRelay, path)
	got := relayEvents(rs)
	if len(rs) != 3 || got[0] != relay.EventStart || got[1] != relay.EventReserveRefused || got[2] != relay.EventStop {
		t.Fatalf("events %v, want start, reserve-refused, stop", got)
	}
	if rs[0].Src != rel.Host.ID() || rs[1].Reason != relay.ReasonUnauthorized {
		t.Fatalf("records %+v", rs)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the log's mode: %v %v", st.Mode(), err)
	}
}

// TestOperatorActionsAreAuditedInTheRelaysLog: grant and revoke write
// their record into the relay's log whether the relay runs (its running
// process holds the log) or not, and the chain stays whole across both
// and a restart. The records name the peer, the token's ID and expiry,
// never the token.
func TestOperatorActionsAreAuditedInTheRelaysLog(t *testing.T) {
	ctx := context.Background()
	relHome := tempHome(t, "relay")
	_, rel := startBoth(t, relHome)
	erin := testkit.Key(t, "erin")
	running, err := GrantRelayAccess(relHome, erin.ID(), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, how, err := RevokeRelayAccess(ctx, relHome, running.String(), time.Now()); err != nil || !strings.Contains(how, "pushed") {
		t.Fatalf("revoke with the relay running: %q %v", how, err)
	}
	rel.Close()
	stopped, err := GrantRelayAccess(relHome, erin.ID(), 2*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, how, err := RevokeRelayAccess(ctx, relHome, stopped.String(), time.Now()); err != nil || !strings.Contains(how, "stored") {
		t.Fatalf("revoke with the relay stopped: %q %v", how, err)
	}
	_, rel = startBoth(t, relHome)
	rel.Close()

	path := DefaultAuditFile(relHome)
	rs := verifiedRecords[relay.AuditRecord](t, relHome, RoleRelay, path)
	want := []relay.AuditEvent{relay.EventStart, relay.EventGrant, relay.EventRevoke, relay.EventStop,
		relay.EventGrant, relay.EventRevoke, relay.EventStart, relay.EventStop}
	if got := relayEvents(rs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i, c := range []struct {
		r   relay.AuditRecord
		tok *capability.Token
		how string
	}{{rs[1], running, ""}, {rs[2], running, "pushed to the running relay"}, {rs[4], stopped, ""}, {rs[5], stopped, "stored; in force when the relay starts"}} {
		if c.r.Src != erin.ID() || c.r.Token != c.tok.ID().String() || !c.r.Until.Equal(c.tok.Expiry()) || c.r.Reason != relay.ReasonOperator || c.r.Detail != c.how {
			t.Errorf("record %d: %+v", i, c.r)
		}
	}
	b, _ := os.ReadFile(path)
	for _, tok := range []*capability.Token{running, stopped} {
		if bytes.Contains(b, []byte(tok.String())) {
			t.Fatal("the log holds a token")
		}
	}
}

// TestAGrantThatCannotBeAuditedIsNotMade: no audit, no token; a revoke
// whose record cannot be written still revokes, and says it was not
// audited.
func TestAGrantThatCannotBeAuditedIsNotMade(t *testing.T) {
	relHome := tempHome(t, "relay")
	if _, err := home.LoadOrCreateIdentity(relHome); err != nil {
		t.Fatal(err)
	}
	erin := testkit.Key(t, "erin")
	nowhere := WithAuditFile(filepath.Join(string(relHome), "no-such-dir", "audit.log"))
	if tok, err := GrantRelayAccess(relHome, erin.ID(), time.Hour, time.Now(), nowhere); err == nil || tok != nil {
		t.Fatalf("granted %v without an audit log: %v", tok, err)
	}
	tok, err := GrantRelayAccess(relHome, erin.ID(), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, how, err := RevokeRelayAccess(context.Background(), relHome, tok.String(), time.Now(), nowhere)
	if err == nil || !strings.Contains(err.Error(), "could not be audited") || !strings.Contains(how, "stored") {
		t.Fatalf("revoke without an audit log: %q, %v", how, err)
	}
}

// TestAnAuditFileElsewhereTakesEveryRecord: with AuditPath set, the
// relay and the operator's commands given the same file write there, and
// nothing goes to DIR/audit.log.
func TestAnAuditFileElsewhereTakesEveryRecord(t *testing.T) {
	ctx := context.Background()
	relHome := tempHome(t, "relay")
	path := filepath.Join(t.TempDir(), "relay-audit.jsonl")
	boot, err := StartBootstrap(ctx, Config{Home: tempHome(t, "boot"), Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	rel, err := StartRelay(ctx, RelayConfig{Config: Config{Home: relHome, Listen: loopback, AuditPath: path}, Bootstrap: boot.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GrantRelayAccess(relHome, testkit.Key(t, "erin").ID(), time.Hour, time.Now(), WithAuditFile(path)); err != nil {
		t.Fatal(err)
	}
	rel.Close()
	if got := relayEvents(verifiedRecords[relay.AuditRecord](t, relHome, RoleRelay, path)); fmt.Sprint(got) != "[start grant stop]" {
		t.Fatalf("events %v", got)
	}
	if _, err := os.Stat(DefaultAuditFile(relHome)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DIR/audit.log: %v", err)
	}
}

// TestRelayRefusalsAreBounded: a flood of refusals from many strangers
// leaves at most AuditMaxRecords records a window, which count them all.
func TestRelayRefusalsAreBounded(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	k := testkit.Key(t, "relay")
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := openChain(path, auditKey(k, RoleRelay), clock.Now, false)
	if err != nil {
		t.Fatal(err)
	}
	a := newRelayAudit(l, Config{Now: clock.Now, AuditWindow: time.Hour, AuditMaxRecords: 8})
	const strangers, each = 300, 4
	for i := range strangers {
		id := testkit.Key(t, fmt.Sprint("stranger", i)).ID()
		for range each {
			if err := a.RecordAudit(relay.AuditRecord{Time: clock.Now(), Event: relay.EventReserveRefused, Src: id, Reason: relay.ReasonUnauthorized}); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.stop()
	l.Close()
	rep, err := verifyChain(path, new(auditKey(k, RoleRelay)))
	if err != nil || len(rep.Breaks) > 0 {
		t.Fatalf("%v %q", err, rep.Breaks)
	}
	if len(rep.Records) > 8 {
		t.Fatalf("%d records for one window, want at most 8", len(rep.Records))
	}
	total := 0
	for _, r := range rep.Records {
		var rec relay.AuditRecord
		if err := json.Unmarshal(r.JSON, &rec); err != nil {
			t.Fatalf("%s: %v", r.JSON, err)
		}
		total += max(rec.Count, 1)
	}
	if total != strangers*each {
		t.Fatalf("the records count %d refusals, want %d", total, strangers*each)
	}
}

// TestARelayWhoseLogFailsFailsClosed: when the log cannot be written the
// relay service is told (it then refuses reservations), for counted
// refusals too.
func TestARelayWhoseLogFailsFailsClosed(t *testing.T) {
	k := testkit.Key(t, "relay")
	l, err := openChain(filepath.Join(t.TempDir(), "audit.log"), auditKey(k, RoleRelay), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	a := newRelayAudit(l, Config{Now: time.Now})
	defer a.stop()
	l.Close()
	stranger := testkit.Key(t, "stranger").ID()
	if err := a.RecordAudit(relay.AuditRecord{Event: relay.EventReserveRefused, Src: stranger, Reason: relay.ReasonUnauthorized}); err == nil {
		t.Fatal("a refusal was accepted by a closed log")
	}
	if err := a.RecordAudit(relay.AuditRecord{Event: relay.EventCircuit, Src: stranger}); err == nil {
		t.Fatal("a circuit was accepted by a closed log")
	}
}

// bootClient is a peer talking to a bootstrap.
type bootClient struct {
	k *keys.PeerKey
	h host.Host
}

func newBootClient(t *testing.T, name string, boot *Peer) bootClient {
	k := testkit.Key(t, name)
	h := testkit.Host(t, k)
	testkit.Connect(t, h, boot.Host)
	return bootClient{k, h}
}

func (c bootClient) publish(t *testing.T, boot *Peer, handle string, seq uint64) error {
	t.Helper()
	relayAddr := ma.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/" + boot.Host.ID().String() + "/p2p-circuit")
	sr, err := directory.SignRecord(c.k, directory.Record{Handle: directory.Handle(handle), Relays: []ma.Multiaddr{relayAddr}, Seq: seq, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return directory.Publish(testkit.Context(t, 10*time.Second), c.h, boot.Host.ID(), sr)
}

// TestTheBootstrapAuditsAndServesMetrics: the bootstrap's log records its
// start and stop, a registration, a handle change, a refused squat, an
// admitted revocation and the window's counts of lookups, publishes and
// mail, all verifiable, and none of a mail's bytes; its metrics report
// the directory's and the mailboxes' sizes, the counters and the
// revocation set's size.
func TestTheBootstrapAuditsAndServesMetrics(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	bootHome := tempHome(t, "boot")
	boot, err := StartBootstrap(ctx, Config{Home: bootHome, Listen: loopback, MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	alice, bob, mallory := newBootClient(t, "alice", boot), newBootClient(t, "bob", boot), newBootClient(t, "mallory", boot)
	if err := alice.publish(t, boot, "alice", 1); err != nil {
		t.Fatal(err)
	}
	if err := alice.publish(t, boot, "alice-2", 2); err != nil {
		t.Fatal(err)
	}
	if err := mallory.publish(t, boot, "alice-2", 1); err == nil {
		t.Fatal("mallory took alice's handle")
	}
	if _, err := directory.Lookup(ctx, bob.h, boot.Host.ID(), "alice-2"); err != nil {
		t.Fatal(err)
	}
	sealed := []byte("SEALEDCANARY-infra-audit-5d2e")
	if err := directory.MailboxPut(ctx, bob.h, boot.Host.ID(), alice.k.ID(), sealed); err != nil {
		t.Fatal(err)
	}
	metrics := func() string {
		t.Helper()
		resp, err := http.Get("http://" + boot.MetricsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if m, want := metrics(), fmt.Sprintf("ocmt_bootstrap_mailbox_bytes %d\n", len(sealed)); !strings.Contains(m, want) {
		t.Errorf("metrics lack %q", want)
	}
	if mail, err := directory.MailboxFetch(ctx, alice.h, boot.Host.ID()); err != nil || len(mail) != 1 {
		t.Fatalf("fetched %d, %v", len(mail), err)
	}
	tok, err := capability.Issue(alice.k, capability.Params{Audience: bob.k.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: time.Now(), Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := revocation.New(alice.k, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := revsync.Push(ctx, alice.h, boot.Host.ID(), rev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return boot.IsRevoked(tok.ID()) }, "the bootstrap admits alice's revocation")

	body := metrics()
	for _, want := range []string{
		"ocmt_bootstrap_directory_records 1\n", "ocmt_bootstrap_mailbox_bytes 0\n", fmt.Sprintf("ocmt_bootstrap_mail_put_bytes_total %d\n", len(sealed)),
		"ocmt_bootstrap_lookups_total 1\n", "ocmt_bootstrap_publishes_total 2\n", `ocmt_bootstrap_publishes_refused_total{reason="handle-taken"} 1`,
		"ocmt_bootstrap_mail_puts_total 1\n", "ocmt_bootstrap_mail_fetches_total", "ocmt_bootstrap_revocations 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, never := range []string{alice.k.ID().String(), "alice-2"} {
		if strings.Contains(body, never) {
			t.Errorf("metrics name %q", never)
		}
	}

	boot.Close()
	path := DefaultAuditFile(bootHome)
	rs := verifiedRecords[dht.AuditRecord](t, bootHome, RoleBootstrap, path)
	find := func(ev dht.AuditEvent) dht.AuditRecord {
		t.Helper()
		for _, r := range rs {
			if r.Event == ev {
				return r
			}
		}
		t.Fatalf("no %s record in %+v", ev, rs)
		return dht.AuditRecord{}
	}
	if rs[0].Event != dht.AuditStart || rs[len(rs)-1].Event != dht.AuditStop || rs[0].Peer != boot.Host.ID() {
		t.Fatalf("first and last records: %+v, %+v", rs[0], rs[len(rs)-1])
	}
	if r := find(dht.AuditRegister); r.Peer != alice.k.ID() || r.Handle != "alice" {
		t.Errorf("register: %+v", r)
	}
	if r := find(dht.AuditHandleChange); r.Peer != alice.k.ID() || r.Handle != "alice-2" || r.OldHandle != "alice" {
		t.Errorf("handle change: %+v", r)
	}
	if r := find(dht.AuditPublishRefused); r.Peer != mallory.k.ID() || r.Handle != "alice-2" || r.Reason != "handle-taken" {
		t.Errorf("refused publish: %+v", r)
	}
	if r := find(dht.AuditRevocation); r.Peer != alice.k.ID() || r.Token != tok.ID().String() {
		t.Errorf("revocation: %+v", r)
	}
	c := find(dht.AuditActivity).Counts
	if c == nil || c.Publishes != 2 || c.PublishesRefused != 1 || c.Lookups < 1 || c.MailPuts != 1 || c.MailPutBytes != int64(len(sealed)) || c.MailFetches < 1 || c.MailFetched != 1 {
		t.Errorf("counts: %+v", c)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, sealed) || bytes.Contains(b, []byte(tok.String())) {
		t.Fatal("the bootstrap's log holds a mail's bytes or a token")
	}
}
