package groupvault

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// Each benchmark pairs the vault's work with a baseline measured in the
// same loop (testkit.Pair): one run of each per pair, the one going first
// alternating, so both see the same load. Read "x", the median of the
// per-pair ratios ours/baseline, with its spread "x-p10"–"x-p90", and the
// medians of each side ("unlock-p50-ns", "verify-p50-ns"); ns/op is one
// pair with its untimed set-up and means little on its own.
//
// Run: go test ./internal/groupvault -run '^$' -bench . -benchtime 30x -count 3

// BenchmarkUnlockToFirstRead times the K-th approval's Handle through the
// first served get (the approval's signature, the share opened with the
// vault's key and checked against the commitments, the key recovered,
// three audit records signed, the secret opened) against one raw
// ed25519.Verify of an approval-sized message. The store is in memory:
// this is the vault's computing, not its disk.
func BenchmarkUnlockToFirstRead(b *testing.B) {
	f := newFixture(b)
	g, alice, bob, _ := smiths(f)
	g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	relock := groupwire.Request{Op: groupwire.OpRelock, Group: "smiths"}
	get := groupwire.Request{Op: groupwire.OpGet, Group: "smiths", Name: "wifi"}

	ours := func() time.Duration {
		f.clock.Advance(group.MaxApprovalAge + time.Minute) // the last pair's nonces are forgotten
		f.must(bob.id, relock)
		if _, err := g.approve(alice, g.approval(alice, time.Hour, nil)); err != nil {
			b.Fatal(err)
		}
		approve := groupwire.Request{Op: groupwire.OpApprove, Group: "smiths", Approval: g.approval(bob, time.Hour, nil)}
		t0 := time.Now()
		out, err := f.s.Handle(f.ctx, bob.id, &approve)
		if err != nil || !out.(*groupwire.Info).Unlocked {
			b.Fatalf("the K-th approval: %v", err)
		}
		sec, err := f.s.Handle(f.ctx, alice.id, &get)
		d := time.Since(t0)
		if err != nil || string(sec.(*groupwire.Secret).Value) != canary {
			b.Fatalf("the first read: %v", err)
		}
		return d
	}
	size := len(g.approval(alice, time.Hour, nil))
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, size)
	rand.Read(msg)
	sig := ed25519.Sign(priv, msg)
	verify := func() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("the baseline's signature does not verify")
		}
	}
	p := testkit.Pair(b, 3, ours, testkit.Timed(1, verify))
	p.ReportX(b)
	testkit.ReportQuantiles(b, "unlock", p.Ours, time.Nanosecond, 0.5)
	testkit.ReportQuantiles(b, "verify", p.Base, time.Nanosecond, 0.5)
}

// BenchmarkResplit1000Secrets times a membership change's completion (the
// K-th change approval's Handle: the key recovered, a fresh dealing, 1,000
// secrets of 256 bytes opened and sealed again and written in one synced
// batch with the record) on a pebble store, against 1,000 bare reads of
// the same keys and one batch of 1,000 writes of the same sizes on the
// same store.
func BenchmarkResplit1000Secrets(b *testing.B) {
	const secrets, size = 1000, 256
	f := openFixture(b, pebbleStore(b, b.TempDir()))
	alice, bob := newAdmin(b, "alice"), newAdmin(b, "bob")
	g := f.create("smiths", 2, 8*time.Hour, "", alice, bob)
	g.unlock(time.Hour, alice, bob)
	value := make([]byte, size)
	rand.Read(value)
	names := make([]string, secrets)
	for i := range names {
		names[i] = fmt.Sprintf("s/%04d", i)
		g.put(alice, names[i], string(value), time.Time{})
	}
	f.must(alice.id, groupwire.Request{Op: groupwire.OpRelock, Group: "smiths"})

	ours := func() time.Duration {
		f.clock.Advance(group.MaxApprovalAge + time.Minute)
		enc, digest := g.change(2, 0, alice, bob) // the same admins: a fresh key, every secret re-sealed
		if _, err := g.offerChange(alice, g.approval(alice, group.MinWindow, digest[:]), enc); err != nil {
			b.Fatal(err)
		}
		req := groupwire.Request{Op: groupwire.OpChange, Group: "smiths", Approval: g.approval(bob, group.MinWindow, digest[:]), Change: enc}
		t0 := time.Now()
		_, err := f.s.Handle(f.ctx, bob.id, &req)
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if r := f.last(); r.Kind != "group.change" {
			b.Fatalf("the change's last record is %s", r.Kind)
		}
		return d
	}
	bare := func() time.Duration {
		t0 := time.Now()
		batch, err := f.store.Batch(f.ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i, n := range names {
			v, err := f.store.Get(f.ctx, secretKey("smiths", n))
			if err != nil {
				b.Fatal(err)
			}
			if err := batch.Put(f.ctx, ds.NewKey(fmt.Sprintf("/bench/%04d", i)), v); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(f.ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	p := testkit.Pair(b, 1, ours, bare)
	p.ReportX(b)
	testkit.ReportQuantiles(b, "resplit", p.Ours, time.Microsecond, 0.5)
	testkit.ReportQuantiles(b, "bare", p.Base, time.Microsecond, 0.5)
}
