package dht

import (
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

func TestDirectoryRules(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	ctx := testkit.Context(t, 10*time.Second)
	d, err := NewDirectory(ctx, memDS(), DirectoryConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	alice, mallory := testkit.Key(t, "alice"), testkit.Key(t, "mallory")
	now := clock.Now()

	if err := d.Publish(ctx, signed(t, alice, "alice", 1, now)); err != nil {
		t.Fatal(err)
	}
	t.Run("the first claim resolves by handle and by peer", func(t *testing.T) {
		rec, err := d.Resolve(ctx, "alice")
		if err != nil || rec.Peer != alice.ID() {
			t.Fatalf("%v %v", rec, err)
		}
		sr, err := d.LookupPeer(ctx, alice.ID())
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := sr.Verify(); r.Handle != "alice" {
			t.Fatal("wrong record")
		}
		if !d.Registered(alice.ID()) || d.Registered(mallory.ID()) {
			t.Fatal("Registered")
		}
	})
	t.Run("squatting a handle with another key is refused", func(t *testing.T) {
		err := d.Publish(ctx, signed(t, mallory, "alice", 99, now))
		if !errors.Is(err, directory.ErrHandleTaken) || !errors.Is(err, wire.Conflict) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a replayed or equal sequence is refused", func(t *testing.T) {
		if err := d.Publish(ctx, signed(t, alice, "alice", 1, now)); !errors.Is(err, directory.ErrStale) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a higher sequence from the owner replaces the record", func(t *testing.T) {
		if err := d.Publish(ctx, signed(t, alice, "alice", 2, now)); err != nil {
			t.Fatal(err)
		}
		if err := d.Publish(ctx, signed(t, alice, "alice", 1, now)); !errors.Is(err, directory.ErrStale) {
			t.Fatalf("older record accepted after a newer one: %v", err)
		}
	})
	t.Run("a record issued in the future is refused", func(t *testing.T) {
		err := d.Publish(ctx, signed(t, mallory, "mallory", 1, now.Add(directory.MaxClockSkew+time.Minute)))
		if !errors.Is(err, directory.ErrFuture) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a forged signature is refused", func(t *testing.T) {
		sr := signed(t, mallory, "mal", 1, now)
		sr.Sig[0] ^= 1
		if err := d.Publish(ctx, sr); !errors.Is(err, directory.ErrBadSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("renaming releases the old handle", func(t *testing.T) {
		if err := d.Publish(ctx, signed(t, alice, "alice2", 3, now)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Resolve(ctx, "alice"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("old handle still served: %v", err)
		}
		// To strangers it is the handle's decoy now, as any unheld handle.
		if sr, err := d.Lookup(ctx, "alice"); err != nil {
			t.Fatal(err)
		} else if rec, err := sr.Verify(); err != nil || rec.Peer == alice.ID() {
			t.Fatalf("old handle still served: %+v %v", rec, err)
		}
		if err := d.Publish(ctx, signed(t, mallory, "alice", 1, now)); err != nil {
			t.Fatalf("released handle not claimable: %v", err)
		}
		if d.Len() != 2 {
			t.Fatalf("count %d", d.Len())
		}
	})
	t.Run("an unknown handle is NotFound locally, and its decoy to strangers", func(t *testing.T) {
		if _, err := d.Resolve(ctx, "nobody"); !errors.Is(err, wire.NotFound) {
			t.Fatalf("got %v", err)
		}
		sr, err := d.Lookup(ctx, "nobody")
		if err != nil {
			t.Fatal(err)
		}
		if rec, err := sr.Verify(); err != nil || rec.Handle != "nobody" || d.Owns(rec.Peer) {
			t.Fatalf("got %+v %v", rec, err)
		}
	})
}

func TestDirectoryCapAndReopen(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	ds := memDS()
	d, _ := NewDirectory(ctx, ds, DirectoryConfig{MaxRecords: 2})
	now := time.Now()
	a, b, c := testkit.Key(t, "a"), testkit.Key(t, "b"), testkit.Key(t, "c")
	d.Publish(ctx, signed(t, a, "aa", 1, now))
	d.Publish(ctx, signed(t, b, "bb", 1, now))
	if err := d.Publish(ctx, signed(t, c, "cc", 1, now)); !errors.Is(err, directory.ErrStoreFull) {
		t.Fatalf("cap not enforced: %v", err)
	}
	if err := d.Publish(ctx, signed(t, a, "aa", 2, now)); err != nil {
		t.Fatalf("an update must pass at the cap: %v", err)
	}
	d2, _ := NewDirectory(ctx, ds, DirectoryConfig{MaxRecords: 2})
	if d2.Len() != 2 {
		t.Fatalf("reopened count %d", d2.Len())
	}
}

func TestDirectoryRefusesCorruptedStore(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	ds := memDS()
	d, _ := NewDirectory(ctx, ds, DirectoryConfig{})
	a, m := testkit.Key(t, "alice"), testkit.Key(t, "mallory")
	d.Publish(ctx, signed(t, a, "aa", 1, time.Now()))
	// An attacker with disk access swaps in mallory's record under alice's
	// handle key; it is not served as alice's.
	env, _ := signed(t, m, "mm", 1, time.Now()).Marshal()
	ds.Put(ctx, handleKey("aa"), env)
	if _, err := d.Lookup(ctx, "aa"); err == nil {
		t.Fatal("served a record under the wrong handle")
	}
}

func memDS() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

func signed(t *testing.T, k *keys.PeerKey, handle string, seq uint64, at time.Time) *directory.SignedRecord {
	t.Helper()
	sr, err := directory.SignRecord(k, directory.Record{Handle: directory.Handle(handle), Seq: seq, Issued: at, Name: "n " + handle})
	if err != nil {
		t.Fatal(err)
	}
	return sr
}
