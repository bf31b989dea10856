package directory_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

// canarySecret is a decoy secret that must never show in a string.
var canarySecret = bytes.Repeat([]byte{0xca}, directory.DecoySecretSize)

func decoyMaker(t *testing.T, secret []byte) *directory.DecoyMaker {
	t.Helper()
	m, err := directory.NewDecoyMaker(secret)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecoyRecords(t *testing.T) {
	m := decoyMaker(t, canarySecret)
	now := testkit.Epoch
	relay := ma.StringCast("/ip4/192.0.2.1/tcp/4001/p2p/" + testkit.Key(t, "relay").ID().String() + "/p2p-circuit")

	t.Run("a decoy verifies, names its handle, and is what a home node publishes", func(t *testing.T) {
		d, err := m.Make("ghost", []ma.Multiaddr{relay}, now)
		if err != nil {
			t.Fatal(err)
		}
		sr, rec, err := directory.ParseSignedRecord(d.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Handle != "ghost" || rec.Name != "ghost" || rec.Peer != d.Peer || len(rec.Relays) != 1 || !rec.Relays[0].Equal(relay) {
			t.Fatalf("%+v", rec)
		}
		if rec.Seq != directory.SeqAt(d.Issued) || !rec.Issued.Equal(d.Issued.Truncate(time.Second)) || d.Issued.After(now) {
			t.Fatalf("seq %d issued %v (decoy %v, now %v)", rec.Seq, rec.Issued, d.Issued, now)
		}
		if !bytes.Equal(sr.Payload, d.Record.Payload) {
			t.Fatal("envelope and record differ")
		}
	})
	t.Run("the same inputs give the same bytes; another secret or handle another key", func(t *testing.T) {
		a, _ := m.Make("ghost", []ma.Multiaddr{relay}, now)
		b, _ := m.Make("ghost", []ma.Multiaddr{relay}, now)
		if !bytes.Equal(a.Envelope, b.Envelope) || a.Slot != b.Slot {
			t.Fatal("not deterministic")
		}
		c, _ := decoyMaker(t, bytes.Repeat([]byte{1}, 32)).Make("ghost", nil, now)
		d, _ := m.Make("ghosts", nil, now)
		if c.Peer == a.Peer || d.Peer == a.Peer {
			t.Fatal("keys collide")
		}
	})
	t.Run("a decoy changes only at its own issued instant, as a republish, about weekly", func(t *testing.T) {
		changes, steps := 0, 0
		for h := range 50 {
			handle := directory.Handle(fmt.Sprintf("h%02d", h))
			prev := m.Issued(handle, now)
			for step := time.Duration(0); step < 60*directory.DecoyDay; step += 3 * time.Hour {
				at := now.Add(step)
				got := m.Issued(handle, at)
				if got.After(at) || got.Before(prev) || !got.Equal(prev) && !got.After(at.Add(-3*time.Hour)) {
					t.Fatalf("%s at %v: issued %v, before %v", handle, at, got, prev)
				}
				if !got.Equal(prev) {
					changes++
				}
				steps++
				prev = got
			}
		}
		// DecoyPublishOdds/256 of days, about 0.14; 50×60 days make it tight.
		if perDay := float64(changes) / float64(steps/8); perDay < 0.10 || perDay > 0.19 {
			t.Fatalf("%.3f republishes a day", perDay)
		}
	})
	t.Run("the secret never shows", func(t *testing.T) {
		for _, s := range []string{m.String(), fmt.Sprintf("%v %+v %#v %s", m, m, m, m)} {
			if strings.Contains(strings.ToLower(s), "caca") || strings.Contains(s, string(canarySecret)) {
				t.Fatalf("secret shown: %q", s)
			}
		}
		if _, err := directory.NewDecoyMaker(canarySecret[:5]); err == nil || strings.Contains(err.Error(), string(canarySecret[:5])) {
			t.Fatalf("short secret: %v", err)
		}
	})
	t.Run("an invalid handle has no decoy", func(t *testing.T) {
		if _, err := m.Make("NO", nil, now); err == nil {
			t.Fatal("decoy for an invalid handle")
		}
	})
	t.Run("relay lists are held to the record rules", func(t *testing.T) {
		if err := directory.CheckRelays([]ma.Multiaddr{relay}); err != nil {
			t.Fatal(err)
		}
		bad := ma.StringCast("/ip4/192.0.2.1/tcp/4001/ws")
		if err := directory.CheckRelays([]ma.Multiaddr{bad}); err == nil {
			t.Fatal("a websocket address passed")
		}
		many := make([]ma.Multiaddr, directory.MaxRelays+1)
		for i := range many {
			many[i] = relay
		}
		if err := directory.CheckRelays(many); err == nil {
			t.Fatal("too many relays passed")
		}
	})
}

// FuzzUnverified: the decoder a store uses on records it verified once
// never panics, and accepts exactly what Verify would, but for the
// signature.
func FuzzUnverified(f *testing.F) {
	k := keys.GeneratePeerKey()
	sr, _ := directory.SignRecord(&k, directory.Record{Handle: "alice", Name: "alice", Seq: 7, Issued: time.Unix(1e9, 0)})
	f.Add(sr.Payload, sr.Sig)
	f.Add([]byte{0xa0}, []byte{})
	f.Fuzz(func(t *testing.T, payload, sig []byte) {
		s := &directory.SignedRecord{Payload: payload, Sig: sig}
		rec, err := s.Unverified()
		vrec, verr := s.Verify()
		if verr == nil && (err != nil || rec.Handle != vrec.Handle || rec.Peer != vrec.Peer || rec.Seq != vrec.Seq) {
			t.Fatalf("Verify accepts what Unverified refuses: %v", err)
		}
		if err == nil {
			if again, err := directory.SignRecord(&k, directory.Record{Handle: rec.Handle, Relays: rec.Relays, Name: rec.Name, Seq: rec.Seq, Issued: rec.Issued}); err != nil {
				t.Fatalf("a record Unverified accepts cannot be re-signed: %v (%+v)", err, again)
			}
		}
	})
}

// TestDecoyVector pins the derivation doc.go ("Decoys") specifies: an
// independent implementation of that text (Python: hmac, hashlib and an
// Ed25519 library) gives these values for this secret, handle and time.
func TestDecoyVector(t *testing.T) {
	secret := make([]byte, directory.DecoySecretSize)
	for i := range secret {
		secret[i] = byte(i)
	}
	d, err := decoyMaker(t, secret).Make("ghost", nil, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(d.Envelope)
	if d.Peer.String() != "12D3KooWLkEivKr5DGujR5wf8QrGgadyDLPiRzLK3Z81nFVEfv9T" || d.Issued.UnixNano() != 1772192576257245626 ||
		d.Slot != 2194227695591113099 || hex.EncodeToString(sum[:]) != "435aea8c49d73e07ac7506a180321a6b484aab1e8e9f0d6c443943fd8b9e7a9a" {
		t.Fatalf("peer %s issued %d slot %d envelope sha256 %x", d.Peer, d.Issued.UnixNano(), d.Slot, sum)
	}
}
