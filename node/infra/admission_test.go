package infra

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/relay"
)

// askCounter wraps the bootstrap's host and counts the directory streams
// one peer (the relay) opens: each is one question.
type askCounter struct {
	host.Host
	from peer.ID
	n    *atomic.Int64
}

func (c askCounter) SetStreamHandler(pid protocol.ID, h network.StreamHandler) {
	if pid == directory.ID {
		inner := h
		h = func(s network.Stream) {
			if s.Conn().RemotePeer() == c.from {
				c.n.Add(1)
			}
			inner(s)
		}
	}
	c.Host.SetStreamHandler(pid, h)
}

// admissionMesh is a bootstrap that counts the relay's questions and a
// relay that names it as its bootstrap and is named as its infrastructure.
type admissionMesh struct {
	boot, rel *Peer
	asked     atomic.Int64
	handles   atomic.Int64
}

func startAdmission(t *testing.T, lookupRate float64) *admissionMesh {
	t.Helper()
	ctx := context.Background()
	relHome := tempHome(t, "relay")
	rk, err := home.LoadOrCreateIdentity(relHome)
	if err != nil {
		t.Fatal(err)
	}
	relayID := rk.ID()
	rk.Wipe()
	m := &admissionMesh{}
	m.boot, err = StartBootstrap(ctx, Config{Home: tempHome(t, "boot"), Listen: loopback, Infrastructure: []peer.ID{relayID},
		WrapHost: func(h host.Host) host.Host { return askCounter{Host: h, from: relayID, n: &m.asked} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.boot.Close() })
	m.rel, err = StartRelay(ctx, RelayConfig{Config: Config{Home: relHome, Listen: loopback}, Bootstrap: m.boot.Addrs(),
		DirectoryLookupRate: lookupRate, Relay: relay.Config{AllowPrivateAddrs: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.rel.Close() })
	return m
}

func (m *admissionMesh) info(p *Peer) peer.AddrInfo { return p2phost.Merge(mustInfos(p.Addrs())) }

func mustInfos(addrs []string) []peer.AddrInfo {
	infos, err := p2phost.ParseAddrInfos("address", addrs)
	if err != nil {
		panic(err)
	}
	return infos
}

// register publishes k's record at the bootstrap from h and, with vouch,
// fetches the bootstrap's voucher for it.
func (m *admissionMesh) register(t *testing.T, ctx context.Context, k *keys.PeerKey, h host.Host, vouch bool) *relayaccess.Registration {
	t.Helper()
	boot := m.info(m.boot)
	if err := h.Connect(ctx, boot); err != nil {
		t.Fatal(err)
	}
	sr, err := directory.SignRecord(k, directory.Record{Handle: directory.Handle(fmt.Sprintf("node-%d", m.handles.Add(1))), Seq: 1, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := directory.Publish(ctx, h, boot.ID, sr); err != nil {
		t.Fatal(err)
	}
	if !vouch {
		return nil
	}
	reg, err := relayaccess.FetchVoucher(ctx, h, boot.ID)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestAVouchedNodeReservesWithoutTheRelayAskingTheBootstrap: a node that
// presents its record and the bootstrap's voucher reserves and the relay
// asks the bootstrap nothing; a registered node that presents nothing
// still reserves, the relay asking about it.
func TestAVouchedNodeReservesWithoutTheRelayAskingTheBootstrap(t *testing.T) {
	m := startAdmission(t, 0)
	ctx := testkit.Context(t, time.Minute)
	rel := m.info(m.rel)

	vk := testkit.Key(t, "vouched")
	vh := testkit.Host(t, vk)
	reg := m.register(t, ctx, vk, vh, true)
	before := m.asked.Load()
	if err := vh.Connect(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if err := relayaccess.Register(ctx, vh, rel.ID, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, vh, rel); err != nil {
		t.Fatal(err)
	}
	if n := m.asked.Load() - before; n != 0 {
		t.Fatalf("the relay asked the bootstrap %d times about a vouched node", n)
	}

	lk := testkit.Key(t, "legacy")
	lh := testkit.Host(t, lk)
	m.register(t, ctx, lk, lh, false)
	before = m.asked.Load()
	if _, err := client.Reserve(ctx, lh, rel); err != nil {
		t.Fatal(err)
	}
	if m.asked.Load() == before {
		t.Fatal("the relay admitted a node that presented nothing without asking the bootstrap")
	}
}

// TestAStrangerFloodSpendsOnlyTheLookupBudget: many unregistered
// identities reserving make the relay ask the bootstrap no more than its
// lookup budget (burst plus rate × elapsed), and a vouched newcomer
// reserves straight after.
func TestAStrangerFloodSpendsOnlyTheLookupBudget(t *testing.T) {
	const rate = 2.0
	m := startAdmission(t, rate)
	ctx := testkit.Context(t, 2*time.Minute)
	rel := m.info(m.rel)
	before := m.asked.Load()
	start := time.Now()
	const strangers = 60
	for i := range strangers {
		h := testkit.Host(t, testkit.Key(t, fmt.Sprintf("stranger %d", i)))
		if _, err := client.Reserve(ctx, h, rel); err == nil {
			t.Fatalf("stranger %d reserved", i)
		}
		h.Close()
	}
	elapsed := time.Since(start).Seconds()
	asked := m.asked.Load() - before
	if budget := int64(rate) + int64(rate*elapsed) + 1; asked > budget {
		t.Fatalf("%d strangers made the relay ask %d times in %.1fs; the budget allows %d", strangers, asked, elapsed, budget)
	}
	if asked == 0 {
		t.Fatal("the relay asked nothing: the budget was not what refused them")
	}

	nk := testkit.Key(t, "newcomer")
	nh := testkit.Host(t, nk)
	reg := m.register(t, ctx, nk, nh, true)
	if err := nh.Connect(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if err := relayaccess.Register(ctx, nh, rel.ID, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, nh, rel); err != nil {
		t.Fatalf("a vouched newcomer after the flood: %v", err)
	}
}

// TestTheLookupBudgetBoundsOnlyTheReservationPath: past the budget,
// Registered answers no without asking and remembers nothing, while Ask,
// for the relay's own decisions, still asks; its yes then serves
// Registered from the cache.
func TestTheLookupBudgetBoundsOnlyTheReservationPath(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	rk := testkit.Key(t, "relay")
	var asked atomic.Int64
	boot, err := StartBootstrap(ctx, Config{Home: tempHome(t, "boot"), Listen: loopback, Infrastructure: []peer.ID{rk.ID()},
		WrapHost: func(h host.Host) host.Host { return askCounter{Host: h, from: rk.ID(), n: &asked} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	m := &admissionMesh{boot: boot}
	xk := testkit.Key(t, "registered")
	m.register(t, ctx, xk, testkit.Host(t, xk), false)

	rh := testkit.Host(t, rk)
	bootInfo := m.info(boot)
	if err := rh.Connect(ctx, bootInfo); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now()) // stands still: the budget's one token never comes back
	d := newRemoteDirectory(rh, []peer.AddrInfo{bootInfo}, 1, slog.New(slog.DiscardHandler), clock.Now)
	if d.Registered(testkit.Key(t, "stranger").ID()) || asked.Load() != 1 {
		t.Fatalf("the first question: %d asked", asked.Load())
	}
	if d.Registered(xk.ID()) || asked.Load() != 1 {
		t.Fatalf("past the budget the relay asked (%d) or admitted", asked.Load())
	}
	if !d.Ask(xk.ID()) || asked.Load() != 2 {
		t.Fatalf("Ask did not ask past the budget (%d asked)", asked.Load())
	}
	if !d.Registered(xk.ID()) || asked.Load() != 2 {
		t.Fatalf("the yes was not remembered (%d asked)", asked.Load())
	}
	// the relay is the bootstrap's infrastructure: no per-peer bucket
	for i := range 3 * directory.DefaultBurst {
		if _, err := directory.LookupPeer(ctx, rh, bootInfo.ID, xk.ID()); err != nil {
			t.Fatalf("infrastructure lookup %d: %v", i, err)
		}
	}
}
