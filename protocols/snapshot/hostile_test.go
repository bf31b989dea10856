package snapshot

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// hostile is a cache that answers every fetch with what the test gives
// it: a manifest and blocks of its choosing, in its order.
type hostile struct {
	h      host.Host
	answer func() (manifest []byte, blocks [][]byte)
}

func startHostile(t testing.TB) *hostile {
	x := &hostile{h: testkit.Host(t, nil)}
	x.h.SetStreamHandler(ID, func(st network.Stream) {
		c := &conn{st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}
		if _, err := c.readFrame(MaxRequest); err != nil {
			st.Reset()
			return
		}
		m, blocks := x.answer()
		root, _ := snap.ParseRoot(blocks[0])
		n := uint64(len(blocks))
		if root != nil {
			n = uint64(len(root.Chunks) + 1)
		}
		body, _ := wire.Marshal(FetchReply{Manifest: m, Blocks: n})
		c.reply(exchange.Reply{Status: wire.OK, Body: body})
		for _, b := range blocks {
			c.writeFrame(b, MaxBlockFrame)
		}
		st.Close()
	})
	return x
}

// blocksOf is a sealed snapshot's manifest and blocks in stream order.
func blocksOf(t testing.TB, o *owner, s *snap.Sealed) ([]byte, [][]byte) {
	ctx := context.Background()
	raw, _ := s.Signed.Marshal()
	rb, _ := o.blocks.Block(ctx, s.Manifest.Root)
	root, _ := snap.ParseRoot(rb)
	out := [][]byte{rb}
	for i := range root.Chunks {
		b, _ := o.blocks.Block(ctx, root.CID(i))
		out = append(out, b)
	}
	return raw, out
}

// A cache can withhold, but everything else it might do to a snapshot
// the reader refuses, with the format's own errors, over a real stream.
func TestTheReaderRefusesWhatAHostileCacheServes(t *testing.T) {
	alice, bob, mallory := newOwner(t, "alice"), newReader(t, "bob"), newOwner(t, "mallory")
	evil := startHostile(t)
	tok := alice.token(t, bob.k.ID(), "calendar/*", capability.Params{}).Bytes()
	content := calendar(2*snap.ChunkSize + 99)
	v1 := alice.seal(t, strings.NewReader(string(content)), "calendar/work", 1, bob.k.ID())
	v2 := alice.seal(t, strings.NewReader(string(content)), "calendar/work", 2, bob.k.ID())
	m1, b1 := blocksOf(t, alice, v1)
	m2, b2 := blocksOf(t, alice, v2)
	fetch := func() ([]byte, error) {
		got, _, err := bob.fetch(t, evil.h, alice.k.ID(), "calendar/work", tok)
		return got, err
	}
	evil.answer = func() ([]byte, [][]byte) { return m2, b2 }
	if got, err := fetch(); err != nil || string(got) != string(content) {
		t.Fatalf("an honest answer: %v", err)
	}

	cases := []struct {
		name   string
		answer func() ([]byte, [][]byte)
		want   error
	}{
		{"rolled back to version 1", func() ([]byte, [][]byte) { return m1, b1 }, snap.ErrRolledBack},
		{"a chunk of version 1 in version 2", func() ([]byte, [][]byte) {
			return m2, [][]byte{b2[0], b2[1], b1[2], b2[3]}
		}, snap.ErrSwapped},
		{"the root of version 1 under version 2", func() ([]byte, [][]byte) { return m2, b1 }, snap.ErrSwapped},
		{"truncated after two blocks", func() ([]byte, [][]byte) { return m2, b2[:2] }, snap.ErrTruncated},
		{"a manifest signed by mallory", func() ([]byte, [][]byte) {
			var s snap.Signed
			wire.UnmarshalCanonical(m2, &s)
			sig := mallory.k.Sign(keys.ManifestMessage(s.Payload))
			s.Sig = sig[:]
			raw, _ := s.Marshal()
			return raw, b2
		}, snap.ErrWrongSigner},
		{"mallory's own manifest", func() ([]byte, [][]byte) {
			ms := mallory.seal(t, strings.NewReader("x"), "calendar/work", 9, bob.k.ID())
			return blocksOf(t, mallory, ms)
		}, snap.ErrWrongSigner},
		{"a snapshot not sealed to bob", func() ([]byte, [][]byte) {
			s := alice.seal(t, strings.NewReader("for carol"), "calendar/work", 6, testkit.Key(t, "carol").ID())
			return blocksOf(t, alice, s)
		}, snap.ErrNotRecipient},
		{"an expired manifest", func() ([]byte, [][]byte) {
			old := time.Now().Add(-72 * time.Hour)
			s, err := snap.Seal(context.Background(), alice.k, strings.NewReader("old"), snap.Options{Resource: "calendar/work", Version: 5,
				Readers: []peer.ID{bob.k.ID()}, Created: old, Expiry: old.Add(time.Hour)}, alice.blocks)
			if err != nil {
				t.Fatal(err)
			}
			return blocksOf(t, alice, s)
		}, snap.ErrExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evil.answer = tc.answer
			got, err := fetch()
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if len(got) > snap.ChunkSize {
				t.Fatalf("%d bytes reached the reader", len(got))
			}
		})
	}
	// Bob is still at version 2: the refusals recorded nothing.
	if h, _ := bob.state.Highest(context.Background(), alice.k.ID(), "calendar/work"); h != 2 {
		t.Fatalf("bob's state: version %d", h)
	}
}

// A reader left out of a snapshot is refused by its own check, before
// any block is read, even from a cache that would serve it.
func TestAGranteeLeftOutOfTheNextSnapshotCannotReadIt(t *testing.T) {
	alice, bob, carol := newOwner(t, "alice"), newReader(t, "bob"), newReader(t, "carol")
	c := startCache(t, allowList{alice.k.ID(): true}, nil)
	ctok := alice.token(t, carol.k.ID(), "calendar/*", capability.Params{}).Bytes()
	v1 := alice.seal(t, strings.NewReader("before"), "calendar/work", 1, bob.k.ID(), carol.k.ID())
	if err := alice.push(t, c, v1); err != nil {
		t.Fatal(err)
	}
	if got, _, err := carol.fetch(t, c.h, alice.k.ID(), "calendar/work", ctok); err != nil || string(got) != "before" {
		t.Fatalf("carol's first read: %v", err)
	}
	// Carol's share is revoked (elsewhere); the next snapshot leaves her
	// out. Her token still verifies at this cache in this test, which
	// has not heard of the revocation: the recipients keep her out.
	v2 := alice.seal(t, strings.NewReader("after"), "calendar/work", 2, bob.k.ID())
	if err := alice.push(t, c, v2); err != nil {
		t.Fatal(err)
	}
	got, _, err := carol.fetch(t, c.h, alice.k.ID(), "calendar/work", ctok)
	if !errors.Is(err, wire.Forbidden) || !strings.Contains(err.Error(), "not sealed to you") || len(got) != 0 {
		t.Fatalf("carol, left out of version 2: %q, %v", got, err)
	}
	// A cache that sends it anyway meets the reader's own check, before
	// any block: the hostile cache test "a snapshot not sealed to bob".
}
