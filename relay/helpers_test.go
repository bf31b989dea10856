package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

const echoProto = protocol.ID("/ocmt-test/echo/1")

// lockedBuffer is an io.Writer safe to read while the relay writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records parses the audit lines written so far.
func (b *lockedBuffer) records(t testing.TB) []AuditRecord {
	t.Helper()
	var out []AuditRecord
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// waitRecord waits for an audit record matching ok.
func (b *lockedBuffer) waitRecord(t testing.TB, ok func(AuditRecord) bool) AuditRecord {
	t.Helper()
	var found AuditRecord
	if !testkit.Poll(10*time.Second, func() bool {
		for _, r := range b.records(t) {
			if ok(r) {
				found = r
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no matching audit record after 10s in:\n%s", b.String())
	}
	return found
}

// testRelay is a relay host with its Service, directory and grants.
type testRelay struct {
	host     host.Host
	svc      *Service
	dir      *PeerSet
	grants   *PeerSet
	audit    *lockedBuffer
	relayKey keys.PeerKey
	// cm, when set, replaces the role's connection manager (ConnManager)
	cm connmgr.ConnManager
}

// startRelay starts a relay on loopback; cfg's Authorizer, Audit and
// AllowPrivateAddrs are filled in.
func startRelay(t testing.TB, cfg Config, opts ...Option) *testRelay {
	t.Helper()
	return startRelayCM(t, cfg, nil, opts...)
}

// startRelayCM is startRelay with connection manager cm instead of the
// role's (nil: the role's).
func startRelayCM(t testing.TB, cfg Config, cm connmgr.ConnManager, opts ...Option) *testRelay {
	t.Helper()
	tr := &testRelay{dir: NewPeerSet(), grants: NewPeerSet(), audit: &lockedBuffer{}, relayKey: keys.GeneratePeerKey(), cm: cm}
	tr.start(t, cfg, "/ip4/127.0.0.1/tcp/0", opts...)
	return tr
}

func (tr *testRelay) start(t testing.TB, cfg Config, listen string, opts ...Option) {
	t.Helper()
	cfg.Authorizer = AuthorizerFuncs{RegisteredFunc: tr.dir.Has, AllowReserveFunc: tr.grants.Has}
	cfg.Audit = tr.audit
	cfg.AllowPrivateAddrs = true
	rm, err := ResourceManager(cfg)
	if err != nil {
		t.Fatalf("ResourceManager: %v", err)
	}
	cm := tr.cm
	if cm == nil {
		if cm, err = ConnManager(cfg); err != nil {
			t.Fatalf("ConnManager: %v", err)
		}
	}
	tr.host = testkit.Host(t, &tr.relayKey, libp2p.ListenAddrStrings(listen), libp2p.ResourceManager(rm), libp2p.ConnectionManager(cm))
	svc, err := New(tr.host, cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	tr.svc = svc
}

func (tr *testRelay) info() peer.AddrInfo {
	return peer.AddrInfo{ID: tr.host.ID(), Addrs: tr.host.Addrs()}
}

// reserve makes home hold a reservation on the relay.
func (tr *testRelay) reserve(ctx context.Context, home host.Host) error {
	_, err := client.Reserve(ctx, home, tr.info())
	return err
}

// dialVia connects dialer to dst through the relay. The addresses it
// dials go in with a TTL identify leaves alone: when an earlier connection
// to the same peer ends, identify expires that peer's temporary addresses
// (the TTL Connect gives its own), and it may do so while this dial runs.
func (tr *testRelay) dialVia(ctx context.Context, dialer host.Host, dst peer.ID) error {
	dialer.Peerstore().AddAddrs(tr.host.ID(), tr.host.Addrs(), peerstore.PermanentAddrTTL)
	if err := dialer.Connect(ctx, peer.AddrInfo{ID: tr.host.ID()}); err != nil {
		return fmt.Errorf("connecting to relay: %w", err)
	}
	circ := ma.StringCast("/p2p/" + tr.host.ID().String() + "/p2p-circuit/p2p/" + dst.String())
	dialer.Peerstore().ClearAddrs(dst)
	dialer.Peerstore().AddAddrs(dst, []ma.Multiaddr{circ}, peerstore.PermanentAddrTTL)
	return dialer.Connect(ctx, peer.AddrInfo{ID: dst})
}

// serveEcho makes h answer echoProto by sending back what it reads.
func serveEcho(h host.Host) {
	h.SetStreamHandler(echoProto, func(s network.Stream) {
		defer s.Close()
		if _, err := io.Copy(s, s); err != nil {
			s.Reset()
			return
		}
		s.CloseWrite()
	})
}

// openRelayed opens an echo stream from dialer to dst and checks it runs
// over a relayed connection.
func openRelayed(ctx context.Context, t testing.TB, dialer host.Host, dst peer.ID) network.Stream {
	t.Helper()
	s, err := dialer.NewStream(network.WithAllowLimitedConn(ctx, "ocmt"), dst, echoProto)
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	if _, err := s.Conn().RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
		t.Fatalf("stream runs over %v, not a relayed connection", s.Conn().RemoteMultiaddr())
	}
	return s
}

// echo sends payload over a new relayed echo stream and returns the answer.
func echo(ctx context.Context, t testing.TB, dialer host.Host, dst peer.ID, payload []byte) []byte {
	t.Helper()
	s := openRelayed(ctx, t, dialer, dst)
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(payload)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing echo: %v", err)
	}
	return got
}

// newHome starts a home node as homes are in the field, reachable only
// through a relay: it listens on no address, so identify never gives a
// dialer a direct address that would bypass the relay under test.
func newHome(t testing.TB) host.Host {
	t.Helper()
	return testkit.Host(t, nil, libp2p.NoListenAddrs, libp2p.EnableRelay())
}

// homeAndDialer returns a registered home node holding a reservation and
// serving echo, and a stranger that has connected to it through the relay.
func homeAndDialer(ctx context.Context, t testing.TB, tr *testRelay) (home, dialer host.Host) {
	t.Helper()
	home = newHome(t)
	serveEcho(home)
	tr.dir.Add(home.ID())
	if err := tr.reserve(ctx, home); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	dialer = testkit.Host(t, nil)
	if err := tr.dialVia(ctx, dialer, home.ID()); err != nil {
		t.Fatalf("dial via relay: %v", err)
	}
	return home, dialer
}
