package node

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/relay"
)

// BenchmarkContactUnderRelayAttack measures, in one run against one relay
// with its default limits, how a contact fares reaching a home node
// through the relay: bob reads a shared entry from alice over a new
// connection each time (relay circuit, handshake, share read), with no
// attack, then while 500 throwaway identities hold or keep trying to hold
// idle circuits to alice (idle-circuit attack), then while 64 identities
// open and drop circuits to alice, each up to 50 times a second (circuit
// flood). It reports bob's success rate and p50/p99 latency per phase, and
// the flood's attempted and opened circuits a second.
//
//	go test ./node -run '^$' -bench ContactUnderRelayAttack -benchtime 1x
//
// OCMT_ATTACK_READS sets the reads per phase (default 60, one every
// 1.5 s); with
// OCMT_ATTACK_RELAY_OFF=1 the relay's own limits on circuits to one
// destination are off, so the numbers are the home node's alone.
func BenchmarkContactUnderRelayAttack(b *testing.B) {
	if testing.Short() {
		b.Skip("500 hostile hosts are skipped in -short")
	}
	reads := envCount("OCMT_ATTACK_READS", 60)
	// Bob opens a new circuit for every read, which a grantee does not do
	// (it keeps its connection): paced so that he stays within the relay's
	// per-source circuit rate, an honest peer's budget, with room for the
	// retries a failed read makes. Faster, the relay refuses him for his
	// own rate whatever the attack.
	every := time.Minute / relay.DefaultCircuitsPerMinute * 3
	rcfg := relay.Config{}
	if envCount("OCMT_ATTACK_RELAY_OFF", 0) == 1 {
		rcfg = relayOff
	}
	for range b.N {
		m := startInfraRelay(b, rcfg)
		alice, bob, fetch := aliceSharesWithBob(b, m)
		phase := func(name string) {
			var lat []time.Duration
			ok, failed := 0, 0
			tick := time.NewTicker(every)
			defer tick.Stop()
			for range reads {
				<-tick.C
				start := time.Now()
				err := fetch()
				switch {
				case err == nil:
					ok++
					lat = append(lat, time.Since(start))
				case failed < 3: // the first few failures say why
					failed++
					b.Logf("%s: a read failed: %v", name, err)
					if os.Getenv("OCMT_ATTACK_AUDIT") != "" {
						for _, line := range strings.Split(string(m.relayAudit.bytes()), "\n") {
							if strings.Contains(line, bob.ID().String()) && !strings.Contains(line, `"circuit"`) {
								b.Log(line)
							}
						}
						logs := strings.Split(string(m.logs.bytes()), "\n")
						for _, line := range logs[max(0, len(logs)-15):] {
							b.Log(line)
						}
					}
				}
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
			}
			success := 100 * float64(ok) / float64(reads)
			b.ReportMetric(success, name+"-success-%")
			b.ReportMetric(pct(0.50), name+"-p50-ms")
			b.ReportMetric(pct(0.99), name+"-p99-ms")
			b.Logf("%s: %d/%d reads (%.1f%%), p50 %.1f ms, p99 %.1f ms", name, ok, reads, success, pct(0.50), pct(0.99))
		}

		phase("none")

		hs := startHostiles(b, m, 500)
		opened := hs.open(b, m, alice.ID())
		stop := hs.press(m, alice.ID())
		b.Logf("idle-circuit attack: 500 identities, %d circuits opened at once, %d held", opened, hs.holding(alice.ID()))
		phase("idle")
		stop()
		for _, h := range hs.hosts {
			h.Network().ClosePeer(alice.ID())
		}

		flood := &hostiles{hosts: hs.hosts[:64]}
		attempts, circuits, stopFlood := flood.flood(m, alice.ID())
		start := time.Now()
		phase("flood")
		stopFlood()
		secs := time.Since(start).Seconds()
		b.ReportMetric(float64(attempts.Load())/secs, "flood-attempts/s")
		b.ReportMetric(float64(circuits.Load())/secs, "flood-circuits/s")
		b.Logf("circuit flood: 64 identities, %.0f attempts/s, %.0f circuits opened/s", float64(attempts.Load())/secs, float64(circuits.Load())/secs)
	}
}

// flood has every hostile open a circuit to dst and drop it at once, over
// and over, never backing off (up to 50 tries a second each), until stop
// is called.
func (hs *hostiles) flood(m *testMesh, dst peer.ID) (attempts, circuits *atomic.Int64, stop func()) {
	circ := ma.StringCast("/p2p/" + m.relay.Host.ID().String() + "/p2p-circuit/p2p/" + dst.String())
	ctx, cancel := context.WithCancel(context.Background())
	attempts, circuits = &atomic.Int64{}, &atomic.Int64{}
	var wg sync.WaitGroup
	for _, h := range hs.hosts {
		wg.Go(func() {
			for ctx.Err() == nil {
				if sw, ok := h.Network().(*swarm.Swarm); ok {
					sw.Backoff().Clear(dst)
				}
				tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
				err := h.Connect(tctx, peer.AddrInfo{ID: dst, Addrs: []ma.Multiaddr{circ}})
				tcancel()
				attempts.Add(1)
				if err == nil {
					circuits.Add(1)
					h.Network().ClosePeer(dst)
				}
				select { // at most 50 tries a second per identity
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	return attempts, circuits, func() { cancel(); wg.Wait() }
}

// envCount reads a positive count from the environment, or def.
func envCount(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}
