package revsync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newHost(t *testing.T) (*keys.PeerKey, host.Host) {
	t.Helper()
	k := keys.GeneratePeerKey()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Identity(k.Libp2pPrivKey()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &k, h
}

func newSet(t *testing.T) *revocation.Set {
	t.Helper()
	s, err := revocation.Open(context.Background(), revocation.Config{Clock: func() time.Time { return testNow }, CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func connect(t *testing.T, a, b host.Host) {
	t.Helper()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

type detReader struct{ seed [32]byte }

func (r *detReader) Read(p []byte) (int, error) {
	for i := range p {
		r.seed = sha256.Sum256(r.seed[:])
		p[i] = r.seed[0]
	}
	return len(p), nil
}

// grant issues owner → holder tokens and revokes the first n into set.
func grant(t *testing.T, owner *keys.PeerKey, holder peer.ID, set *revocation.Set, n int, seed string) []*capability.Token {
	t.Helper()
	var out []*capability.Token
	for i := range n {
		tok, err := capability.Issue(owner, capability.Params{
			Audience: holder, Resource: "calendar/**", Actions: capability.Read,
			NotBefore: testNow.Add(-time.Hour), Expiry: testNow.Add(time.Hour),
			Rand: &detReader{sha256.Sum256(fmt.Appendf(nil, "%s/%d", seed, i))},
		})
		if err != nil {
			t.Fatal(err)
		}
		rev, err := revocation.New(owner, tok, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := set.Add(context.Background(), rev); err != nil {
			t.Fatal(err)
		}
		out = append(out, tok)
	}
	return out
}

// serve starts a revsync server on a fresh host with a fresh set.
func serve(t *testing.T, cfg ServerConfig) (*keys.PeerKey, host.Host, *revocation.Set) {
	t.Helper()
	k, h := newHost(t)
	set := newSet(t)
	srv, err := NewServer(h, set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return k, h, set
}

func TestLateJoinerFetchesRevocationsAndRefusesTheTokens(t *testing.T) {
	ctx := context.Background()
	owner, server, serverSet := serve(t, ServerConfig{})
	_, late := newHost(t)
	toks := grant(t, owner, late.ID(), serverSet, 5, "late")

	lateSet := newSet(t)
	v := capability.NewVerifier(capability.Config{Clock: func() time.Time { return testNow }, Revocations: lateSet})
	req := capability.Request{Remote: late.ID(), Owner: owner.ID(), Resource: "calendar/mon", Action: capability.Read}
	if _, err := v.Verify(ctx, toks[0], req); err != nil {
		t.Fatalf("before sync the token verifies: %v", err)
	}
	connect(t, late, server)
	cur, st, err := Sync(ctx, late, server.ID(), lateSet, Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 5 || !st.Snapshot || cur.Version != 5 || cur.Epoch != serverSet.Epoch() {
		t.Fatalf("stats %+v, cursor %+v", st, cur)
	}
	for i, tok := range toks {
		if _, err := v.Verify(ctx, tok, req); !errors.Is(err, capability.ErrRevoked) {
			t.Fatalf("token %d after sync: %v", i, err)
		}
	}
}

func TestSyncPagesAndResumes(t *testing.T) {
	ctx := context.Background()
	owner, server, serverSet := serve(t, ServerConfig{PageSize: 4})
	_, client := newHost(t)
	grant(t, owner, client.ID(), serverSet, 10, "pages")
	connect(t, client, server)
	set := newSet(t)

	cur, st, err := Sync(ctx, client, server.ID(), set, Cursor{})
	t.Run("a first sync pages through everything", func(t *testing.T) {
		if err != nil || st.Pages != 3 || st.Added != 10 || set.Len() != 10 || cur.Version != 10 {
			t.Fatalf("err %v, stats %+v, len %d, cursor %d", err, st, set.Len(), cur.Version)
		}
	})
	t.Run("a second sync from the cursor gets nothing", func(t *testing.T) {
		cur2, st, err := Sync(ctx, client, server.ID(), set, cur)
		if err != nil || st.Pages != 1 || st.Received != 0 || st.Snapshot || cur2 != cur {
			t.Fatalf("err %v, stats %+v", err, st)
		}
	})
	t.Run("a later sync gets only the new records", func(t *testing.T) {
		grant(t, owner, client.ID(), serverSet, 12, "pages") // 10 known + 2 new
		cur3, st, err := Sync(ctx, client, server.ID(), set, cur)
		if err != nil || st.Received != 2 || st.Added != 2 || cur3.Version != 12 {
			t.Fatalf("err %v, stats %+v, cursor %d", err, st, cur3.Version)
		}
	})
	t.Run("a cursor from another server gets a snapshot", func(t *testing.T) {
		_, other, otherSet := serve(t, ServerConfig{})
		grant(t, owner, client.ID(), otherSet, 3, "other")
		connect(t, client, other)
		_, st, err := Sync(ctx, client, other.ID(), set, cur)
		if err != nil || !st.Snapshot || st.Received != 3 {
			t.Fatalf("err %v, stats %+v", err, st)
		}
	})
}

// TestSyncRefusesAForgedRecord: a server can withhold records but not
// forge them.
func TestSyncRefusesAForgedRecord(t *testing.T) {
	ctx := context.Background()
	owner, server := newHost(t)
	good := newSet(t)
	grant(t, owner, owner.ID(), good, 1, "forged")
	page, err := good.Since(ctx, 0, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	forged := page.Records[0]
	forged[len(forged)-1] ^= 1
	epoch := good.Epoch()
	server.SetStreamHandler(ID, func(s network.Stream) {
		exchange.Serve(s, Limits(), nil, func(context.Context, peer.ID, []byte) (any, error) {
			return Reply{Epoch: epoch[:], Records: [][]byte{forged}, Next: 1}, nil
		})
	})
	_, client := newHost(t)
	connect(t, client, server)
	set := newSet(t)
	_, _, err = Sync(ctx, client, server.ID(), set, Cursor{})
	if !errors.Is(err, ErrBadServer) || !errors.Is(err, revocation.ErrBadSignature) {
		t.Fatalf("err = %v", err)
	}
	if set.Len() != 0 {
		t.Fatal("a forged record was added")
	}
}

func TestServerRefusesAMalformedRequest(t *testing.T) {
	_, server, _ := serve(t, ServerConfig{})
	_, client := newHost(t)
	connect(t, client, server)
	err := exchange.Call(context.Background(), client, server.ID(), ID, Limits(), Request{Epoch: []byte{1, 2, 3}}, &Reply{})
	if !errors.Is(err, wire.BadRequest) {
		t.Fatalf("err = %v", err)
	}
}

// TestPushPutsARecordInForce: a pushed record is verified and handed to
// Accept; a forged one, or a push carrying a cursor, is refused and kept
// out.
func TestPushPutsARecordInForce(t *testing.T) {
	ctx := context.Background()
	var accepted []capability.ID
	var pushers []peer.ID
	var set *revocation.Set
	_, server, set := serve(t, ServerConfig{Accept: func(ctx context.Context, from peer.ID, r *revocation.Revocation) error {
		accepted = append(accepted, r.ID())
		pushers = append(pushers, from)
		_, err := set.Add(ctx, r)
		return err
	}})
	owner, client := newHost(t)
	connect(t, client, server)
	src := newSet(t)
	toks := grant(t, owner, owner.ID(), src, 2, "push")
	page, err := src.Since(ctx, 0, 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := revocation.Parse(page.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, client, server.ID(), rev); err != nil {
		t.Fatal(err)
	}
	if len(accepted) != 1 || !set.IsRevoked(toks[0].ID()) {
		t.Fatalf("accepted %v; the pushed record is not in force", accepted)
	}
	if pushers[0] != client.ID() {
		t.Fatalf("Accept was told the push came from %s, not %s", pushers[0], client.ID())
	}

	forged := page.Records[1]
	forged[len(forged)-1] ^= 1
	err = exchange.Call(ctx, client, server.ID(), ID, Limits(), Request{Push: forged}, nil)
	if !errors.Is(err, wire.BadRequest) || set.IsRevoked(toks[1].ID()) {
		t.Fatalf("forged push: %v, in force %v", err, set.IsRevoked(toks[1].ID()))
	}
	err = exchange.Call(ctx, client, server.ID(), ID, Limits(), Request{Since: 3, Push: page.Records[0]}, nil)
	if !errors.Is(err, wire.BadRequest) {
		t.Fatalf("push with a cursor: %v", err)
	}
	if len(accepted) != 1 {
		t.Fatalf("Accept saw %d records, want only the valid push", len(accepted))
	}
}

// TestSyncWithKeepsOnlyWhatKeepTakes: records Keep refuses are counted and
// skipped, not an error, and the cursor still moves past them.
func TestSyncWithKeepsOnlyWhatKeepTakes(t *testing.T) {
	ctx := context.Background()
	owner, server, serverSet := serve(t, ServerConfig{PageSize: 3})
	_, client := newHost(t)
	toks := grant(t, owner, client.ID(), serverSet, 7, "keep")
	connect(t, client, server)
	set := newSet(t)
	want := map[capability.ID]bool{toks[1].ID(): true, toks[5].ID(): true}
	cur, st, err := SyncWith(ctx, client, server.ID(), set, Cursor{}, SyncOptions{Keep: func(r *revocation.Revocation) bool { return want[r.ID()] }})
	if err != nil || st.Added != 2 || st.NotKept != 5 || st.Received != 7 || cur.Version != 7 {
		t.Fatalf("err %v, stats %+v, cursor %d", err, st, cur.Version)
	}
	for i, tok := range toks {
		if set.IsRevoked(tok.ID()) != want[tok.ID()] {
			t.Fatalf("token %d: revoked %v", i, set.IsRevoked(tok.ID()))
		}
	}
}

// TestAFullSetIsReportedNotFatal: records the local set refuses because it
// is full are counted in Stats.Full, and a push to a full server is
// refused as TooLarge.
func TestAFullSetIsReportedNotFatal(t *testing.T) {
	ctx := context.Background()
	owner, server, serverSet := serve(t, ServerConfig{})
	_, client := newHost(t)
	grant(t, owner, client.ID(), serverSet, 5, "full")
	connect(t, client, server)
	small, err := revocation.Open(ctx, revocation.Config{Clock: func() time.Time { return testNow }, CollectEvery: -1, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { small.Close() })
	_, st, err := Sync(ctx, client, server.ID(), small, Cursor{})
	if err != nil || st.Added != 3 || st.Full != 2 {
		t.Fatalf("err %v, stats %+v", err, st)
	}

	_, full, _ := serve(t, ServerConfig{Accept: func(ctx context.Context, _ peer.ID, r *revocation.Revocation) error {
		_, err := small.Add(ctx, r)
		return err
	}})
	connect(t, client, full)
	src := newSet(t)
	grant(t, owner, client.ID(), src, 6, "full/push")
	page, err := src.Since(ctx, 5, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := revocation.Parse(page.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, client, full.ID(), rev); !errors.Is(err, wire.TooLarge) {
		t.Fatalf("push to a full set: %v, want TooLarge", err)
	}
}

// records returns the exact envelopes of the first n records of set.
func records(t *testing.T, set *revocation.Set, n int) [][]byte {
	t.Helper()
	page, err := set.Since(context.Background(), 0, n, 1<<20)
	if err != nil || len(page.Records) != n {
		t.Fatalf("reading %d records: %v (%d)", n, err, len(page.Records))
	}
	return page.Records
}

// TestPushAllJudgesEachRecord: a batch push is judged record by record,
// as gossip is: a held record is not verified again, an expired one is
// refused by the clock, one Accept refuses is NotKept, and an invalid one
// ends the batch, the records after it not looked at.
func TestPushAllJudgesEachRecord(t *testing.T) {
	ctx := context.Background()
	var accepted []capability.ID
	var set *revocation.Set
	refuse := map[capability.ID]bool{}
	_, server, set := serve(t, ServerConfig{Accept: func(ctx context.Context, _ peer.ID, r *revocation.Revocation) error {
		if refuse[r.ID()] {
			return fmt.Errorf("%w: refused here", revocation.ErrQuota)
		}
		accepted = append(accepted, r.ID())
		_, err := set.Add(ctx, r)
		return err
	}})
	owner, client := newHost(t)
	connect(t, client, server)
	src := newSet(t)
	toks := grant(t, owner, owner.ID(), src, 6, "batch")
	recs := records(t, src, 6)
	if _, err := set.Add(ctx, mustParse(t, recs[0])); err != nil { // held
		t.Fatal(err)
	}
	refuse[toks[2].ID()] = true
	forged := bytes.Clone(recs[4])
	forged[len(forged)-1] ^= 1
	res, err := PushAll(ctx, client, server.ID(), [][]byte{recs[0], recs[1], recs[2], recs[3], forged, recs[5]})
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{Held, Added, NotKept, Added, Invalid, Skipped}
	if !slices.Equal(res, want) {
		t.Fatalf("results %v, want %v", res, want)
	}
	if len(accepted) != 2 || set.IsRevoked(toks[5].ID()) || set.IsRevoked(toks[2].ID()) {
		t.Fatalf("accepted %d records; record 5 in force %v", len(accepted), set.IsRevoked(toks[5].ID()))
	}
	t.Run("a batch over MaxPushRecords or mixed with a cursor is refused", func(t *testing.T) {
		big := make([][]byte, MaxPushRecords+1)
		for i := range big {
			big[i] = recs[1]
		}
		err := exchange.Call(ctx, client, server.ID(), ID, Limits(), Request{Records: big}, &PushReply{})
		if !errors.Is(err, wire.BadRequest) {
			t.Fatalf("a batch of %d: %v", len(big), err)
		}
		err = exchange.Call(ctx, client, server.ID(), ID, Limits(), Request{Since: 2, Records: recs[:1]}, &PushReply{})
		if !errors.Is(err, wire.BadRequest) {
			t.Fatalf("a batch with a cursor: %v", err)
		}
	})
	t.Run("an expired token is refused before its signatures", func(t *testing.T) {
		later, err := revocation.Open(ctx, revocation.Config{Clock: func() time.Time { return testNow.Add(3 * time.Hour) }, CollectEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { later.Close() })
		_, h := newHost(t)
		srv, err := NewServer(h, later, ServerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		connect(t, client, h)
		res, err := PushAll(ctx, client, h.ID(), recs[3:4])
		if err != nil || !slices.Equal(res, []Result{Expired}) {
			t.Fatalf("results %v, err %v", res, err)
		}
	})
}

func mustParse(t *testing.T, raw []byte) *revocation.Revocation {
	t.Helper()
	r, err := revocation.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPushBudgetsHoldAcrossIdentities: 40 pushers, each with its own
// identity and host, push 8 new records each at a server whose push
// budget is 5 a second, burst 20: the server verifies at most the burst
// plus the rate over the time taken, whoever pushes, and tells each
// pusher which records it skipped.
func TestPushBudgetsHoldAcrossIdentities(t *testing.T) {
	const pushers, each, rateN, burst = 40, 8, 5, 20
	ctx := context.Background()
	_, server, set := serve(t, ServerConfig{PushRate: rateN, PushBurst: burst})
	owner, _ := newHost(t)
	src := newSet(t)
	grant(t, owner, owner.ID(), src, pushers*each, "budget")
	recs := records(t, src, pushers*each)
	start := time.Now()
	results := make([][]Result, pushers)
	errs := make([]error, pushers)
	var wg sync.WaitGroup
	for i := range pushers {
		wg.Go(func() {
			_, h := newHost(t)
			connect(t, h, server)
			results[i], errs[i] = PushAll(ctx, h, server.ID(), recs[i*each:(i+1)*each])
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	added, skipped := 0, 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("pusher %d: %v", i, errs[i])
		}
		for _, r := range res {
			switch r {
			case Added:
				added++
			case Skipped:
				skipped++
			default:
				t.Fatalf("pusher %d: result %d", i, r)
			}
		}
	}
	if limit := burst + int(rateN*elapsed) + 1; added > limit || set.Len() != added {
		t.Fatalf("%d records verified and added in %.1fs (set holds %d), over the budget %d", added, elapsed, set.Len(), limit)
	}
	if skipped == 0 {
		t.Fatal("no record was skipped: the budget was never reached")
	}
	t.Logf("%d pushers × %d records: %d added, %d skipped in %.1fs", pushers, each, added, skipped, elapsed)
}

// TestSyncSkipsHeldRecordsAndStopsAtMaxPages: records the client already
// holds are counted, not verified again; SyncOptions.MaxPages stops a
// sync early with the cursor where it got, and the next sync goes on
// from there.
func TestSyncSkipsHeldRecordsAndStopsAtMaxPages(t *testing.T) {
	ctx := context.Background()
	owner, server, serverSet := serve(t, ServerConfig{PageSize: 4})
	_, client := newHost(t)
	grant(t, owner, client.ID(), serverSet, 10, "held")
	connect(t, client, server)
	set := newSet(t)
	cur, st, err := SyncWith(ctx, client, server.ID(), set, Cursor{}, SyncOptions{MaxPages: 2})
	if err != nil || !st.Stopped || st.Added != 8 || cur.Version != 8 {
		t.Fatalf("a sync of at most 2 pages: err %v, stats %+v, cursor %d", err, st, cur.Version)
	}
	cur, st, err = Sync(ctx, client, server.ID(), set, cur)
	if err != nil || st.Stopped || st.Added != 2 || cur.Version != 10 {
		t.Fatalf("the rest: err %v, stats %+v, cursor %d", err, st, cur.Version)
	}
	_, st, err = Sync(ctx, client, server.ID(), set, Cursor{})
	if err != nil || st.Held != 10 || st.Added != 0 {
		t.Fatalf("a snapshot of held records: err %v, stats %+v", err, st)
	}
}
