package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/relay"
)

// BenchmarkWakeOverhead measures wake-on-request in one process: a
// bootstrap, a relay whose wake hook (a wakehook.HookFunc) starts alice's
// node again in-process with Start on her home (the relay's reservation
// budget raised: wakeBenchReservations), alice and bob. Alice shares a
// 128 KiB report, larger than the relay's 64 KiB cache, so the cache
// cannot answer for it and a read while she sleeps must wake her.
//
// One iteration is one wake, at most one a second (wakeBenchPace): alice
// hibernates (Hibernate, then Close, as the process would exit), the
// relay sees her connection gone, bob asks with Quick (found unreachable,
// as `mesh get` first does) and then with Wake, and reads the report from
// the woken alice. The hook records the node's own start time: from the
// hook's call to the woken node holding its reservation again (Start,
// which comes back unlocked from the half the relay kept, then the
// reservation; its end is the time of the node's log record of the
// reservation, or a 1 ms poll of HasReservation should that record
// change). The wake's overhead is the request → answer time (bob's quick
// ask through the end of his woken read) less that start time: what
// waking costs beyond starting the node. The baseline is a live read of
// the same report from the running alice, paired with each wake (the
// order swapped every pair); one warm pair first.
//
// It runs twice: "retry=default" gives bob the production pauses before
// he asks an owner again (DefaultOwnerRetry after a failed attempt,
// meshnet.DefaultUnavailable after "not yet", both 1 s), which a wake's
// first read after the relay's answer may meet; "retry=test" keeps the
// tests' 50 ms. Each reports p50 and p99 of the overhead (goal p99 ≤
// 500 ms), of the request → answer time, of the start time, of the quick
// ask and of the live read, all in ms; "x", the median of the per-pair
// ratios request → answer / live read, with x-p10 and x-p90; and logs
// every wake's numbers. p99 of 20 wakes is their largest.
// MESH_BENCH_LOG=PREFIX writes every role's log (debug level; metadata,
// no secrets) to PREFIX.<benchmark name>.
//
//	go test ./node -run '^$' -bench WakeOverhead -benchtime 20x
func BenchmarkWakeOverhead(b *testing.B) {
	if testing.Short() {
		b.Skip("hibernates and wakes a home node again and again: skipped in -short")
	}
	b.Run("retry=default", func(b *testing.B) {
		benchWake(b, func(c *Config) {
			c.Timings.OwnerRetry, c.Timings.Mesh.Unavailable = DefaultOwnerRetry, meshnet.DefaultUnavailable
		})
	})
	b.Run("retry=test", func(b *testing.B) { benchWake(b, func(*Config) {}) })
}

// benchWake is BenchmarkWakeOverhead with bob's timings adjusted by
// retry.
func benchWake(b *testing.B, retry func(*Config)) {
	ctx := context.Background()
	w := &inProcessWaker{b: b, woke: make(chan wokenNode, 1)}
	m := startWakeInfra(b, wakehook.HookFunc(w.wake), wakeBenchCache)
	var aliceCfg Config
	alice := m.startNodeWith(b, "alice", "pw-a", func(c *Config) { c.ShareRate = 1e6; aliceCfg = *c })
	bob := m.startNodeWith(b, "bob", "pw-b", func(c *Config) { c.ShareRate = 1e6; retry(c) })
	w.setConfig(aliceCfg)

	const res, remote = "files/report", "alice/files/report"
	report, err := io.ReadAll(testkit.Stream(7, wakeBenchReport))
	if err != nil {
		b.Fatal(err)
	}
	if err := alice.PutResource(ctx, res, report); err != nil {
		b.Fatal(err)
	}
	if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "files/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "bob holds the grant", func() bool { g, _ := bob.Shared(ctx); return len(g) == 1 })
	waitFor(b, "the relay refused alice's report as too large for its cache", func() bool {
		st, _ := alice.Snapshots(ctx)
		return len(st) == 1 && len(st[0].Caches) == 1 && st[0].Caches[0].Error != ""
	})

	cur := alice
	var quick, total, start []time.Duration
	pace := time.NewTicker(wakeBenchPace)
	defer pace.Stop()
	wakeOnce := func() time.Duration {
		<-pace.C // untimed: the relay's rate limit, not a wait for an event (see wakeBenchPace)
		if _, err := cur.Hibernate(ctx); err != nil {
			b.Fatalf("alice's hibernate: %v", err)
		}
		id := cur.ID()
		cur.Close()
		waitFor(b, "the relay sees alice's node gone", func() bool {
			return m.relay.Host.Network().Connectedness(id) != network.Connected
		})
		t0 := time.Now()
		_, err := bob.Get(ctx, localapi.FetchRequest{Remote: remote, Quick: true})
		q := time.Since(t0)
		if !errors.Is(err, ErrUnreachable) {
			b.Fatalf("bob's quick read of the hibernating alice: %v, want unreachable", err)
		}
		f, err := bob.Get(ctx, localapi.FetchRequest{Remote: remote, Wake: true})
		took := time.Since(t0)
		if err != nil || f.Source != localapi.SourceWoken || !bytes.Equal(f.Data, report) {
			b.Fatalf("bob's read that wakes alice: %d bytes from %q, %v; want %d bytes from %q", len(f.Data), f.Source, err, len(report), localapi.SourceWoken)
		}
		woken := testkit.Within(b, waitLimit, w.woke, "the hook reports alice's node started")
		if woken.err != nil {
			b.Fatalf("the hook's start of alice: %v", woken.err)
		}
		cur = woken.node
		quick, total, start = append(quick, q), append(total, took), append(start, woken.took)
		b.Logf("wake %d: request → answer %v (quick ask %v), node start %v, overhead %v",
			len(total), took.Round(time.Millisecond), q.Round(time.Millisecond), woken.took.Round(time.Millisecond), (took - woken.took).Round(time.Millisecond))
		return took
	}
	liveRead := func() time.Duration {
		t0 := time.Now()
		f, err := bob.Get(ctx, localapi.FetchRequest{Remote: remote})
		took := time.Since(t0)
		if err != nil || f.Source != localapi.SourceOwner || !bytes.Equal(f.Data, report) {
			b.Fatalf("bob's live read: %d bytes from %q, %v", len(f.Data), f.Source, err)
		}
		return took
	}
	p := testkit.Pair(b, 1, wakeOnce, liveRead)
	b.StopTimer()
	if path := os.Getenv("MESH_BENCH_LOG"); path != "" {
		path += "." + strings.NewReplacer("/", "_", "=", "-").Replace(b.Name()) // one file per run
		if err := os.WriteFile(path, m.logs.bytes(), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	n := len(p.Ours)
	quick, total, start = quick[len(quick)-n:], total[len(total)-n:], start[len(start)-n:] // the warm pair's wake is not counted
	over := make([]time.Duration, n)
	for i := range over {
		over[i] = total[i] - start[i]
	}
	ms := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)))
		}
		return strings.Join(s, " ")
	}
	b.Logf("raw, ms, in wake order:\n  request → answer: %s\n  node start:       %s\n  overhead:         %s\n  quick ask:        %s\n  live read:        %s",
		ms(total), ms(start), ms(over), ms(quick), ms(p.Base))
	testkit.ReportQuantiles(b, "overhead", over, time.Millisecond, 0.50, 0.99)
	testkit.ReportQuantiles(b, "answer", total, time.Millisecond, 0.50, 0.99)
	testkit.ReportQuantiles(b, "start", start, time.Millisecond, 0.50, 0.99)
	testkit.ReportQuantiles(b, "quick", quick, time.Millisecond, 0.50, 0.99)
	testkit.ReportQuantiles(b, "live", p.Base, time.Millisecond, 0.50, 0.99)
	b.ReportMetric(float64(slices.Max(over))/float64(time.Millisecond), "overhead-max-ms")
	p.ReportX(b)
}

const (
	// wakeBenchCache is the relay's cache in BenchmarkWakeOverhead, and
	// wakeBenchReport the resource bob reads: larger, so the relay refuses
	// its snapshot and only a wake answers while alice sleeps (as in the
	// CLI's TestCLIOwnerSleepsAndIsWoken).
	wakeBenchCache  = 64 << 10
	wakeBenchReport = 128 << 10
	// wakeBenchPace spaces the wakes: each costs alice two requests to
	// the relay's /ocmt/wake/1 (hibernate, and resume as she starts),
	// whose per-peer bucket refills at 2 a second (protocols/wake
	// peerRate; burst 10). Faster, the relay refuses her resume after
	// five wakes and she comes back locked.
	wakeBenchPace = time.Second
	// wakeBenchReservations is each peer's reservation budget a minute at
	// the benchmark's relay: every wake is a new reservation, and with
	// the default (relay.DefaultReservationsPerMinute, 10) the eleventh
	// wake within a minute waits about 6 s for one, which is the node's
	// start time, not the wake's overhead.
	wakeBenchReservations = 600
)

// wokenNode is what the hook's start of a node gave.
type wokenNode struct {
	node *Node
	took time.Duration // from the hook's call to the node holding its reservation
	err  error
}

// inProcessWaker is a relay's wake hook that starts a hibernated home
// node in this process, from its home, as a supervisor would start its
// process: it returns once the start is under way (as wakehook.Exec
// does), and reports the started node on woke.
type inProcessWaker struct {
	b    testing.TB
	mu   sync.Mutex
	cfg  Config
	set  bool
	woke chan wokenNode
}

func (w *inProcessWaker) setConfig(cfg Config) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cfg, w.set = cfg, true
}

func (w *inProcessWaker) wake(_ context.Context, t wakehook.Target) error {
	w.mu.Lock()
	cfg, set := w.cfg, w.set
	w.mu.Unlock()
	if !set || t.Handle != "alice" {
		return fmt.Errorf("this hook wakes alice only, not %q", t.Handle)
	}
	reserved := make(chan time.Time, 1)
	cfg.Logger = slog.New(&reservationTap{Handler: cfg.Logger.Handler(), at: reserved})
	go func() {
		t0 := time.Now()
		n, err := Start(context.Background(), cfg)
		if err != nil {
			w.woke <- wokenNode{err: err}
			return
		}
		w.b.Cleanup(func() { n.Close() })
		// The node's own record of its reservation is exact; a poll of
		// HasReservation stands in should that record ever change.
		if !testkit.PollEvery(waitLimit, time.Millisecond, func() bool { return n.net.HasReservation() }) {
			w.woke <- wokenNode{node: n, err: errors.New("the woken node holds no reservation after " + waitLimit.String())}
			return
		}
		at := time.Now()
		select {
		case logged := <-reserved:
			at = logged
		default:
		}
		if n.vault.Locked() {
			err = errors.New("the woken node came back locked")
		}
		w.woke <- wokenNode{node: n, took: at.Sub(t0), err: err}
	}()
	return nil
}

// reservationTap passes a node's log on and notes when the node logged
// its first relay reservation (meshnet logs it as it records the
// reservation): the end of the node's start, exact to the record's time
// where a poll would be as late as the scheduler makes it.
type reservationTap struct {
	slog.Handler
	at chan time.Time
}

func (t *reservationTap) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "relay reservation" {
		select {
		case t.at <- r.Time:
		default:
		}
	}
	return t.Handler.Handle(ctx, r)
}

func (t *reservationTap) WithAttrs(as []slog.Attr) slog.Handler {
	return &reservationTap{Handler: t.Handler.WithAttrs(as), at: t.at}
}

func (t *reservationTap) WithGroup(name string) slog.Handler {
	return &reservationTap{Handler: t.Handler.WithGroup(name), at: t.at}
}

// startWakeInfra is startInfra with a relay that wakes through hook,
// caches at most cacheMax bytes and takes wakeBenchReservations
// reservations a minute from each peer.
func startWakeInfra(b *testing.B, hook wakehook.Hook, cacheMax int64) *testMesh {
	b.Helper()
	ctx := context.Background()
	m := &testMesh{bootHome: shortDir(b, "boot"), relHome: shortDir(b, "relay"), logs: &lockedLog{}}
	var err error
	m.boot, err = infra.StartBootstrap(ctx, infra.Config{Home: m.bootHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("bootstrap"), Revocations: testTimings.Revocations,
		WrapHost: func(h host.Host) host.Host { m.bootTap = testmesh.NewTapHost(h); return m.bootTap }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.boot.Close() })
	m.bootAddrs = m.boot.Addrs()
	m.relay, err = infra.StartRelay(ctx, infra.RelayConfig{
		Config: infra.Config{Home: m.relHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("relay"), Revocations: testTimings.Revocations,
			WrapHost: func(h host.Host) host.Host { m.relayTap = testmesh.NewTapHost(h); return m.relayTap }},
		Bootstrap:     m.bootAddrs,
		Relay:         relay.Config{AllowPrivateAddrs: true, Audit: &m.relayAudit, ReservationsPerMinute: wakeBenchReservations},
		CacheMaxBytes: cacheMax,
		Wake:          infra.WakeConfig{Hook: hook},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := m.relay
	b.Cleanup(func() { r.Close() })
	m.relayAddr = m.relay.Addrs()[0]
	return m
}
