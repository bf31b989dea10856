package share

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wire"
)

type memStore struct {
	mu     sync.Mutex
	data   map[capability.ResourcePath][]byte
	locked bool
	log    []string
}

func (m *memStore) Read(_ context.Context, by peer.ID, _ capability.ID, p capability.ResourcePath) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, "read "+string(p))
	if m.locked {
		return nil, wire.Errorf(wire.Locked, "owner's vault is locked")
	}
	d, ok := m.data[p]
	if !ok {
		return nil, wire.Errorf(wire.NotFound, "no such resource")
	}
	return d, nil
}

func (m *memStore) List(_ context.Context, _ peer.ID, _ capability.ID, keep func(capability.ResourcePath) bool) ([]capability.ResourcePath, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []capability.ResourcePath
	for p := range m.data {
		if keep(p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (m *memStore) Write(_ context.Context, _ peer.ID, _ capability.ID, p capability.ResourcePath, d []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[p] = append([]byte(nil), d...)
	return nil
}

func (m *memStore) Delete(_ context.Context, _ peer.ID, _ capability.ID, p capability.ResourcePath) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[p]; !ok {
		return wire.Errorf(wire.NotFound, "no such resource")
	}
	delete(m.data, p)
	return nil
}

type world struct {
	alice, bob, carol host.Host
	ak, bk, ck        keys.PeerKey
	store             *memStore
	revs              *capability.MemoryRevocations
}

func newHost(t *testing.T, k *keys.PeerKey) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{ak: keys.GeneratePeerKey(), bk: keys.GeneratePeerKey(), ck: keys.GeneratePeerKey(),
		store: &memStore{data: map[capability.ResourcePath][]byte{
			"calendar/work": []byte("standup 9:00"), "calendar/home": []byte("dentist"), "files/secret": []byte("nope"),
		}}, revs: capability.NewMemoryRevocations()}
	w.alice, w.bob, w.carol = newHost(t, &w.ak), newHost(t, &w.bk), newHost(t, &w.ck)
	srv, err := NewServer(w.alice, Config{Verifier: capability.NewVerifier(capability.Config{Revocations: w.revs}), Store: w.store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, h := range []host.Host{w.bob, w.carol} {
		if err := h.Connect(context.Background(), peer.AddrInfo{ID: w.alice.ID(), Addrs: w.alice.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) grant(t *testing.T, to peer.ID, res string, acts capability.Actions, d time.Duration) *capability.Token {
	t.Helper()
	now := time.Now()
	tok, err := capability.Issue(&w.ak, capability.Params{Audience: to, Resource: capability.Pattern(res), Actions: acts, NotBefore: now.Add(-time.Minute), Expiry: now.Add(d)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestShare(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	rl := w.grant(t, w.bob.ID(), "calendar/*", capability.Read|capability.List, time.Hour)

	t.Run("the grantee reads a resource its token covers", func(t *testing.T) {
		got, err := Read(ctx, w.bob, w.alice.ID(), rl, "calendar/work")
		if err != nil || string(got) != "standup 9:00" {
			t.Fatalf("Read = %q, %v", got, err)
		}
	})
	t.Run("the grantee lists only what its token covers", func(t *testing.T) {
		names, err := List(ctx, w.bob, w.alice.ID(), rl, "")
		if err != nil || len(names) != 2 || names[0] != "calendar/home" {
			t.Fatalf("List = %v, %v", names, err)
		}
	})
	t.Run("write with the write action replaces the resource", func(t *testing.T) {
		wt := w.grant(t, w.bob.ID(), "calendar/*", capability.Write, time.Hour)
		if err := Write(ctx, w.bob, w.alice.ID(), wt, "calendar/new", []byte("party")); err != nil {
			t.Fatal(err)
		}
		if string(w.store.data["calendar/new"]) != "party" {
			t.Fatal("write not stored")
		}
	})
	t.Run("delete with the delete action removes the resource", func(t *testing.T) {
		dt := w.grant(t, w.bob.ID(), "calendar/*", capability.Delete, time.Hour)
		if err := Delete(ctx, w.bob, w.alice.ID(), dt, "calendar/new"); err != nil {
			t.Fatal(err)
		}
		if _, ok := w.store.data["calendar/new"]; ok {
			t.Fatal("delete did not remove the resource")
		}
		if err := Delete(ctx, w.bob, w.alice.ID(), dt, "calendar/new"); !errors.Is(err, wire.NotFound) {
			t.Fatalf("deleting it again: %v, want NotFound", err)
		}
	})
	t.Run("a missing resource is not found only after the token allowed it", func(t *testing.T) {
		_, err := Read(ctx, w.bob, w.alice.ID(), rl, "calendar/none")
		if !errors.Is(err, wire.NotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a locked owner answers locked", func(t *testing.T) {
		w.store.locked = true
		defer func() { w.store.locked = false }()
		_, err := Read(ctx, w.bob, w.alice.ID(), rl, "calendar/work")
		if !errors.Is(err, wire.Locked) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestShareRefusals: what the owner refuses, and with which status.
func TestShareRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	rl := w.grant(t, w.bob.ID(), "calendar/*", capability.Read|capability.List, time.Hour)

	t.Run("a path outside the pattern is forbidden", func(t *testing.T) {
		_, err := Read(ctx, w.bob, w.alice.ID(), rl, "files/secret")
		if !errors.Is(err, wire.Forbidden) {
			t.Fatalf("got %v, want Forbidden", err)
		}
	})
	t.Run("a token used by another peer is refused", func(t *testing.T) {
		_, err := Read(ctx, w.carol, w.alice.ID(), rl, "calendar/work")
		if !errors.Is(err, wire.Forbidden) {
			t.Fatalf("carol with bob's token: %v, want Forbidden", err)
		}
	})
	t.Run("write without the write action is forbidden", func(t *testing.T) {
		err := Write(ctx, w.bob, w.alice.ID(), rl, "calendar/work", []byte("overwritten"))
		if !errors.Is(err, wire.Forbidden) || string(w.store.data["calendar/work"]) != "standup 9:00" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("delete without the delete action is forbidden", func(t *testing.T) {
		wt := w.grant(t, w.bob.ID(), "calendar/*", capability.Write|capability.Read, time.Hour)
		err := Delete(ctx, w.bob, w.alice.ID(), wt, "calendar/work")
		if !errors.Is(err, wire.Forbidden) || w.store.data["calendar/work"] == nil {
			t.Fatalf("delete with a write token: %v", err)
		}
	})
	t.Run("a token from another owner is refused", func(t *testing.T) {
		now := time.Now()
		other, _ := capability.Issue(&w.ck, capability.Params{Audience: w.bob.ID(), Resource: "calendar/*", Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)})
		_, err := Read(ctx, w.bob, w.alice.ID(), other, "calendar/work")
		if !errors.Is(err, wire.Forbidden) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an expired token is refused as expired", func(t *testing.T) {
		now := time.Now()
		old, _ := capability.Issue(&w.ak, capability.Params{Audience: w.bob.ID(), Resource: "calendar/*", Actions: capability.Read, NotBefore: now.Add(-3 * time.Hour), Expiry: now.Add(-2 * time.Hour)})
		_, err := Read(ctx, w.bob, w.alice.ID(), old, "calendar/work")
		if !errors.Is(err, wire.Expired) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a revoked token is refused as revoked", func(t *testing.T) {
		tok := w.grant(t, w.bob.ID(), "calendar/*", capability.Read, time.Hour)
		w.revs.Revoke(tok.ID())
		_, err := Read(ctx, w.bob, w.alice.ID(), tok, "calendar/work")
		if !errors.Is(err, wire.Revoked) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestMalformedFramesAreRejectedWithoutPanic(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	frames := [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // absurd length
		{0x05, 0xa1, 0x01},                     // short frame
		append([]byte{0x03}, 0xbf, 0x01, 0xff), // indefinite map
		{0x02, 0x41, 0x00},                     // not a map
		bytes.Repeat([]byte{0x80}, 12),         // varint overflow
	}
	for _, f := range frames {
		s, err := w.bob.NewStream(ctx, w.alice.ID(), ID)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(f)
		s.CloseWrite()
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		var rep exchange.Reply
		if err := wire.ReadMsg(s, 1<<16, &rep); err == nil && rep.Status == wire.OK {
			t.Fatalf("frame %x accepted", f)
		}
		s.Reset()
	}
	// Oversized request: refused before allocation, server keeps serving.
	big := make([]byte, MaxData+1)
	rl := w.grant(t, w.bob.ID(), "calendar/*", capability.Write|capability.Read, time.Hour)
	if err := Write(ctx, w.bob, w.alice.ID(), rl, "calendar/x", big); err == nil {
		t.Fatal("oversized write accepted")
	}
	if _, err := Read(ctx, w.bob, w.alice.ID(), rl, "calendar/work"); err != nil {
		t.Fatalf("server stopped serving after bad frames: %v", err)
	}
}

// documented are the statuses doc.go lists for a refusal.
var documented = map[wire.Status]bool{
	wire.BadRequest: true, wire.Forbidden: true, wire.Revoked: true, wire.Expired: true, wire.NotFound: true,
	wire.Locked: true, wire.TooLarge: true, wire.RateLimited: true, wire.Unavailable: true, wire.Internal: true,
}

// FuzzServeRequest feeds arbitrary request frames to the server as an
// authenticated grantee: it answers or refuses with a documented status,
// never panics, and every Revoked refusal carries a well-formed detail.
func FuzzServeRequest(f *testing.F) {
	k := keys.GeneratePeerKey()
	now := time.Now()
	mint := func(acts capability.Actions) *capability.Token {
		tok, _ := capability.Issue(&k, capability.Params{Audience: k.ID(), Resource: "a/*", Actions: acts, NotBefore: now, Expiry: now.Add(time.Hour)})
		return tok
	}
	tok, revoked := mint(capability.Read|capability.List|capability.Write), mint(capability.Read)
	revs := capability.NewMemoryRevocations()
	revs.Revoke(revoked.ID())
	for _, r := range []Request{
		{Op: OpRead, Path: "a/b", Token: tok.Bytes()},
		{Op: OpRead, Path: "a/b", Token: revoked.Bytes()},
		{Op: OpList, Token: tok.Bytes()},
		{Op: OpList, Path: "a", Token: revoked.Bytes()},
		{Op: OpWrite, Path: "a/c", Token: tok.Bytes(), Data: []byte("x")},
		{Op: OpRead, Path: "a/b", Token: tok.Bytes(), Data: []byte("x")},
		{Op: OpRead, Path: strings.Repeat("a/", maxPath), Token: tok.Bytes()},
		{Op: 9, Path: "a/b", Token: tok.Bytes()},
	} {
		b, _ := wire.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa2, 0x01, 0x18, 0x01, 0x03, 0x40}) // op 1 as a two-byte uint: non-canonical
	s := &Server{cfg: Config{Verifier: capability.NewVerifier(capability.Config{Revocations: revs}),
		Store:     &memStore{data: map[capability.ResourcePath][]byte{"a/b": []byte("x")}},
		RevokedBy: func(capability.ID) (peer.ID, time.Time, bool) { return k.ID(), now, true }},
		self: k.ID(), limiter: peerlimit.New(1e9, 1<<30, 0, nil)}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := s.serve(context.Background(), k.ID(), b)
		if err == nil {
			return
		}
		st := wire.StatusOf(err)
		if !documented[st] {
			t.Fatalf("refused with %v, which doc.go does not list: %v", st, err)
		}
		if d, ok := Revoked(err); st == wire.Revoked && (!ok || d.By != k.ID()) {
			t.Fatalf("a Revoked refusal without its detail: %v", err)
		}
	})
}

// TestRequestsWaitForReady: while Ready refuses (a node catching up on
// revocations after a restart), nothing is served and the store is not
// touched; once ready, the same request is answered.
func TestRequestsWaitForReady(t *testing.T) {
	ctx := context.Background()
	ak, bk := keys.GeneratePeerKey(), keys.GeneratePeerKey()
	alice, bob := newHost(t, &ak), newHost(t, &bk)
	store := &memStore{data: map[capability.ResourcePath][]byte{"calendar/work": []byte("standup")}}
	var ready sync.Mutex
	caughtUp := false
	srv, err := NewServer(alice, Config{Verifier: capability.NewVerifier(capability.Config{}), Store: store,
		Ready: func(context.Context) error {
			ready.Lock()
			defer ready.Unlock()
			if !caughtUp {
				return wire.Errorf(wire.Unavailable, "catching up on revocations")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := bob.Connect(ctx, peer.AddrInfo{ID: alice.ID(), Addrs: alice.Addrs()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := capability.Issue(&ak, capability.Params{Audience: bob.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: now.Add(-time.Minute), Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(ctx, bob, alice.ID(), tok, "calendar/work"); !errors.Is(err, wire.Unavailable) {
		t.Fatalf("before ready: %v, want Unavailable", err)
	}
	if len(store.log) != 0 {
		t.Fatalf("the store was read before the server was ready: %v", store.log)
	}
	ready.Lock()
	caughtUp = true
	ready.Unlock()
	if got, err := Read(ctx, bob, alice.ID(), tok, "calendar/work"); err != nil || string(got) != "standup" {
		t.Fatalf("once ready: %q, %v", got, err)
	}
}
