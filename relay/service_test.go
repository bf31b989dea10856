package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestReservations(t *testing.T) {
	tr := startRelay(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name   string
		list   func(tr *testRelay) *PeerSet
		wantOK bool
	}{
		{name: "a registered home node reserves", list: func(tr *testRelay) *PeerSet { return tr.dir }, wantOK: true},
		{name: "a peer holding an operator grant reserves", list: func(tr *testRelay) *PeerSet { return tr.grants }, wantOK: true},
		{name: "a stranger's reservation is refused", wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testkit.Host(t, nil)
			if tc.list != nil {
				tc.list(tr).Add(h.ID())
			}
			err := tr.reserve(ctx, h)
			if tc.wantOK && err != nil {
				t.Fatalf("reserve: %v", err)
			}
			if !tc.wantOK {
				if err == nil {
					t.Fatal("reservation accepted")
				}
				r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Src == h.ID() })
				if r.Event != EventReserveRefused || r.Reason != ReasonUnauthorized {
					t.Errorf("audit record %+v, want reserve-refused/unauthorized", r)
				}
			}
		})
	}
}

func TestConnectPolicy(t *testing.T) {
	tr := startRelay(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name       string
		dstList    func(*testRelay) *PeerSet
		dstReserve bool
		srcGranted bool
		wantReason Reason // "" means the circuit opens
	}{
		{name: "a stranger reaches a registered home node", dstList: func(tr *testRelay) *PeerSet { return tr.dir }, dstReserve: true},
		{name: "a stranger cannot reach a peer that is only granted", dstList: func(tr *testRelay) *PeerSet { return tr.grants }, dstReserve: true, wantReason: ReasonUnauthorized},
		{name: "a granted peer reaches another granted peer", dstList: func(tr *testRelay) *PeerSet { return tr.grants }, dstReserve: true, srcGranted: true},
		{name: "a circuit to an unregistered destination is refused", wantReason: ReasonUnauthorized},
		{name: "a registered home without a reservation cannot be reached", dstList: func(tr *testRelay) *PeerSet { return tr.dir }, wantReason: ReasonNoReservation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := newHome(t)
			serveEcho(dst)
			if tc.dstList != nil {
				tc.dstList(tr).Add(dst.ID())
			}
			if tc.dstReserve {
				if err := tr.reserve(ctx, dst); err != nil {
					t.Fatalf("reserve: %v", err)
				}
			}
			src := testkit.Host(t, nil)
			if tc.srcGranted {
				tr.grants.Add(src.ID())
			}
			err := tr.dialVia(ctx, src, dst.ID())
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				if got := echo(ctx, t, src, dst.ID(), []byte("hello")); string(got) != "hello" {
					t.Fatalf("echo = %q", got)
				}
				return
			}
			if err == nil {
				t.Fatal("circuit opened")
			}
			r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Src == src.ID() && r.Dst == dst.ID() })
			if r.Event != EventConnectRefused || r.Reason != tc.wantReason {
				t.Errorf("audit record %+v, want connect-refused/%s", r, tc.wantReason)
			}
		})
	}
}

func TestLargeTransfers(t *testing.T) {
	tr := startRelay(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	home, dialer := homeAndDialer(ctx, t, tr)
	for _, tc := range []struct {
		name string
		size int
	}{
		{name: "a transfer past the library's 128 KiB limit succeeds", size: 200 << 10},
		{name: "a 1 MiB transfer succeeds", size: 1<<20 + 17},
		{name: "an 8 MiB transfer succeeds", size: 8 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.size)
			rand.Read(payload)
			if got := echo(ctx, t, dialer, home.ID(), payload); !bytes.Equal(got, payload) {
				t.Fatalf("echo returned %d bytes, want %d identical", len(got), len(payload))
			}
		})
	}
	t.Run("relayed connections are not limited", func(t *testing.T) {
		for _, c := range dialer.Network().ConnsToPeer(home.ID()) {
			if c.Stat().Limited {
				t.Errorf("connection %v is limited", c.RemoteMultiaddr())
			}
		}
		if got := dialer.Network().Connectedness(home.ID()); got != network.Connected {
			t.Errorf("connectedness %v, want Connected", got)
		}
	})
}
