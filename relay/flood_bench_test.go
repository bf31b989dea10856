package relay

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/util"

	"github.com/ocmt/mesh/internal/testkit"
)

// BenchmarkCircuitFlood measures how many circuits a relay opens while 64
// throwaway identities (strangers) ask it for circuits to 8 registered
// homes as fast as they can for OCMT_FLOOD_SECONDS (default 10): each
// sends a CONNECT on a hop stream, reads the answer and resets the stream,
// the cheapest flood there is. "per-source" is the relay as it was, with
// only circuits_per_minute; "defaults" adds the per-destination and
// relay-wide rates. It reports circuits opened and refused a second.
//
//	go test ./relay -run '^$' -bench CircuitFlood -benchtime 1x
func BenchmarkCircuitFlood(b *testing.B) {
	if testing.Short() {
		b.Skip("a load run: skipped in -short")
	}
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("OCMT_FLOOD_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"per-source", Config{DestinationCircuitsPerMinute: -1, RelayCircuitsPerMinute: -1}},
		{"defaults", Config{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				opened, refused := circuitFlood(b, tc.cfg, 64, 8, time.Duration(secs)*time.Second)
				b.ReportMetric(opened, "opened/s")
				b.ReportMetric(refused, "refused/s")
				b.Logf("%s: %.0f circuits opened a second, %.0f refused", tc.name, opened, refused)
			}
		})
	}
}

// circuitFlood runs the flood and returns circuits opened and refused a
// second.
func circuitFlood(b *testing.B, cfg Config, flooders, homes int, d time.Duration) (opened, refused float64) {
	ctx := testkit.Context(b, d+time.Minute)
	tr := startRelay(b, cfg)
	dsts := make([]peer.ID, homes)
	for i := range dsts {
		dsts[i] = reservedHome(ctx, b, tr).ID()
	}
	srcs := make([]host.Host, flooders)
	for i := range srcs {
		srcs[i] = lightHost(b)
		testkit.Connect(b, srcs[i], tr.host)
	}
	var ok, no atomic.Int64
	fctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i, src := range srcs {
		wg.Go(func() {
			for n := i; fctx.Err() == nil; n++ {
				switch hopConnect(fctx, src, tr.host.ID(), dsts[n%len(dsts)]) {
				case pbv2.Status_OK:
					ok.Add(1)
				case -1:
				default:
					no.Add(1)
				}
			}
		})
	}
	wg.Wait()
	s := time.Since(start).Seconds()
	return float64(ok.Load()) / s, float64(no.Load()) / s
}

// hopConnect asks relay for a circuit to dst on a new hop stream and
// resets it once answered; it returns the relay's status, or -1 when
// there was none.
func hopConnect(ctx context.Context, src host.Host, relay, dst peer.ID) pbv2.Status {
	s, err := src.NewStream(ctx, relay, proto.ProtoIDv2Hop)
	if err != nil {
		return -1
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	err = util.NewDelimitedWriter(s).WriteMsg(&pbv2.HopMessage{Type: pbv2.HopMessage_CONNECT.Enum(), Peer: &pbv2.Peer{Id: []byte(dst)}})
	if err != nil {
		return -1
	}
	var resp pbv2.HopMessage
	if err := util.NewDelimitedReader(s, maxHopMessage).ReadMsg(&resp); err != nil {
		return -1
	}
	return resp.GetStatus()
}
