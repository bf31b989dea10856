package meshnet

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

func TestRelayIDsOfARecord(t *testing.T) {
	r1, r2 := testkit.Key(t, "relay1").ID(), testkit.Key(t, "relay2").ID()
	rec := &directory.Record{Relays: []ma.Multiaddr{
		ma.StringCast("/ip4/10.0.0.1/tcp/4002/p2p/" + r1.String() + "/p2p-circuit"),
		ma.StringCast("/ip4/10.0.0.2/udp/4002/quic-v1/p2p/" + r2.String() + "/p2p-circuit"),
	}}
	got := relayIDs(rec)
	if len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("relayIDs = %v, want [%s %s]", got, r1, r2)
	}
	if relayIDs(nil) != nil {
		t.Fatal("a nil record has relays")
	}
}

const testProto = "/ocmt-test/meshnet/1"

// answering starts a peer whose handler answers with the statuses in
// order (OK once they run out) and counts the requests.
func answering(t *testing.T, statuses ...wire.Status) (peer.AddrInfo, *atomic.Int32) {
	t.Helper()
	h := testkit.Host(t, nil)
	var calls atomic.Int32
	lim := exchange.Limits{MaxRequest: 64, MaxResponse: 64, Timeout: 5 * time.Second}
	h.SetStreamHandler(testProto, func(s network.Stream) {
		exchange.Serve(s, lim, nil, func(context.Context, peer.ID, []byte) (any, error) {
			i := int(calls.Add(1)) - 1
			if i < len(statuses) {
				return nil, wire.Errorf(statuses[i], "answer %d", i)
			}
			return nil, nil
		})
	})
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}, &calls
}

func TestCallAsksAgainOnlyWhileThePeerSaysNotYet(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n, err := Start(ctx, Config{Host: testkit.Host(t, nil), Timings: Timings{Unavailable: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	call := func(to peer.AddrInfo) error {
		// The record's "relay" addresses are the peer's own: a retry,
		// which dials relay circuits only, dials the peer directly then.
		rec := &directory.Record{Peer: to.ID, Relays: to.Addrs}
		return n.Call(ctx, rec, Retry{Attempts: 3}, func(ctx context.Context) error {
			return exchange.Call(ctx, n.h, to.ID, testProto, exchange.Limits{MaxRequest: 64, MaxResponse: 64}, struct{}{}, nil)
		})
	}

	busy, calls := answering(t, wire.Unavailable, wire.Unavailable)
	if err := call(busy); err != nil || calls.Load() != 3 {
		t.Fatalf("two \"not yet\" then OK: %v after %d requests, want success after 3", err, calls.Load())
	}
	refusing, calls := answering(t, wire.Forbidden)
	if err := call(refusing); !errors.Is(err, wire.Forbidden) || calls.Load() != 1 {
		t.Fatalf("a refusal: %v after %d requests, want Forbidden after 1", err, calls.Load())
	}
	stuck, calls := answering(t, wire.Unavailable, wire.Unavailable, wire.Unavailable, wire.Unavailable)
	if err := call(stuck); !errors.Is(err, wire.Unavailable) || calls.Load() != 3 {
		t.Fatalf("always \"not yet\": %v after %d requests, want Unavailable after 3", err, calls.Load())
	}
}

func TestWithoutBootstrapTheDirectoryIsRefusedInWords(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	n, err := Start(ctx, Config{Host: testkit.Host(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Lookup(ctx, "alice"); !errors.Is(err, ErrNoBootstrap) {
		t.Fatalf("lookup without a bootstrap: %v", err)
	}
	if n.HasReservation() || len(n.Infrastructure()) != 0 {
		t.Fatal("a node without infrastructure claims some")
	}
}

func TestFirewallAdmitsInfrastructureAndCircuitsOnly(t *testing.T) {
	infra, stranger := testkit.Key(t, "infra").ID(), testkit.Key(t, "stranger").ID()
	g := Firewall([]peer.ID{infra})
	direct := connAddrs{ma.StringCast("/ip4/127.0.0.1/tcp/1")}
	relayed := connAddrs{ma.StringCast("/ip4/127.0.0.1/tcp/1/p2p/" + infra.String() + "/p2p-circuit")}
	for _, c := range []struct {
		name string
		dir  network.Direction
		p    peer.ID
		addr connAddrs
		want bool
	}{
		{"inbound from infrastructure", network.DirInbound, infra, direct, true},
		{"inbound direct from a stranger", network.DirInbound, stranger, direct, false},
		{"inbound through a circuit", network.DirInbound, stranger, relayed, true},
		{"outbound to a stranger", network.DirOutbound, stranger, direct, true},
	} {
		if got := g.InterceptSecured(c.dir, c.p, c.addr); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// connAddrs is a network.ConnMultiaddrs with a remote address only.
type connAddrs []ma.Multiaddr

func (c connAddrs) LocalMultiaddr() ma.Multiaddr  { return nil }
func (c connAddrs) RemoteMultiaddr() ma.Multiaddr { return c[0] }
