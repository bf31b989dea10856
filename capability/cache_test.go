package capability

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// vectorBytes returns v's envelope bytes: its hex, or its text's base64
// (nil when that does not decode: the bytes path then fails as
// malformed, cached or not).
func vectorBytes(t *testing.T, v vector) []byte {
	t.Helper()
	if v.Envelope != "" {
		raw, err := hex.DecodeString(v.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v.Token, TextPrefix))
	if err != nil {
		return nil
	}
	return raw
}

// outcome verifies v's envelope bytes as a server does (Decode through the
// verifier, then Verify), in a fresh verifier with v's clock, revocations
// and a fresh use store, and describes every result exactly: each use's
// error text, or what Verified says.
func (v vector) outcome(t *testing.T, raw []byte, cache *ChainCache) string {
	t.Helper()
	revs := NewMemoryRevocations()
	for _, h := range v.Revoked {
		id, err := ParseID(h)
		if err != nil {
			t.Fatal(err)
		}
		revs.Revoke(id)
	}
	remote, err := peer.Decode(v.Remote)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := peer.Decode(v.Owner)
	if err != nil {
		t.Fatal(err)
	}
	act, err := ParseActions(v.Action)
	if err != nil {
		t.Fatal(err)
	}
	ver := NewVerifier(Config{Clock: testkit.NewClock(time.Unix(v.Now, 0)).Now, Revocations: revs, Cache: cache})
	req := Request{Remote: remote, Owner: owner, Resource: ResourcePath(v.Resource), Action: act}
	var b strings.Builder
	for i := range max(v.Uses, 1) {
		tok, err := ver.Decode(raw)
		if err != nil {
			fmt.Fprintf(&b, "use %d: decode: %s %v\n", i, ErrorName(err), err)
			break
		}
		vd, err := ver.Verify(context.Background(), tok, req)
		if err != nil {
			fmt.Fprintf(&b, "use %d: %s %v\n", i, ErrorName(err), err)
			continue
		}
		fmt.Fprintf(&b, "use %d: ok %s %s %s %s %v %d %s %s\n", i, vd.Token.ID(), vd.Owner, vd.Holder, vd.Resource,
			vd.Action, len(vd.Chain), vd.NotBefore, vd.Expiry)
	}
	return b.String()
}

// TestWarmCacheGivesTheColdOutcome runs every committed vector through a
// verifier whose cache already holds the vector's chain, and through one
// that caches nothing: every use's outcome, error text included, is the
// same. A hit skips only what depends on the bytes alone.
func TestWarmCacheGivesTheColdOutcome(t *testing.T) {
	vs := testkit.ReadVectors[vector](t, vectorsFile)
	warm := NewChainCache(DefaultCacheEntries, DefaultCacheBytes)
	// Warm up: every chain whose signatures and link rules hold goes in,
	// whatever the rest of its vector says (expired, revoked, for
	// another owner...), and every vector runs once.
	cached, late := 0, 0
	for _, v := range vs {
		raw := vectorBytes(t, v)
		if tok, err := Decode(raw); err == nil && warm.CheckChain(tok) == nil {
			cached++
		}
		switch v.Want {
		case "ok", "ErrExpired", "ErrNotYetValid", "ErrRevoked", "ErrWrongAudience", "ErrWrongOwner", "ErrNotPermitted", "ErrReplayed":
			late++ // decided after the steps a hit skips
		}
		v.outcome(t, raw, warm)
	}
	if cached < late || late < 40 {
		t.Fatalf("%d chains cached, %d vectors decided after the chain steps: the test would prove little", cached, late)
	}
	before := warm.Stats()
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			raw := vectorBytes(t, v)
			cold := v.outcome(t, raw, NewChainCache(0, 0))
			if got := v.outcome(t, raw, warm); got != cold {
				t.Fatalf("warm cache:\n%s\ncold:\n%s", got, cold)
			}
		})
	}
	if hits := warm.Stats().Hits - before.Hits; hits < uint64(cached) {
		t.Fatalf("%d cache hits for %d cached chains: the warm runs did not use the cache", hits, cached)
	}
}

// TestCacheHitStillChecksEverythingElse: a chain in the cache is still
// refused when the clock, the revocation set, the remote peer, the
// request or its use budget says so.
func TestCacheHitStillChecksEverythingElse(t *testing.T) {
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List | Share})
	leaf := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root, MaxUses: 2})
	clock := testkit.NewClock(testNow)
	revs := NewMemoryRevocations()
	cache := NewChainCache(16, 1<<20)
	v := NewVerifier(Config{Clock: clock.Now, Revocations: revs, Cache: cache})
	req := Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/work/mon", Action: Read}
	ctx := context.Background()
	if _, err := v.Verify(ctx, leaf, req); err != nil {
		t.Fatal(err)
	}
	if st := cache.Stats(); st.Entries != 1 || st.Bytes <= 0 {
		t.Fatalf("after a success the cache holds %+v", st)
	}
	for _, tc := range []struct {
		name string
		req  func(Request) Request
		want error
	}{
		{"another remote peer", func(r Request) Request { r.Remote = c.mallory.ID(); return r }, ErrWrongAudience},
		{"another owner", func(r Request) Request { r.Owner = c.mallory.ID(); return r }, ErrWrongOwner},
		{"another resource", func(r Request) Request { r.Resource = "calendar/home/mon"; return r }, ErrNotPermitted},
		{"another action", func(r Request) Request { r.Action = Write; return r }, ErrNotPermitted},
	} {
		if _, err := v.Verify(ctx, leaf, tc.req(req)); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := v.Verify(ctx, leaf, req); err != nil { // the second of two uses
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, leaf, req); !errors.Is(err, ErrReplayed) {
		t.Fatalf("third use of two: %v", err)
	}
	fresh := func() *Verifier { return NewVerifier(Config{Clock: clock.Now, Revocations: revs, Cache: cache}) }
	clock.Set(testNow.Add(2 * time.Hour))
	if _, err := fresh().Verify(ctx, leaf, req); !errors.Is(err, ErrExpired) {
		t.Fatalf("after expiry: %v", err)
	}
	clock.Set(testNow)
	revs.Revoke(root.ID())
	var rev *RevokedError
	if _, err := fresh().Verify(ctx, leaf, req); !errors.As(err, &rev) || rev.ID != root.ID() || rev.Link != 1 {
		t.Fatalf("after revoking the root: %v", err)
	}
	if st := cache.Stats(); st.Hits < 7 {
		t.Fatalf("%+v: the checks above did not run on cache hits", st)
	}
}

// TestCacheKeepsOnlyChainsThatEarnedARequest: strangers presenting
// well-signed chains of their own (for another owner, another audience,
// expired) take no room; only the Verifier's successes and CheckChain's
// passes are kept.
func TestCacheKeepsOnlyChainsThatEarnedARequest(t *testing.T) {
	c := newCast(t)
	cache := NewChainCache(16, 1<<20)
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Cache: cache})
	ctx := context.Background()
	for i := range 200 {
		k := testkit.Key(t, fmt.Sprint("stranger ", i))
		tok := issue(t, k, Params{Audience: k.ID(), Resource: "x/**", Actions: Read})
		if _, err := v.Verify(ctx, tok, Request{Remote: k.ID(), Owner: c.owner.ID(), Resource: "x/y", Action: Read}); !errors.Is(err, ErrWrongOwner) {
			t.Fatalf("stranger %d: %v", i, err)
		}
	}
	if st := cache.Stats(); st.Entries != 0 {
		t.Fatalf("strangers' tokens took %d entries", st.Entries)
	}
}

// TestCacheBounds: with many holders, the cache never holds more than its
// entry cap or its byte cap, and forgets the least recently used first.
func TestCacheBounds(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	const n = 300
	toks := make([]*Token, n)
	holders := make([]*keys.PeerKey, n)
	for i := range toks {
		holders[i] = testkit.Key(t, fmt.Sprint("holder ", i))
		toks[i] = issue(t, c.owner, Params{Audience: holders[i].ID(), Resource: "calendar/**", Actions: Read})
	}
	use := func(v *Verifier, i int) {
		t.Helper()
		if _, err := v.Verify(ctx, toks[i], Request{Remote: holders[i].ID(), Owner: c.owner.ID(), Resource: "calendar/a", Action: Read}); err != nil {
			t.Fatal(err)
		}
	}
	one := toks[0].retained() + cacheEntryOverhead
	for _, tc := range []struct {
		name               string
		entries, bytes     int
		wantMax            int
		wantBytesAtMostCap bool
	}{
		{"the entry cap binds", 50, 1 << 20, 50, true},
		{"the byte cap binds", 1000, 20*one + one/2, 20, true},
		{"a zero cap keeps nothing", 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := NewChainCache(tc.entries, tc.bytes)
			v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Cache: cache})
			for i := range toks {
				use(v, i)
				if st := cache.Stats(); st.Entries > tc.wantMax || st.Bytes > tc.bytes {
					t.Fatalf("after %d tokens: %+v", i+1, st)
				}
			}
			if st := cache.Stats(); st.Entries != tc.wantMax {
				t.Fatalf("holds %d, want %d", st.Entries, tc.wantMax)
			}
			if tc.wantMax == 0 {
				return
			}
			// The newest are held, the oldest forgotten; a hit refreshes.
			if !cache.has(toks[n-1].ID()) || cache.has(toks[0].ID()) {
				t.Fatal("not least-recently-used order")
			}
			oldest := toks[n-tc.wantMax].ID()
			if !cache.has(oldest) { // refreshes it
				t.Fatal("the oldest held chain is missing")
			}
			use(v, 0) // one new chain: evicts the least recently used, not oldest
			if !cache.has(oldest) || cache.has(toks[n-tc.wantMax+1].ID()) {
				t.Fatal("a hit did not refresh the chain")
			}
		})
	}
}

// TestCacheEvictFollowsTheChain: evicting a token forgets every cached
// chain through it and no other.
func TestCacheEvictFollowsTheChain(t *testing.T) {
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share})
	other := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "files/**", Actions: Read | Share})
	toBob := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read | Share, Parent: root})
	toCarol := issue(t, c.alice, Params{Audience: c.carol.ID(), Resource: "calendar/**", Actions: Read, Parent: root})
	toDave := issue(t, c.bob, Params{Audience: c.dave.ID(), Resource: "calendar/**", Actions: Read, Parent: toBob})
	sibling := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "files/**", Actions: Read, Parent: other})
	cache := NewChainCache(16, 1<<20)
	for _, tok := range []*Token{root, toBob, toCarol, toDave, sibling} {
		if err := cache.CheckChain(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := cache.Evict(toBob.ID()); n != 2 || cache.has(toBob.ID()) || cache.has(toDave.ID()) {
		t.Fatalf("evicting the middle link forgot %d chains", n)
	}
	if !cache.has(root.ID()) || !cache.has(toCarol.ID()) || !cache.has(sibling.ID()) {
		t.Fatal("evicting a link forgot a chain not through it")
	}
	if n := cache.Evict(root.ID()); n != 2 || cache.Stats().Entries != 1 {
		t.Fatalf("evicting the root forgot %d, left %+v", n, cache.Stats())
	}
	if n := cache.Evict(root.ID()); n != 0 {
		t.Fatalf("evicting again forgot %d", n)
	}
	if st := cache.Stats(); len(cache.parents) != 1 || st.Bytes != sibling.retained()+cacheEntryOverhead {
		t.Fatalf("bookkeeping left %+v, %d parents", st, len(cache.parents))
	}
	var nilCache *ChainCache
	if nilCache.Evict(root.ID()) != 0 || nilCache.Stats() != (CacheStats{}) || nilCache.CheckChain(root) != nil {
		t.Fatal("a nil cache must hold nothing and still check")
	}
}

// TestCacheCheckChainIsTheProofCheck: CheckChain fails as the chain steps
// of Verify do, and does not remember a chain that fails.
func TestCacheCheckChainIsTheProofCheck(t *testing.T) {
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read})
	bad := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read, Parent: root})
	cache := NewChainCache(16, 1<<20)
	for range 2 {
		err := cache.CheckChain(bad)
		want := checkChain(bad.Chain())
		if !errors.Is(err, ErrNoShare) || err.Error() != want.Error() {
			t.Fatalf("CheckChain = %v, want %v", err, want)
		}
	}
	if st := cache.Stats(); st.Entries != 0 {
		t.Fatalf("a failed chain was kept: %+v", st)
	}
}

// TestCacheIsSafeForConcurrentUse hammers one cache from verifiers,
// CheckChain and Evict at once (run with -race).
func TestCacheIsSafeForConcurrentUse(t *testing.T) {
	c := newCast(t)
	const holders = 40
	toks := make([]*Token, holders)
	keysOf := make([]*keys.PeerKey, holders)
	for i := range toks {
		keysOf[i] = testkit.Key(t, fmt.Sprint("holder ", i))
		toks[i] = issue(t, c.owner, Params{Audience: keysOf[i].ID(), Resource: "calendar/**", Actions: Read})
	}
	cache := NewChainCache(holders/2, 1<<20)
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Cache: cache})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				k := (i*7 + g) % holders
				tok, err := v.Decode(toks[k].raw)
				if err == nil {
					_, err = v.Verify(context.Background(), tok, Request{Remote: keysOf[k].ID(), Owner: c.owner.ID(), Resource: "calendar/a", Action: Read})
				}
				if err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					cache.Evict(toks[(k+1)%holders].ID())
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := cache.Stats(); st.Entries > holders/2 || st.Hits == 0 {
		t.Fatalf("%+v", st)
	}
}

// TestRetainedCoversTheHeap: the byte cap counts what decoded chains keep.
// Holding many decoded depth-3 chains costs the heap no more than their
// estimate, give or take allocator rounding.
func TestRetainedCoversTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share})
	mid := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read | Share, Parent: root})
	leaf := issue(t, c.bob, Params{Audience: c.carol.ID(), Resource: "calendar/work/*", Actions: Read, Parent: mid})
	raw := leaf.Bytes()
	const n = 2000
	held := make([]*Token, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range held {
		tok, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		held[i] = tok
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perChain := float64(after.HeapAlloc-before.HeapAlloc) / n
	est := float64(leaf.retained())
	runtime.KeepAlive(held)
	t.Logf("heap per decoded depth-3 chain %.0f B, estimate %.0f B", perChain, est)
	if perChain > 1.1*est || est > 1.5*perChain {
		t.Fatalf("a decoded chain keeps %.0f B of heap, but the cache counts %.0f B", perChain, est)
	}
}
