package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ocmt/mesh/capability"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

const canary = "CANARY-calendar-7f3a9c-do-not-leak"

func calendar(n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(canary + " standup at 09:00; ")
	}
	return b.Bytes()[:n]
}

// Alice pushes her calendar and goes away; bob reads it from the cache
// with his token; the cache's store holds no plaintext.
func TestAReaderReadsFromTheCacheWithTheOwnerGone(t *testing.T) {
	alice, bob := newOwner(t, "alice"), newReader(t, "bob")
	c := startCache(t, allowList{alice.k.ID(): true}, nil)
	// Every byte the cache's protocol reads and writes, after Noise: what
	// the relay sees of the traffic.
	var tapped tap
	c.h.SetStreamHandler(ID, func(st network.Stream) { c.srv.handle(&tappedStream{st, &tapped}) })
	content := calendar(3*snap.ChunkSize + 4321)
	s := alice.seal(t, bytes.NewReader(content), "calendar/work", 1, bob.k.ID())
	if err := alice.push(t, c, s); err != nil {
		t.Fatal(err)
	}
	tok := alice.token(t, bob.k.ID(), "calendar/*", capability.Params{})
	alice.h.Close() // the owner is gone

	got, f, err := bob.fetch(t, c.h, alice.k.ID(), "calendar/work", tok.Bytes())
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("bob's fetch: %d bytes, %v", len(got), err)
	}
	if f.Manifest.Version != 1 || f.Bytes != int64(len(content)) {
		t.Fatalf("fetched %+v", f)
	}
	if h, _ := bob.state.Highest(context.Background(), alice.k.ID(), "calendar/work"); h != 1 {
		t.Fatalf("bob's state holds version %d", h)
	}

	t.Run("the cache's traffic holds no plaintext", func(t *testing.T) {
		in, out := tapped.bytes()
		if len(in) < len(content) || len(out) < len(content) {
			t.Fatalf("tapped %d bytes in, %d out: the tap missed the snapshot", len(in), len(out))
		}
		for _, b := range [][]byte{in, out} {
			if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte("standup at 09:00")) {
				t.Fatal("the cache saw plaintext")
			}
		}
	})
	t.Run("a canary scan of the cache's files finds no plaintext", func(t *testing.T) {
		c.stop() // flush and close pebble
		var scanned int64
		filepath.Walk(c.dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			scanned += int64(len(b))
			if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte("standup at 09:00")) {
				t.Errorf("%s holds plaintext", path)
			}
			return nil
		})
		if scanned < int64(len(content)) {
			t.Fatalf("scanned %d bytes, less than the %d sealed: the store was not where expected", scanned, len(content))
		}
	})
}

func TestTheCacheChecksTheTokenBeforeSendingAByte(t *testing.T) {
	alice, bob, carol := newOwner(t, "alice"), newReader(t, "bob"), newReader(t, "carol")
	mallory := newOwner(t, "mallory")
	c := startCache(t, allowList{alice.k.ID(): true}, nil)
	s := alice.seal(t, strings.NewReader("mon: standup"), "calendar/work", 1, bob.k.ID(), carol.k.ID())
	if err := alice.push(t, c, s); err != nil {
		t.Fatal(err)
	}
	good := alice.token(t, bob.k.ID(), "calendar/*", capability.Params{})
	cases := []struct {
		name   string
		who    *reader
		tok    []byte
		res    string
		status wire.Status
	}{
		{"bob's token presented by carol", carol, good.Bytes(), "calendar/work", wire.Forbidden},
		{"a token for another resource", bob, alice.token(t, bob.k.ID(), "notes/*", capability.Params{}).Bytes(), "calendar/work", wire.Forbidden},
		{"a token without read", bob, alice.token(t, bob.k.ID(), "calendar/*", capability.Params{Actions: capability.List}).Bytes(), "calendar/work", wire.Forbidden},
		{"an expired token", bob, alice.token(t, bob.k.ID(), "calendar/*", capability.Params{NotBefore: time.Now().Add(-3 * time.Hour), Expiry: time.Now().Add(-2 * time.Hour)}).Bytes(), "calendar/work", wire.Expired},
		{"a token rooted at someone else", bob, mallory.token(t, bob.k.ID(), "calendar/*", capability.Params{}).Bytes(), "calendar/work", wire.Forbidden},
		{"a single-use token", bob, alice.token(t, bob.k.ID(), "calendar/*", capability.Params{MaxUses: 1}).Bytes(), "calendar/work", wire.Forbidden},
		{"not a token", bob, []byte("ocmt1.nope"), "calendar/work", wire.BadRequest},
		{"nothing cached for the resource", bob, good.Bytes(), "calendar/home", wire.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.who.fetch(t, c.h, alice.k.ID(), tc.res, tc.tok)
			if !errors.Is(err, tc.status) || len(got) != 0 {
				t.Fatalf("%d bytes, %v; want %s", len(got), err, tc.status.Name())
			}
		})
	}
	t.Run("a revoked token is refused at once", func(t *testing.T) {
		if _, _, err := bob.fetch(t, c.h, alice.k.ID(), "calendar/work", good.Bytes()); err != nil {
			t.Fatal(err)
		}
		c.revs.Revoke(good.ID())
		got, _, err := bob.fetch(t, c.h, alice.k.ID(), "calendar/work", good.Bytes())
		if !errors.Is(err, wire.Revoked) || len(got) != 0 {
			t.Fatalf("after the revocation: %d bytes, %v", len(got), err)
		}
		// A delegated token whose parent is revoked, too.
		child := alice.token(t, bob.k.ID(), "calendar/*", capability.Params{Actions: capability.Read | capability.Share})
		sub, err := capability.Issue(bob.k, capability.Params{Audience: carol.k.ID(), Resource: "calendar/work", Actions: capability.Read,
			NotBefore: time.Now().Add(-time.Minute), Expiry: time.Now().Add(30 * time.Minute), Parent: child})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := carol.fetch(t, c.h, alice.k.ID(), "calendar/work", sub.Bytes()); err != nil {
			t.Fatalf("carol's delegated token: %v", err)
		}
		c.revs.Revoke(child.ID())
		if _, _, err := carol.fetch(t, c.h, alice.k.ID(), "calendar/work", sub.Bytes()); !errors.Is(err, wire.Revoked) {
			t.Fatalf("carol's token under a revoked parent: %v", err)
		}
	})
}

func TestTheCacheTakesPushesOnlyFromTheOwnerItServes(t *testing.T) {
	alice, bob, mallory := newOwner(t, "alice"), newReader(t, "bob"), newOwner(t, "mallory")
	c := startCache(t, allowList{alice.k.ID(): true, bob.k.ID(): true}, nil)
	ctx := testkit.Context(t, time.Minute)
	s1 := alice.seal(t, strings.NewReader("v1"), "calendar/work", 1, bob.k.ID())
	s2 := alice.seal(t, strings.NewReader("v2"), "calendar/work", 2, bob.k.ID())

	// A stranger's push is refused before the cache reads a block, and the
	// refusal reaches the pusher while it is still sending: a push larger
	// than the stream's window (16 MiB) gets its answer well inside
	// FrameTimeout, which it would wait out if the pusher read the reply
	// only after sending everything.
	ms := mallory.seal(t, testkit.Stream(5, 24<<20), "junk/a", 1)
	testkit.Connect(t, mallory.h, c.h)
	early, cancel := context.WithTimeout(ctx, FrameTimeout*2/3)
	defer cancel()
	if err := Push(early, mallory.h, c.h.ID(), ms.Signed, mallory.blocks); !errors.Is(err, wire.Forbidden) {
		t.Fatalf("a stranger's push: %v", err)
	}
	if c.cache.Stats().Blocks != 0 {
		t.Fatalf("the cache stored %d blocks of a refused push", c.cache.Stats().Blocks)
	}
	// Bob may push (he holds a reservation) but not alice's manifest.
	testkit.Connect(t, bob.h, c.h)
	if err := Push(ctx, bob.h, c.h.ID(), s2.Signed, alice.blocks); !errors.Is(err, wire.Forbidden) {
		t.Fatalf("bob pushing alice's manifest: %v", err)
	}
	if err := alice.push(t, c, s2); err != nil {
		t.Fatal(err)
	}
	if err := alice.push(t, c, s2); err != nil {
		t.Fatalf("the same version again: %v", err)
	}
	if err := alice.push(t, c, s1); !errors.Is(err, wire.Conflict) {
		t.Fatalf("an older version: %v", err)
	}
	// Blocks that do not match the manifest's root.
	s3 := alice.seal(t, strings.NewReader("v3"), "calendar/work", 3, bob.k.ID())
	if err := Push(ctx, alice.h, c.h.ID(), s3.Signed, swapped{alice.blocks, s1}); !errors.Is(err, wire.BadRequest) {
		t.Fatalf("a push whose root is another's: %v", err)
	}
	// An expired manifest.
	old := time.Now().Add(-48 * time.Hour)
	se, err := snap.Seal(ctx, alice.k, strings.NewReader("old"), snap.Options{Resource: "calendar/old", Version: 1, Created: old, Expiry: old.Add(time.Hour)}, alice.blocks)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.push(t, c, se); !errors.Is(err, wire.Expired) {
		t.Fatalf("an expired manifest: %v", err)
	}
	if got, _, err := bob.fetch(t, c.h, alice.k.ID(), "calendar/work", alice.token(t, bob.k.ID(), "calendar/*", capability.Params{}).Bytes()); err != nil || string(got) != "v2" {
		t.Fatalf("after the refusals the cache serves %q, %v", got, err)
	}
}

// swapped serves another snapshot's root in place of the asked one.
type swapped struct {
	src   localBlocks
	other *snap.Sealed
}

func (s swapped) Block(ctx context.Context, c cidT) ([]byte, error) {
	return s.src.Block(ctx, s.other.Manifest.Root)
}

// tap records a stream's bytes each way.
type tap struct {
	mu      sync.Mutex
	in, out []byte
}

func (t *tap) bytes() ([]byte, []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.in...), append([]byte(nil), t.out...)
}

type tappedStream struct {
	network.Stream
	t *tap
}

func (s *tappedStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.t.mu.Lock()
	s.t.in = append(s.t.in, p[:n]...)
	s.t.mu.Unlock()
	return n, err
}

func (s *tappedStream) Write(p []byte) (int, error) {
	s.t.mu.Lock()
	s.t.out = append(s.t.out, p...)
	s.t.mu.Unlock()
	return s.Stream.Write(p)
}

var _ io.Reader = (*bytes.Reader)(nil)
