package relayaccess

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// records is an in-memory directory for the voucher server: the test's
// stand-in for the bootstrap's store (dht.Directory, which node/infra
// wires; its tests cover the store).
type records struct {
	mu sync.Mutex
	m  map[peer.ID]*directory.SignedRecord
}

func (r *records) put(sr *directory.SignedRecord, id peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[id] = sr
}

func (r *records) lookup(_ context.Context, id peer.ID) (*directory.SignedRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sr, ok := r.m[id]; ok {
		return sr, nil
	}
	return nil, directory.ErrNotFound
}

func signedRecord(t testing.TB, k *keys.PeerKey, handle string, seq uint64) *directory.SignedRecord {
	t.Helper()
	sr, err := directory.SignRecord(k, directory.Record{Handle: directory.Handle(handle), Seq: seq, Issued: testkit.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func signer(k *keys.PeerKey) func([]byte) ([]byte, error) { return k.Libp2pPrivKey().Sign }

// TestRegistrationEndToEnd: a registered node gets a voucher from its
// bootstrap and the relay then counts it as registered without asking
// anyone, until the voucher expires; a peer the bootstrap does not hold
// gets no voucher, and a registration is worth nothing to another peer or
// at a relay that does not trust the bootstrap.
func TestRegistrationEndToEnd(t *testing.T) {
	bk, rk, nk, sk := testkit.Key(t, "bootstrap"), testkit.Key(t, "relay"), testkit.Key(t, "node"), testkit.Key(t, "stranger")
	bh, rh, nh, sh := testkit.Host(t, bk), testkit.Host(t, rk), testkit.Host(t, nk), testkit.Host(t, sk)
	dir := &records{m: map[peer.ID]*directory.SignedRecord{}}
	dir.put(signedRecord(t, nk, "node", 1), nk.ID())
	vs, err := NewVoucherServer(bh, VoucherConfig{Lookup: dir.lookup, Sign: signer(bk)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	clock := testkit.NewClock(time.Now())
	reg := NewRegistrar(rh, RegistrarConfig{Bootstraps: []peer.ID{bh.ID()}, Now: clock.Now})
	t.Cleanup(func() { reg.Close() })
	other := NewRegistrar(testkit.Host(t, testkit.Key(t, "other relay")), RegistrarConfig{Bootstraps: []peer.ID{rh.ID()}})
	t.Cleanup(func() { other.Close() })
	testkit.Connect(t, nh, bh)
	testkit.Connect(t, nh, rh)
	testkit.Connect(t, sh, bh)
	testkit.Connect(t, sh, rh)
	ctx := testkit.Context(t, 30*time.Second)

	if _, err := FetchVoucher(ctx, sh, bh.ID()); !errors.Is(err, wire.NotFound) {
		t.Fatalf("a peer the directory does not hold got: %v", err)
	}
	v, err := FetchVoucher(ctx, nh, bh.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(v.Expires()); got < VoucherTTL-time.Minute || got > VoucherTTL+time.Minute {
		t.Fatalf("voucher lasts %v, want %v", got, VoucherTTL)
	}
	if reg.Registered(nk.ID()) {
		t.Fatal("registered before presenting")
	}
	if err := Register(ctx, sh, rh.ID(), v); !errors.Is(err, wire.Forbidden) {
		t.Fatalf("another peer's registration: %v", err)
	}
	if err := Register(ctx, nh, rh.ID(), v); err != nil {
		t.Fatal(err)
	}
	if !reg.Registered(nk.ID()) || reg.Registered(sk.ID()) {
		t.Fatal("the relay did not count exactly the presenting node as registered")
	}
	testkit.Connect(t, nh, other.h)
	if err := Register(ctx, nh, other.h.ID(), v); !errors.Is(err, wire.Forbidden) {
		t.Fatalf("a relay that does not trust the bootstrap: %v", err)
	}
	clock.Advance(VoucherTTL + time.Minute) // the voucher was issued after the clock was read
	if reg.Registered(nk.ID()) {
		t.Fatal("still registered once the voucher expired")
	}
	if err := Register(ctx, nh, rh.ID(), v); !errors.Is(err, wire.Expired) {
		t.Fatalf("an expired voucher: %v", err)
	}
}

// TestRegisterIsBoundedPerPeerAndInTotal: many identities each get
// RegisterBurst presentations and no more, and all of them together no
// more than RegisterTotalBurst; the clock stands still. The same holds
// for the voucher server.
func TestRegisterIsBoundedPerPeerAndInTotal(t *testing.T) {
	now := testkit.Epoch
	clock := func() time.Time { return now }
	reg := NewRegistrar(testkit.Host(t, testkit.Key(t, "relay")), RegistrarConfig{Now: clock})
	t.Cleanup(func() { reg.Close() })
	dir := &records{m: map[peer.ID]*directory.SignedRecord{}}
	bk := testkit.Key(t, "bootstrap")
	vs, err := NewVoucherServer(testkit.Host(t, bk), VoucherConfig{Lookup: dir.lookup, Sign: signer(bk), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	for _, tc := range []struct {
		name         string
		serve        func(context.Context, peer.ID, []byte) (any, error)
		burst, total int
	}{
		{"register", reg.serve, RegisterBurst, RegisterTotalBurst},
		{"voucher", vs.serve, VoucherBurst, VoucherTotalBurst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served := 0
			for i := range tc.total/tc.burst + 100 {
				id := testkit.Key(t, fmt.Sprintf("%s flooder %d", tc.name, i)).ID()
				for j := range tc.burst + 1 {
					_, err := tc.serve(context.Background(), id, []byte{0xa1}) // malformed: the limiter comes first
					limited := errors.Is(err, wire.RateLimited)
					switch {
					case j == tc.burst && !limited:
						t.Fatalf("identity %d got more than its burst", i)
					case !limited:
						served++
					}
				}
			}
			if served != tc.total {
				t.Fatalf("%d requests served in all, want the shared burst %d", served, tc.total)
			}
		})
	}
}

// TestRegistrationsListIsBounded: a full list drops expired entries to
// make room, and refuses a newcomer when none has expired; a peer already
// on it may present again.
func TestRegistrationsListIsBounded(t *testing.T) {
	bk, nk := testkit.Key(t, "bootstrap"), testkit.Key(t, "node")
	now := testkit.Epoch.Add(time.Hour)
	reg := NewRegistrar(testkit.Host(t, testkit.Key(t, "relay")), RegistrarConfig{Bootstraps: []peer.ID{bk.ID()}, Now: func() time.Time { return now }})
	t.Cleanup(func() { reg.Close() })
	v, err := SignRegistration(signer(bk), bk.ID(), signedRecord(t, nk, "node", 1), testkit.Epoch, VoucherTTL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(until time.Time) {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		clear(reg.until)
		for i := range MaxRegistrations {
			reg.until[peer.ID(fmt.Sprint(i))] = until
		}
	}
	present := func() error {
		reg.lim = newLimits(1e9, 1<<30, 1e9, 1<<30, time.Now) // this test is about the list
		_, err := reg.serve(context.Background(), nk.ID(), body)
		return err
	}
	fill(now.Add(time.Minute))
	if err := present(); !errors.Is(err, wire.RateLimited) {
		t.Fatalf("a full list took a newcomer: %v", err)
	}
	reg.mu.Lock()
	reg.until[peer.ID("0")], reg.until[nk.ID()] = now, now.Add(time.Minute) // one expired; nk replaces it
	delete(reg.until, peer.ID("1"))
	reg.mu.Unlock()
	if err := present(); err != nil {
		t.Fatalf("a peer already on the list: %v", err)
	}
	fill(now) // all expired
	if err := present(); err != nil || !reg.Registered(nk.ID()) || reg.Len() != 1 {
		t.Fatalf("expired entries were not dropped: %v, %d left", err, reg.Len())
	}
}

func FuzzRegister(f *testing.F) {
	bk, nk := testkit.Key(f, "bootstrap"), testkit.Key(f, "node")
	v, err := SignRegistration(signer(bk), bk.ID(), signedRecord(f, nk, "node", 1), testkit.Epoch, VoucherTTL)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := wire.Marshal(v)
	f.Add(seed)
	f.Add([]byte{0xa0})
	reg := NewRegistrar(testkit.Host(f, testkit.Key(f, "relay")), RegistrarConfig{Bootstraps: []peer.ID{bk.ID()},
		Now: func() time.Time { return testkit.Epoch.Add(time.Hour) }})
	defer reg.Close()
	reg.lim = newLimits(1e9, 1<<30, 1e9, 1<<30, time.Now)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := reg.serve(context.Background(), nk.ID(), b); err == nil && !reg.Registered(nk.ID()) {
			t.Fatal("accepted but not registered")
		}
	})
}

func FuzzVoucherRequest(f *testing.F) {
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa1, 0x01, 0x00})
	bk, nk := testkit.Key(f, "bootstrap"), testkit.Key(f, "node")
	dir := &records{m: map[peer.ID]*directory.SignedRecord{nk.ID(): signedRecord(f, nk, "node", 1)}}
	vs, err := NewVoucherServer(testkit.Host(f, bk), VoucherConfig{Lookup: dir.lookup, Sign: signer(bk)})
	if err != nil {
		f.Fatal(err)
	}
	defer vs.Close()
	vs.lim = newLimits(1e9, 1<<30, 1e9, 1<<30, time.Now)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := vs.serve(context.Background(), nk.ID(), b)
		if err == nil {
			if _, err := out.(*Registration).Verify(nk.ID(), func(p peer.ID) bool { return p == bk.ID() }, time.Now()); err != nil {
				t.Fatalf("the bootstrap's own voucher does not verify: %v", err)
			}
		}
	})
}

// FuzzRegistrationDecode is the node's reading of a voucher reply body and
// the relay's of a request: decode, then verify.
func FuzzRegistrationDecode(f *testing.F) {
	bk, nk := testkit.Key(f, "bootstrap"), testkit.Key(f, "node")
	v, err := SignRegistration(signer(bk), bk.ID(), signedRecord(f, nk, "node", 1), testkit.Epoch, VoucherTTL)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := wire.Marshal(v)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var reg Registration
		if wire.UnmarshalCanonical(b, &reg) != nil {
			return
		}
		got, err := reg.Verify(nk.ID(), func(p peer.ID) bool { return p == bk.ID() }, testkit.Epoch.Add(time.Hour))
		if err == nil && (got.Peer != nk.ID() || got.Bootstrap != bk.ID()) {
			t.Fatalf("verified for %s by %s", got.Peer, got.Bootstrap)
		}
		if err != nil && wire.StatusOf(err) == wire.Internal {
			t.Fatalf("a refusal without a status: %v", err)
		}
	})
}
