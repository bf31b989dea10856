package dht

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// Issue 15, "Invites that reveal no one": a stranger must not tell a
// handle someone holds from one nobody holds, by the bytes of the answers
// or by their timing (protocols/directory doc.go, "Decoys").

// enumMesh is a bootstrap with registered users whose handles are all
// enumLen bytes long, published as a home node publishes (internal/presence:
// its relays, name = handle, seq = SeqAt(issued)), and a prober, eve.
type enumMesh struct {
	*testMesh
	users []string
	relay ma.Multiaddr
}

const enumLen = 7

func startEnumMesh(t *testing.T, cfg BootstrapConfig, users int) *enumMesh {
	t.Helper()
	names := []string{"eve"}
	for i := range users {
		names = append(names, fmt.Sprintf("user-%02d", i))
	}
	m := &enumMesh{testMesh: startMesh(t, memDS(), cfg, names...)}
	m.relay = ma.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/" + m.boot.ID().String() + "/p2p-circuit")
	ctx := testkit.Context(t, 10*time.Second)
	for _, n := range names[1:] {
		now := m.clock.Now()
		sr, err := directory.SignRecord(m.client[n].k, directory.Record{Handle: directory.Handle(n), Relays: []ma.Multiaddr{m.relay},
			Name: n, Seq: directory.SeqAt(now), Issued: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := directory.Publish(ctx, m.client[n].h, m.boot.ID(), sr); err != nil {
			t.Fatal(err)
		}
		m.users = append(m.users, n)
	}
	// Time passes: the records are hours old, the decoys days.
	m.clock.Advance(3 * time.Hour)
	return m
}

// ghost returns a fresh handle of enumLen bytes that nobody holds.
func ghost(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	return "g-" + hex.EncodeToString(b)[:enumLen-2]
}

// rawCall sends one request frame and returns the reply frame's body,
// exactly as read, and how long the exchange took as the caller sees it.
func rawCall(t *testing.T, h host.Host, to peer.ID, req map[int]any) ([]byte, time.Duration) {
	t.Helper()
	ctx := testkit.Context(t, 10*time.Second)
	start := time.Now()
	s, err := h.NewStream(ctx, to, directory.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := wire.WriteMsg(s, directory.MaxRequest, req); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	raw, err := wire.ReadFrame(s, directory.MaxResponse)
	if err != nil {
		t.Fatal(err)
	}
	return raw, time.Since(start)
}

func lookupReq(h string) map[int]any { return map[int]any{1: int(directory.OpLookup), 3: h} }
func lookupPeerReq(p peer.ID) map[int]any {
	return map[int]any{1: int(directory.OpLookupPeer), 4: []byte(p)}
}
func putReq(to peer.ID, sealed []byte) map[int]any {
	return map[int]any{1: int(directory.OpMailboxPut), 4: []byte(to), 5: sealed}
}

// recordOf decodes an OK reply's record.
func recordOf(t *testing.T, raw []byte) (*directory.SignedRecord, *directory.Record) {
	t.Helper()
	var rep exchange.Reply
	if err := wire.UnmarshalCanonical(raw, &rep); err != nil || rep.Status != wire.OK {
		t.Fatalf("reply %x: %v (%v %s)", raw, err, rep.Status, rep.Message)
	}
	var sr directory.SignedRecord
	if err := wire.UnmarshalCanonical(rep.Body, &sr); err != nil {
		t.Fatal(err)
	}
	rec, err := sr.Verify()
	if err != nil {
		t.Fatal(err)
	}
	return &sr, rec
}

// shape is what the bytes of a reply say beyond the values themselves:
// its length, and each payload field's key and encoded length.
func shape(t *testing.T, raw []byte) string {
	t.Helper()
	sr, _ := recordOf(t, raw)
	var fields map[uint64]cbor.RawMessage
	if err := wire.Unmarshal(sr.Payload, &fields); err != nil {
		t.Fatal(err)
	}
	keys := make([]uint64, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := fmt.Sprintf("reply %d bytes, payload %d, sig %d:", len(raw), len(sr.Payload), len(sr.Sig))
	for _, k := range keys {
		out += fmt.Sprintf(" %d:%d(major %d)", k, len(fields[k]), fields[k][0]>>5)
	}
	return out
}

func TestEnumAnswersLookTheSame(t *testing.T) {
	m := startEnumMesh(t, BootstrapConfig{Rate: 1e6, Burst: 1e6}, 3)
	eve := m.client["eve"]
	real, fake := m.users[0], ghost(t)

	realRaw, _ := rawCall(t, eve.h, m.boot.ID(), lookupReq(real))
	fakeRaw, _ := rawCall(t, eve.h, m.boot.ID(), lookupReq(fake))
	_, realRec := recordOf(t, realRaw)
	_, fakeRec := recordOf(t, fakeRaw)

	t.Run("a lookup of a handle nobody holds answers a record of the same shape", func(t *testing.T) {
		if a, b := shape(t, realRaw), shape(t, fakeRaw); a != b {
			t.Fatalf("shapes differ:\nreal  %s\ndecoy %s", a, b)
		}
		if string(fakeRec.Handle) != fake || fakeRec.Name != fake || !slices.EqualFunc(fakeRec.Relays, realRec.Relays, ma.Multiaddr.Equal) {
			t.Fatalf("decoy %+v, real %+v", fakeRec, realRec)
		}
		if age := m.clock.Now().Sub(fakeRec.Issued); age < 0 || age > directory.DecoyMaxDays*directory.DecoyDay {
			t.Fatalf("decoy issued %v ago", age)
		}
		if fakeRec.Seq != directory.SeqAt(fakeRec.Issued) && fakeRec.Seq/1e9 != uint64(fakeRec.Issued.Unix()) {
			t.Fatalf("decoy seq %d does not match its issued time %v", fakeRec.Seq, fakeRec.Issued)
		}
	})
	t.Run("the same decoy comes back, byte for byte, also after a restart", func(t *testing.T) {
		again, _ := rawCall(t, eve.h, m.boot.ID(), lookupReq(fake))
		if !bytes.Equal(again, fakeRaw) {
			t.Fatal("two lookups of one unheld handle differ")
		}
		d2, err := NewDirectory(testkit.Context(t, 5*time.Second), dirNamespace(m.ds), DirectoryConfig{Now: m.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		sr, err := d2.Lookup(testkit.Context(t, 5*time.Second), directory.Handle(fake))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := recordOf(t, fakeRaw); !bytes.Equal(sr.Payload, got.Payload) || !bytes.Equal(sr.Sig, got.Sig) {
			r1, _ := sr.Unverified()
			_, r2 := recordOf(t, fakeRaw)
			t.Fatalf("the decoy changed across a restart: %+v / %+v", r1, r2)
		}
	})
	t.Run("lookup-peer answers the decoy's peer ID as a real one's", func(t *testing.T) {
		r, _ := rawCall(t, eve.h, m.boot.ID(), lookupPeerReq(realRec.Peer))
		f, _ := rawCall(t, eve.h, m.boot.ID(), lookupPeerReq(fakeRec.Peer))
		if !bytes.Equal(r, realRaw) || !bytes.Equal(f, fakeRaw) {
			t.Fatal("lookup-peer does not answer what lookup did")
		}
	})
	t.Run("mail for a decoy is taken with the same reply, and quotas", func(t *testing.T) {
		r, _ := rawCall(t, eve.h, m.boot.ID(), putReq(realRec.Peer, []byte("sealed")))
		f, _ := rawCall(t, eve.h, m.boot.ID(), putReq(fakeRec.Peer, []byte("sealed")))
		if !bytes.Equal(r, f) {
			t.Fatalf("replies differ: %x / %x", r, f)
		}
		var full [2][]byte
		for i, to := range []peer.ID{realRec.Peer, fakeRec.Peer} {
			for range DefaultMaxItemsPerSender {
				full[i], _ = rawCall(t, eve.h, m.boot.ID(), putReq(to, []byte("sealed")))
			}
		}
		if !bytes.Equal(full[0], full[1]) || !bytes.Contains(full[0], []byte("mailbox full")) {
			t.Fatalf("the quota answers differ: %x / %x", full[0], full[1])
		}
	})
	t.Run("a decoy is never vouched for nor owns anything", func(t *testing.T) {
		dir := m.b.Directory()
		if dir.Owns(fakeRec.Peer) || !dir.Owns(realRec.Peer) {
			t.Fatal("Owns")
		}
		if _, err := dir.Registration(testkit.Context(t, time.Second), fakeRec.Peer); err != directory.ErrNotFound {
			t.Fatalf("Registration of a decoy: %v", err)
		}
		if _, err := dir.Resolve(testkit.Context(t, time.Second), directory.Handle(fake)); err != directory.ErrNotFound {
			t.Fatalf("Resolve of an unheld handle: %v", err)
		}
		if !dir.Registered(fakeRec.Peer) {
			t.Fatal("the mailboxes would refuse mail for a decoy handed out")
		}
	})
	t.Run("a peer ID never handed out is still NotFound", func(t *testing.T) {
		k := keys.GeneratePeerKey()
		raw, _ := rawCall(t, eve.h, m.boot.ID(), lookupPeerReq(k.ID()))
		var rep exchange.Reply
		if err := wire.UnmarshalCanonical(raw, &rep); err != nil || rep.Status != wire.NotFound {
			t.Fatalf("got %v %v", rep.Status, err)
		}
	})
	t.Run("claiming a handle replaces its decoy, which is then gone", func(t *testing.T) {
		ctx := testkit.Context(t, 5*time.Second)
		k := testkit.Key(t, "late")
		now := m.clock.Now()
		sr, err := directory.SignRecord(k, directory.Record{Handle: directory.Handle(fake), Seq: 1, Issued: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.b.Directory().Publish(ctx, sr); err != nil {
			t.Fatal(err)
		}
		if _, rec := recordOf(t, first(rawCall(t, eve.h, m.boot.ID(), lookupReq(fake)))); rec.Peer != k.ID() {
			t.Fatal("the claim is not served")
		}
		raw, _ := rawCall(t, eve.h, m.boot.ID(), lookupPeerReq(fakeRec.Peer))
		var rep exchange.Reply
		if err := wire.UnmarshalCanonical(raw, &rep); err != nil || rep.Status != wire.NotFound {
			t.Fatalf("the replaced decoy: %v %v", rep.Status, err)
		}
	})
}

func first[A, B any](a A, _ B) A { return a }

// TestEnumTimingIsTheSame is the timing half: over 1000 tries of each
// kind, interleaved in random order, the round trips a stranger measures
// for handles someone holds and for handles nobody holds (and for their
// peer IDs, and mail to them) come from one distribution, by a two-sample
// Kolmogorov–Smirnov test. Each handle, peer or recipient is asked once,
// as an enumerator asks a list of candidates. The server does the same
// work on both paths (dht/directory.go, "Decoys"), so this does not rest
// on luck; the critical value is that of α = 10⁻⁶, so that a loaded
// machine's noise, which falls on both kinds alike, does not fail it,
// while skipping one signature check on one path (about 60 µs) fails it
// by far (D ≈ 0.5 and more, tried).
func TestEnumTimingIsTheSame(t *testing.T) {
	const tries, warm = 1000, 50
	m := startEnumMesh(t, BootstrapConfig{Rate: 1e6, Burst: 1e6}, 1)
	eve := m.client["eve"]
	ctx := testkit.Context(t, time.Minute)
	dir := m.b.Directory()
	var handles []string
	var peers, ghostPeers []peer.ID
	for i := range tries + warm {
		k := keys.GeneratePeerKey()
		h := fmt.Sprintf("u-%05d", i)
		now := m.clock.Now()
		sr, err := directory.SignRecord(&k, directory.Record{Handle: directory.Handle(h), Relays: []ma.Multiaddr{m.relay},
			Name: h, Seq: directory.SeqAt(now), Issued: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.Publish(ctx, sr); err != nil {
			t.Fatal(err)
		}
		handles, peers = append(handles, h), append(peers, k.ID())
		g := fmt.Sprintf("g-%05d", i)
		dsr, err := dir.Lookup(ctx, directory.Handle(g)) // handed out, as eve would have
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := dsr.Verify()
		ghostPeers = append(ghostPeers, rec.Peer)
		if _, err := dir.Lookup(ctx, directory.Handle(h)); err != nil {
			t.Fatal(err)
		}
	}
	m.clock.Advance(time.Hour)
	sealed := make([]byte, 600)
	cases := []struct {
		name       string
		real, fake func(i int) map[int]any
	}{
		{"lookup", func(i int) map[int]any { return lookupReq(handles[i]) },
			func(int) map[int]any { return lookupReq(ghost(t)) }}, // never asked before, as an enumerator's
		{"lookup-peer", func(i int) map[int]any { return lookupPeerReq(peers[i]) },
			func(i int) map[int]any { return lookupPeerReq(ghostPeers[i]) }},
		{"mailbox-put", func(i int) map[int]any { return putReq(peers[i], sealed) },
			func(i int) map[int]any { return putReq(ghostPeers[i], sealed) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range warm { // warm both paths up
				rawCall(t, eve.h, m.boot.ID(), c.real(tries+i))
				rawCall(t, eve.h, m.boot.ID(), c.fake(tries+i))
			}
			var real, fake []float64
			var realLen, fakeLen int
			for i := range tries {
				order := []bool{true, false}
				if mrand.IntN(2) == 0 {
					order = []bool{false, true}
				}
				for _, isReal := range order {
					if isReal {
						raw, d := rawCall(t, eve.h, m.boot.ID(), c.real(i))
						real, realLen = append(real, float64(d)), len(raw)
					} else {
						raw, d := rawCall(t, eve.h, m.boot.ID(), c.fake(i))
						fake, fakeLen = append(fake, float64(d)), len(raw)
					}
				}
			}
			if realLen != fakeLen {
				t.Fatalf("reply sizes differ: %d / %d", realLen, fakeLen)
			}
			d := ksStatistic(real, fake)
			crit := ksCritical(1e-6, len(real), len(fake))
			t.Logf("%s: KS D = %.4f (critical %.4f at α=1e-6); medians %v / %v", c.name, d, crit,
				time.Duration(median(real)), time.Duration(median(fake)))
			if d > crit {
				t.Fatalf("%s: the timings of real and unheld handles differ: D = %.4f > %.4f", c.name, d, crit)
			}
		})
	}
}

// ksStatistic is the two-sample Kolmogorov–Smirnov statistic: the largest
// distance between the two empirical distribution functions.
func ksStatistic(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// ksCritical is the asymptotic critical value of the two-sample test at
// significance alpha: sqrt(-ln(alpha/2)/2) · sqrt((n+m)/(n·m)).
func ksCritical(alpha float64, n, m int) float64 {
	return math.Sqrt(-math.Log(alpha/2)/2) * math.Sqrt(float64(n+m)/float64(n*m))
}

func median(x []float64) float64 {
	x = slices.Clone(x)
	slices.Sort(x)
	return x[len(x)/2]
}

func TestEnumKolmogorovSmirnov(t *testing.T) {
	same := []float64{1, 2, 3, 4, 5}
	if d := ksStatistic(same, same); d != 0 {
		t.Fatalf("identical samples: D = %v", d)
	}
	if d := ksStatistic([]float64{1, 2, 3}, []float64{4, 5, 6}); d != 1 {
		t.Fatalf("disjoint samples: D = %v", d)
	}
	if d := ksStatistic([]float64{1, 3}, []float64{2, 4}); d != 0.5 {
		t.Fatalf("interleaved samples: D = %v", d)
	}
	// A shift of half a spread is found at 1000 samples each; noise alone is not.
	var a, b, c []float64
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 1000 {
		a = append(a, r.NormFloat64())
		b = append(b, r.NormFloat64())
		c = append(c, r.NormFloat64()+0.5)
	}
	crit := ksCritical(1e-6, 1000, 1000)
	if d := ksStatistic(a, b); d > crit {
		t.Fatalf("same distribution rejected: D = %v > %v", d, crit)
	}
	if d := ksStatistic(a, c); d <= crit {
		t.Fatalf("shifted distribution accepted: D = %v ≤ %v", d, crit)
	}
}

// dirNamespace is the bootstrap's directory namespace of ds.
func dirNamespace(ds datastore.Batching) datastore.Batching {
	return namespace.Wrap(ds, store.Directory)
}
