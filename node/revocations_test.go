package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/revsync"
)

// TestRequestsWaitForTheFirstRevocationSync: a node whose infrastructure
// peer has not answered its first revsync yet holds share requests
// (refusing them as Unavailable after maxSyncWait), retries the sync soon
// after a failure, and serves as soon as one succeeds.
func TestRequestsWaitForTheFirstRevocationSync(t *testing.T) {
	ctx := context.Background()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	infra, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer infra.Close()
	// The infrastructure peer is slow: it answers nothing until release,
	// then fails the request; after that it serves revsync for real.
	infraSet, err := revocation.Open(ctx, revocation.Config{CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer infraSet.Close()
	release := make(chan struct{})
	infra.SetStreamHandler(revsync.ID, func(s network.Stream) {
		<-release
		s.Reset()
		if _, err := revsync.NewServer(infra, infraSet, revsync.ServerConfig{}); err != nil {
			t.Error(err)
		}
	})
	if err := h.Connect(ctx, peer.AddrInfo{ID: infra.ID(), Addrs: infra.Addrs()}); err != nil {
		t.Fatal(err)
	}
	r, err := startRevocations(ctx, revConfig{host: h, budget: revocation.NewBudget(nil),
		store: dssync.MutexWrap(ds.NewMapDatastore()), log: slog.New(slog.DiscardHandler), syncFrom: func() []peer.ID { return []peer.ID{infra.ID()} }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	r.syncWait = 200 * time.Millisecond

	start := time.Now()
	err = r.ready(ctx)
	if !errors.Is(err, wire.Unavailable) || time.Since(start) < r.syncWait {
		t.Fatalf("before the first sync: %v after %v, want Unavailable after %v", err, time.Since(start), r.syncWait)
	}
	close(release) // the first attempt fails; the retry, a second later, succeeds
	r.syncWait = 10 * time.Second
	if err := r.ready(ctx); err != nil {
		t.Fatalf("after the infrastructure peer answered: %v", err)
	}
}

// TestListenPortInUseIsRefused: libp2p binds with SO_REUSEPORT, so without
// a check a second process would share a port another one holds.
func TestListenPortInUseIsRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = portsFree([]string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("listening on a port in use: %v", err)
	}
	if err := portsFree([]string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}); err != nil {
		t.Fatalf("port 0: %v", err)
	}
}
