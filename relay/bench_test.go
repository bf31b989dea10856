package relay

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/testkit"
)

// Run: go test ./relay -run '^$' -bench RequestLatency -benchtime 2000x   (2000 pairs of requests)
//      go test ./relay -run '^$' -bench ThroughputRatio -benchtime 10x   (10 pairs of 64 MiB transfers)

const (
	sinkProto = protocol.ID("/ocmt-test/sink/1")
	pingProto = protocol.ID("/ocmt-test/ping/1")
)

// benchPair returns a dialer and a home node serving the sink and ping
// protocols, connected either through a relay or directly.
func benchPair(ctx context.Context, b *testing.B, relayed bool) (dialer host.Host, home peer.ID) {
	b.Helper()
	tr := startRelay(b, Config{})
	h, d := homeAndDialer(ctx, b, tr)
	h.SetStreamHandler(sinkProto, func(s network.Stream) {
		n, err := io.Copy(io.Discard, s)
		if err != nil {
			s.Reset()
			return
		}
		fmt.Fprintf(s, "%d", n)
		s.Close()
	})
	h.SetStreamHandler(pingProto, func(s network.Stream) {
		buf := make([]byte, 64)
		if _, err := io.ReadFull(s, buf); err != nil {
			s.Reset()
			return
		}
		s.Write(buf)
		s.Close()
	})
	if !relayed {
		// The home listens nowhere: it dials the direct peer.
		d = testkit.Host(b, nil)
		testkit.Connect(b, h, d)
	}
	return d, h.ID()
}

const throughputSize = 64 << 20

// sendSink pushes throughputSize bytes to home's sink and waits for its count.
func sendSink(b *testing.B, dialer host.Host, home peer.ID, relayed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := dialer.NewStream(network.WithAllowLimitedConn(ctx, "ocmt"), home, sinkProto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Conn().RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); (err == nil) != relayed {
		b.Fatalf("stream runs over %v", s.Conn().RemoteMultiaddr())
	}
	chunk := make([]byte, 256<<10)
	for sent := 0; sent < throughputSize; sent += len(chunk) {
		if _, err := s.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	s.CloseWrite()
	ack, err := io.ReadAll(s)
	if err != nil || string(ack) != fmt.Sprint(throughputSize) {
		b.Fatalf("ack %q, %v", ack, err)
	}
}

// BenchmarkThroughputRatio alternates direct and relayed 64 MiB transfers,
// the order swapped every pair, so both see the same machine load (this
// VM's throughput drifts by 2× between runs), and reports the median of
// the per-pair ratios of time relayed/direct as "x" (1: the relay costs
// nothing; 2: relayed takes twice as long), its 10th–90th percentiles,
// and the median MB/s of each path.
func BenchmarkThroughputRatio(b *testing.B) {
	if testing.Short() {
		b.Skip("64 MiB transfers are skipped in -short")
	}
	direct, home1 := benchPair(b.Context(), b, false)
	relayed, home2 := benchPair(b.Context(), b, true)
	send := func(dialer host.Host, home peer.ID, relayed bool) func() time.Duration {
		return testkit.Timed(1, func() { sendSink(b, dialer, home, relayed) })
	}
	// One warm pair: connections, buffers.
	p := testkit.Pair(b, 1, send(relayed, home2, true), send(direct, home1, false))
	p.ReportX(b)
	b.ReportMetric(testkit.MedianMBps(p.Ours, throughputSize), "relayed-MB/s")
	b.ReportMetric(testkit.MedianMBps(p.Base, throughputSize), "direct-MB/s")
}

// BenchmarkRequestLatency measures a 64-byte request and answer on a new
// stream each time, as our protocols do, alternating direct and relayed
// requests (the order swapped every pair). It reports p50 and p99 of each
// path over all its requests (use -benchtime 1000x or more, so p99 rests
// on at least 10 samples), and the median of the per-pair ratios
// relayed/direct as "x" with its 10th–90th percentiles.
func BenchmarkRequestLatency(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	direct, home1 := benchPair(ctx, b, false)
	relayed, home2 := benchPair(ctx, b, true)
	req := make([]byte, 64)
	resp := make([]byte, 64)
	ask := func(dialer host.Host, home peer.ID) time.Duration {
		start := time.Now()
		s, err := dialer.NewStream(network.WithAllowLimitedConn(ctx, "ocmt"), home, pingProto)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(s, resp); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		s.Close()
		return took
	}
	// Ten warm pairs: connections, identify, buffers.
	p := testkit.Pair(b, 10, func() time.Duration { return ask(relayed, home2) }, func() time.Duration { return ask(direct, home1) })
	testkit.ReportQuantiles(b, "direct", p.Base, time.Microsecond, 0.50, 0.99)
	testkit.ReportQuantiles(b, "relayed", p.Ours, time.Microsecond, 0.50, 0.99)
	p.ReportX(b)
}
