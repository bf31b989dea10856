package relay

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/testkit"
)

// Run: go test ./relay -run '^$' -bench . -benchtime 1000x   (latency: 1000 requests)
//      go test ./relay -run '^$' -bench Throughput -benchtime 5x

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

func benchThroughput(b *testing.B, relayed bool) {
	if testing.Short() {
		b.Skip("64 MiB transfers are skipped in -short")
	}
	dialer, home := benchPair(b.Context(), b, relayed)
	b.SetBytes(throughputSize)
	for b.Loop() {
		sendSink(b, dialer, home, relayed)
	}
}

func BenchmarkDirectThroughput64MiB(b *testing.B)  { benchThroughput(b, false) }
func BenchmarkRelayedThroughput64MiB(b *testing.B) { benchThroughput(b, true) }

// BenchmarkThroughputRatio alternates direct and relayed 64 MiB transfers
// so that both see the same machine load (this VM's throughput drifts by
// 2× between runs), and reports relayed/direct.
func BenchmarkThroughputRatio(b *testing.B) {
	if testing.Short() {
		b.Skip("64 MiB transfers are skipped in -short")
	}
	direct, home1 := benchPair(b.Context(), b, false)
	relayed, home2 := benchPair(b.Context(), b, true)
	var td, tr time.Duration
	b.SetBytes(2 * throughputSize)
	for b.Loop() {
		start := time.Now()
		sendSink(b, direct, home1, false)
		mid := time.Now()
		sendSink(b, relayed, home2, true)
		td, tr = td+mid.Sub(start), tr+time.Since(mid)
	}
	b.ReportMetric(float64(td)/float64(tr), "relayed/direct")
	b.ReportMetric(float64(b.N*throughputSize)/tr.Seconds()/1e6, "relayed-MB/s")
	b.ReportMetric(float64(b.N*throughputSize)/td.Seconds()/1e6, "direct-MB/s")
}

// BenchmarkRequestLatency measures a 64-byte request and answer on a new
// stream each time, as our protocols do, directly and through the relay.
func BenchmarkRequestLatency(b *testing.B) {
	for _, mode := range []struct {
		name    string
		relayed bool
	}{{"direct", false}, {"relayed", true}} {
		b.Run(mode.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			dialer, home := benchPair(ctx, b, mode.relayed)
			req := make([]byte, 64)
			resp := make([]byte, 64)
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
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
				lat = append(lat, time.Since(start))
				s.Close()
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
			}
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
