package infra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
	psnapshot "github.com/ocmt/mesh/protocols/snapshot"
	"github.com/ocmt/mesh/relay"
)

// BenchmarkSnapshotCacheFootprint measures what a relay's snapshot cache
// costs to hold: MESH_BENCH_SNAPSHOTS (default 200) small snapshots (2 KiB
// of plaintext each) and footprintLarge (4) of 1 MiB, sealed beforehand
// by footprintOwners (8) owners that each hold a reservation on the relay
// (a peer's pushes are rate-limited), pushed with /ocmt/snapshot/1 to a
// relay started by StartRelay on a fresh home.
//
// The baseline is the least a relay could store: the same sealed blocks
// (keyed by CID) and signed manifests put into a bare pebble store opened
// with the relay's sizing (store.OpenFor(dir, store.Relay)). One pair per
// iteration, ours and the baseline, the order alternating, after one warm
// pair. Both are measured the same way: the process's live heap after a
// full GC and its RSS (/proc/self/statm, freed memory returned to the OS)
// before and after the snapshots are stored, and the store folder's size
// (apparent bytes of every file, and of pebble's tables among them) once
// the store is closed: closing flushes the memtable to a table, and pebble
// keeps the write-ahead log it wrote to recycle it, so the folder holds
// the data about twice until later writes reuse that log.
//
// It reports the sealed bytes stored ("sealed-bytes": the blocks and the
// signed manifests, deterministic), and as medians over the pairs: disk
// bytes of each ("relay-disk-bytes", "pebble-disk-bytes"), the overhead
// against the sealed bytes ("relay-disk/sealed", "pebble-disk/sealed";
// tables only: "relay-sst/sealed", "pebble-sst/sealed"), the pair ratios
// relay/pebble of disk and heap ("disk-x", "heap-x", each with min and
// max), and heap and
// RSS bytes per stored snapshot of each ("relay-heap-B/snap",
// "pebble-heap-B/snap", "relay-rss-B/snap", "pebble-rss-B/snap").
//
//	go test ./node/infra -run '^$' -bench SnapshotCacheFootprint -benchtime 5x
func BenchmarkSnapshotCacheFootprint(b *testing.B) {
	if testing.Short() {
		b.Skip("seals and pushes hundreds of snapshots to fresh relays: skipped in -short")
	}
	small := 200
	if s := os.Getenv("MESH_BENCH_SNAPSHOTS"); s != "" {
		var err error
		if small, err = strconv.Atoi(s); err != nil || small < 1 {
			b.Fatalf("MESH_BENCH_SNAPSHOTS=%q: want a count of snapshots", s)
		}
	}
	ctx := context.Background()
	boot, err := StartBootstrap(ctx, Config{Home: benchHome(b, "fboot"), Listen: loopback})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { boot.Close() })
	bootInfo := addrInfo(b, boot)
	reader := testkit.Key(b, "reader").ID()

	owners := make([]*footprintOwner, footprintOwners)
	for i := range owners {
		o := &footprintOwner{key: testkit.Key(b, fmt.Sprint("owner", i)), blocks: memBlocks{}}
		publishRecord(b, ctx, o.key, bootInfo, fmt.Sprintf("owner-%d", i))
		owners[i] = o
	}
	var set footprintSet
	for i := range small + footprintLarge {
		o := owners[i%len(owners)]
		size := footprintSmall
		if i >= small {
			size = footprintLargeBytes
		}
		now := time.Now()
		s, err := snap.Seal(ctx, o.key, testkit.Stream(byte(i), int64(size)), snap.Options{Resource: fmt.Sprintf("files/f%d", i),
			Version: 1, Readers: []peer.ID{reader}, Created: now, Expiry: now.Add(24 * time.Hour)}, o.blocks)
		if err != nil {
			b.Fatal(err)
		}
		env, err := s.Signed.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		o.sealed = append(o.sealed, s)
		set.manifests = append(set.manifests, env)
	}
	for _, o := range owners {
		for c, blk := range o.blocks {
			set.blocks = append(set.blocks, block{c, blk})
		}
	}
	sealedBytes := set.bytes()
	n := small + footprintLarge
	b.Logf("%d snapshots (%d of %d B, %d of %d B) from %d owners: %d blocks, %d sealed bytes (blocks and signed manifests)",
		n, small, footprintSmall, footprintLarge, footprintLargeBytes, len(owners), len(set.blocks), sealedBytes)

	ours := func() footprint { return relayFootprint(b, ctx, boot, bootInfo, owners) }
	base := func() footprint { return pebbleFootprint(b, ctx, set) }
	ours() // warm: first relay start, first connections, lazily built state
	base()
	var fo, fb []footprint
	swap := false
	for b.Loop() {
		var o, s footprint
		if swap {
			s, o = base(), ours()
		} else {
			o, s = ours(), base()
		}
		swap = !swap
		fo, fb = append(fo, o), append(fb, s)
		b.Logf("pair %d: disk %d / %d B (%.3f×; tables %d / %d B), heap %.0f / %.0f B per snapshot, RSS %.0f / %.0f B per snapshot",
			len(fo), o.disk, s.disk, float64(o.disk)/float64(s.disk), o.sst, s.sst, o.heap/float64(n), s.heap/float64(n), o.rss/float64(n), s.rss/float64(n))
	}
	b.StopTimer()
	med := func(fs []footprint, f func(footprint) float64) float64 {
		xs := make([]float64, len(fs))
		for i, x := range fs {
			xs[i] = f(x)
		}
		return testkit.Quantile(xs, 0.5)
	}
	disk := func(f footprint) float64 { return float64(f.disk) }
	sst := func(f footprint) float64 { return float64(f.sst) }
	diskX, heapX := make([]float64, len(fo)), make([]float64, len(fo))
	for i := range fo {
		diskX[i] = float64(fo[i].disk) / float64(fb[i].disk)
		heapX[i] = fo[i].heap / fb[i].heap
	}
	b.ReportMetric(float64(sealedBytes), "sealed-bytes")
	b.ReportMetric(med(fo, disk), "relay-disk-bytes")
	b.ReportMetric(med(fb, disk), "pebble-disk-bytes")
	b.ReportMetric(med(fo, disk)/float64(sealedBytes), "relay-disk/sealed")
	b.ReportMetric(med(fb, disk)/float64(sealedBytes), "pebble-disk/sealed")
	b.ReportMetric(med(fo, sst)/float64(sealedBytes), "relay-sst/sealed")
	b.ReportMetric(med(fb, sst)/float64(sealedBytes), "pebble-sst/sealed")
	b.ReportMetric(testkit.Quantile(diskX, 0.5), "disk-x")
	b.ReportMetric(slices.Min(diskX), "disk-x-min")
	b.ReportMetric(slices.Max(diskX), "disk-x-max")
	per := func(f func(footprint) float64) func(footprint) float64 {
		return func(x footprint) float64 { return f(x) / float64(n) }
	}
	heap := func(f footprint) float64 { return f.heap }
	rss := func(f footprint) float64 { return f.rss }
	b.ReportMetric(testkit.Quantile(heapX, 0.5), "heap-x")
	b.ReportMetric(slices.Min(heapX), "heap-x-min")
	b.ReportMetric(slices.Max(heapX), "heap-x-max")
	b.ReportMetric(med(fo, per(heap)), "relay-heap-B/snap")
	b.ReportMetric(med(fb, per(heap)), "pebble-heap-B/snap")
	b.ReportMetric(med(fo, per(rss)), "relay-rss-B/snap")
	b.ReportMetric(med(fb, per(rss)), "pebble-rss-B/snap")
}

// The benchmark's set of snapshots (MESH_BENCH_SNAPSHOTS gives the count
// of small ones).
const (
	footprintOwners     = 8 // a peer pushes at most 40 at once (psnapshot's peerBurst): 200 need several owners
	footprintSmall      = 2 << 10
	footprintLarge      = 4
	footprintLargeBytes = 1 << 20
)

// footprint is what storing the set cost: bytes of live heap and RSS
// added, and the store folder's bytes once closed.
type footprint struct {
	heap, rss float64
	disk, sst int64 // every file; pebble's tables (*.sst) of them
}

// footprintOwner is an owner whose snapshots are sealed beforehand; its
// blocks stay in memory, allocated before any measurement.
type footprintOwner struct {
	key    *keys.PeerKey
	blocks memBlocks
	sealed []*snap.Sealed
	reg    *relayaccess.Registration // the bootstrap's voucher, fetched once
}

type block struct {
	c    cid.Cid
	data []byte
}

// footprintSet is every sealed block and signed manifest of the set.
type footprintSet struct {
	blocks    []block
	manifests [][]byte
}

func (s footprintSet) bytes() int64 {
	var n int64
	for _, b := range s.blocks {
		n += int64(len(b.data))
	}
	for _, m := range s.manifests {
		n += int64(len(m))
	}
	return n
}

// memBlocks is an owner's block store in memory (Seal's sink, Push's
// source): reading it allocates nothing that outlives a push.
type memBlocks map[cid.Cid][]byte

func (m memBlocks) PutBlock(_ context.Context, c cid.Cid, data []byte) error {
	m[c] = bytes.Clone(data)
	return nil
}

func (m memBlocks) Block(_ context.Context, c cid.Cid) ([]byte, error) {
	d, ok := m[c]
	if !ok {
		return nil, fmt.Errorf("no block %s", c)
	}
	return d, nil
}

// relayFootprint starts a relay on a fresh home, has every owner reserve
// on it from a fresh host and push its snapshots, and measures.
func relayFootprint(b *testing.B, ctx context.Context, boot *Peer, bootInfo peer.AddrInfo, owners []*footprintOwner) footprint {
	relHome := benchHome(b, "frelay")
	rel, err := StartRelay(ctx, RelayConfig{Config: Config{Home: relHome, Listen: loopback}, Bootstrap: boot.Addrs(),
		Relay: relay.Config{AllowPrivateAddrs: true}})
	if err != nil {
		b.Fatal(err)
	}
	relInfo := addrInfo(b, rel)
	hosts := make([]host.Host, len(owners))
	for i, o := range owners {
		hosts[i] = bareHost(b, o.key)
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		err := admit(actx, hosts[i], bootInfo, relInfo, true, &o.reg)
		cancel()
		if err != nil {
			b.Fatalf("owner %d reserving on the relay: %v", i, err)
		}
	}
	before := memNow()
	var wg sync.WaitGroup
	errs := make([]error, len(owners))
	for i, o := range owners {
		wg.Go(func() {
			for _, s := range o.sealed {
				// The relay records a reservation once its answer is on the
				// wire, which the owner may read first: refused until then.
				var err error
				testkit.Poll(time.Minute, func() bool {
					err = psnapshot.Push(ctx, hosts[i], relInfo.ID, s.Signed, o.blocks)
					return !errors.Is(err, wire.Forbidden)
				})
				if err != nil {
					errs[i] = fmt.Errorf("owner %d's push of %s: %w", i, s.Manifest.Resource, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	after := memNow()
	for _, h := range hosts {
		h.Close()
	}
	if err := rel.Close(); err != nil {
		b.Fatal(err)
	}
	return footprint{heap: after.heap - before.heap, rss: after.rss - before.rss, disk: dirBytes(b, relHome.StorePath(), ""), sst: dirBytes(b, relHome.StorePath(), ".sst")}
}

// pebbleFootprint puts the set into a bare pebble store with the relay's
// sizing and measures.
func pebbleFootprint(b *testing.B, ctx context.Context, set footprintSet) footprint {
	dir := benchHome(b, "fpebble").StorePath()
	st, err := store.OpenFor(dir, store.Relay)
	if err != nil {
		b.Fatal(err)
	}
	before := memNow()
	for _, blk := range set.blocks {
		if err := st.Put(ctx, ds.NewKey("/b/"+blk.c.String()), blk.data); err != nil {
			b.Fatal(err)
		}
	}
	for i, m := range set.manifests {
		if err := st.Put(ctx, ds.NewKey(fmt.Sprintf("/m/%d", i)), m); err != nil {
			b.Fatal(err)
		}
	}
	after := memNow()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return footprint{heap: after.heap - before.heap, rss: after.rss - before.rss, disk: dirBytes(b, dir, ""), sst: dirBytes(b, dir, ".sst")}
}

// publishRecord publishes a directory record for k at the bootstrap.
func publishRecord(b *testing.B, ctx context.Context, k *keys.PeerKey, boot peer.AddrInfo, handle string) {
	h := bareHost(b, k)
	defer h.Close()
	if err := h.Connect(ctx, boot); err != nil {
		b.Fatal(err)
	}
	sr, err := directory.SignRecord(k, directory.Record{Handle: directory.Handle(handle), Seq: 1, Issued: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	if err := directory.Publish(ctx, h, boot.ID, sr); err != nil {
		b.Fatal(err)
	}
}

// addrInfo is p's addresses as one AddrInfo.
func addrInfo(b *testing.B, p *Peer) peer.AddrInfo {
	infos := mustInfos(p.Addrs())
	if len(infos) == 0 {
		b.Fatal("a peer without addresses")
	}
	return infos[0]
}

// memSample is the process's memory now, after a full GC with freed
// memory returned to the OS: live heap and RSS, in bytes.
type memSample struct{ heap, rss float64 }

func memNow() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var rss float64
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseFloat(f[1], 64)
			rss = pages * float64(os.Getpagesize())
		}
	}
	return memSample{heap: float64(ms.HeapAlloc), rss: rss}
}

// dirBytes is the apparent size of every file under dir whose name ends
// in suffix.
func dirBytes(b *testing.B, dir, suffix string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), suffix) {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
