package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/socialrecovery"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/recoverywire"
	"github.com/ocmt/mesh/vault"
)

const socialCanary = "SOCIALCANARY-alices-bank-pin-4e1d"

func recoveryDo(t *testing.T, n *Node, req localapi.RecoveryRequest) localapi.RecoveryReply {
	t.Helper()
	out, err := n.Recovery(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	return out
}

// requestAt is request id as node n lists it.
func requestAt(t *testing.T, n *Node, id [32]byte) (localapi.RecoveryRequestInfo, bool) {
	t.Helper()
	for _, r := range recoveryDo(t, n, localapi.RecoveryRequest{Op: localapi.RecoveryRequests}).Requests {
		if r.ID == hex.EncodeToString(id[:]) {
			return r, true
		}
	}
	return localapi.RecoveryRequestInfo{}, false
}

func hasAudit(t *testing.T, n *Node, op, contains string) bool {
	t.Helper()
	rep, err := n.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Records {
		if r.Op == op && strings.Contains(r.Detail, contains) {
			return true
		}
	}
	return false
}

// TestSocialRecoveryThroughRealNodes is social recovery end to end on
// real hosts: alice deals a recovery key to five friends (3 needed, a
// one-minute wait her operator allows), takes a backup and loses her
// password and her device; two friends are offline. A first new device's
// request is vetoed by alice's old node during the wait: no friend
// releases. A second device's request is replayed (not counted twice),
// two friends help (too few: no key), then a third: after the wait on the
// friends' clocks the backup is restored with a new password and holds
// alice's secret, and every friend hears the outcome. The bootstrap's
// store never holds the recovery key or the secret.
func TestSocialRecoveryThroughRealNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("a mesh of eight peers; -short skips it")
	}
	ctx := context.Background()
	m := startInfra(t)
	clock := testkit.NewClock(time.Now())
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) { c.RecoveryMinWait = time.Minute })
	names := []string{"bob", "carol", "dave", "erin", "frank"}
	friends := map[string]*Node{}
	for _, nm := range names {
		friends[nm] = m.startNodeWith(t, nm, "pw-"+nm, func(c *Config) { c.Now = clock.Now })
	}
	if err := alice.SecretSet(ctx, vault.Secret{Name: "bank", Type: vault.TypePassword, Value: []byte(socialCanary)}); err != nil {
		t.Fatal(err)
	}
	for _, nm := range names {
		waitFor(t, nm+" is in the directory", func() bool { _, err := alice.net.LookupNow(ctx, nm); return err == nil })
	}
	out := recoveryDo(t, alice, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Social, Friends: names, Threshold: 3, Wait: time.Minute})
	if !strings.Contains(out.Text, "shares mailed to 5") {
		t.Fatalf("enable: %s", out.Text)
	}
	for _, nm := range names {
		waitFor(t, nm+" keeps alice's share", func() bool {
			return len(recoveryDo(t, friends[nm], localapi.RecoveryRequest{Op: localapi.RecoveryHeld}).Held) == 1
		})
	}
	backupFile := filepath.Join(t.TempDir(), "alice.mbk")
	f, err := os.Create(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	friends["erin"].Close()
	friends["frank"].Close()

	boots, _ := p2phost.ParseAddrInfos("bootstrap", m.bootAddrs)
	relays, _ := p2phost.ParseAddrInfos("relay", []string{m.relayAddr})
	var key []byte
	device := func(h Home, waitFor time.Duration) (*socialrecovery.DeviceResult, error) {
		return socialrecovery.RecoverDevice(ctx, socialrecovery.DeviceConfig{Home: h, Handle: "alice", Backup: backupFile,
			Bootstrap: boots, Relays: relays, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, WaitFor: waitFor, Poll: 600 * time.Millisecond,
			NewPassword: func() ([]byte, error) { return []byte("new-pw-a"), nil }, KDF: vault.TestKDF(), Timings: testTimings.Mesh,
			Out: testWriter{t}, Logger: m.logs.logger("device"), KeyHook: func(k *[32]byte) { key = bytes.Clone(k[:]) }})
	}
	help := func(nm string, id [32]byte) {
		t.Helper()
		recoveryDo(t, friends[nm], localapi.RecoveryRequest{Op: localapi.RecoveryHelp, ID: hex.EncodeToString(id[:6])})
	}
	helpers := []string{"bob", "carol", "dave"}

	t.Run("a veto during the wait stops every release", func(t *testing.T) {
		h := shortDir(t, "devA")
		res, err := device(h, 0)
		if !errors.Is(err, socialrecovery.ErrNotYet) {
			t.Fatalf("the first round: %v", err)
		}
		for _, nm := range helpers {
			waitFor(t, nm+" lists the request", func() bool { _, ok := requestAt(t, friends[nm], res.RequestID); return ok })
			if r, _ := requestAt(t, friends[nm], res.RequestID); r.Code != res.Code || r.Owner != "alice" || r.State != "waiting for you" {
				t.Fatalf("%s lists %+v; the device's code is %s", nm, r, res.Code)
			}
			help(nm, res.RequestID)
		}
		waitFor(t, "alice's old node hears of the request", func() bool { r, ok := requestAt(t, alice, res.RequestID); return ok && r.Mine })
		recoveryDo(t, alice, localapi.RecoveryRequest{Op: localapi.RecoveryVeto, ID: hex.EncodeToString(res.RequestID[:])})
		for _, nm := range helpers {
			waitFor(t, nm+" hears of the veto", func() bool {
				r, _ := requestAt(t, friends[nm], res.RequestID)
				return r.State == "vetoed by the owner"
			})
			if !hasAudit(t, friends[nm], socialrecovery.OpVeto, "vetoed") {
				t.Fatalf("%s did not audit the veto", nm)
			}
		}
		clock.Advance(2 * time.Minute)
		res, err = device(h, 0)
		if !errors.Is(err, socialrecovery.ErrNotYet) || res.Have != 0 {
			t.Fatalf("after the veto and the wait: have %d, %v", res.Have, err)
		}
		if !strings.Contains(err.Error(), "vetoed") {
			t.Fatalf("the device is not told of the veto: %v", err)
		}
		if _, err := os.Stat(h.IdentityPath()); err == nil {
			t.Fatal("a vetoed request restored a home")
		}
	})

	t.Run("three of five friends recover alice's vault after the wait", func(t *testing.T) {
		h := shortDir(t, "devB")
		started := time.Now()
		res, err := device(h, 0)
		firstRound := time.Since(started)
		if !errors.Is(err, socialrecovery.ErrNotYet) {
			t.Fatalf("the first round: %v", err)
		}
		for _, nm := range helpers {
			waitFor(t, nm+" lists the request", func() bool { _, ok := requestAt(t, friends[nm], res.RequestID); return ok })
		}
		// A replayed request is the same request: not counted twice.
		st, err := os.ReadFile(filepath.Join(string(h), socialrecovery.DeviceStateFile))
		if err != nil {
			t.Fatal(err)
		}
		replayTo(t, m, friends["bob"], st)
		n := 0
		for _, r := range recoveryDo(t, friends["bob"], localapi.RecoveryRequest{Op: localapi.RecoveryRequests}).Requests {
			if r.ID == hex.EncodeToString(res.RequestID[:]) {
				n++
			}
		}
		if n != 1 || !hasAudit(t, friends["bob"], socialrecovery.OpReplayed, "again") {
			t.Fatalf("bob lists the replayed request %d times (or did not audit it)", n)
		}
		// Too few: two friends help; past the wait, no key (the device
		// asks for a second, so a friend it missed once is asked again).
		help("bob", res.RequestID)
		help("carol", res.RequestID)
		clock.Advance(2 * time.Minute)
		res, err = device(h, time.Second)
		if !errors.Is(err, socialrecovery.ErrNotYet) || res.Have != 2 || !strings.Contains(err.Error(), "2 of the 3") {
			t.Fatalf("with two releases: have %d, %v", res.Have, err)
		}
		if _, err := os.Stat(h.IdentityPath()); err == nil {
			t.Fatal("two shares restored a home")
		}
		help("dave", res.RequestID)
		res, err = device(h, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		lastRound := res.LastRound
		t.Logf("time to recover, excluding the wait: %s (the first round, which asks the friends: %s; the last, which fetches and restores: %s)",
			firstRound+lastRound, firstRound, lastRound)
		o, err := Open(ctx, h, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if err := o.Unlock(ctx, []byte("new-pw-a")); err != nil {
			t.Fatal(err)
		}
		s, err := o.SecretGet(ctx, "bank")
		if err != nil || string(s.Value) != socialCanary {
			t.Fatalf("the restored vault: %v", err)
		}
		if o.signer.ID() != alice.ID() {
			t.Fatal("the restored home is not alice's identity")
		}
		for _, nm := range helpers {
			waitFor(t, nm+" hears the outcome", func() bool {
				r, _ := requestAt(t, friends[nm], res.RequestID)
				return strings.HasPrefix(r.State, "recovered")
			})
		}
		for _, nm := range []string{"bob", "carol", "dave"} {
			if !hasAudit(t, friends[nm], socialrecovery.OpRelease, "released to device") {
				t.Fatalf("%s did not audit its release", nm)
			}
		}
	})

	t.Run("the bootstrap's store holds neither the key nor the secret", func(t *testing.T) {
		if len(key) != 32 {
			t.Fatal("the device never opened the key")
		}
		filepath.WalkDir(string(m.bootHome), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			if bytes.Contains(b, key) || bytes.Contains(b, []byte(socialCanary)) {
				t.Errorf("%s holds the recovery key or alice's secret", p)
			}
			return nil
		})
	})
}

// replayTo delivers the device's stored request to friend again, from a
// stranger's host, as a replay would.
func replayTo(t *testing.T, m *testMesh, friend *Node, state []byte) {
	t.Helper()
	ctx := context.Background()
	var st struct {
		Request []byte `json:"request"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatal(err)
	}
	k := keys.GeneratePeerKey()
	h, err := p2phost.New(k.Libp2pPrivKey(), []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	boots, _ := p2phost.ParseAddrInfos("bootstrap", m.bootAddrs)
	net, err := meshnet.Start(ctx, meshnet.Config{Host: h, Bootstrap: boots, Timings: testTimings.Mesh})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	var got *recoverywire.Status
	waitFor(t, "the replay reaches the friend", func() bool {
		got, err = socialrecovery.Live(ctx, h, net, friend.ID(), "", st.Request)
		return err == nil
	})
	if got.State != recoverywire.StateWaiting {
		t.Fatalf("a replayed request answers %s", got.State)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
