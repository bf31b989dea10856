package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/util"
	pb "google.golang.org/protobuf/proto"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

func frame(t *testing.T, m *pbv2.HopMessage) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := util.NewDelimitedWriter(&buf).WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFrameSniffer(t *testing.T) {
	k := keys.GeneratePeerKey()
	connect := frame(t, &pbv2.HopMessage{Type: pbv2.HopMessage_CONNECT.Enum(), Peer: &pbv2.Peer{Id: []byte(k.ID())}})
	payload := []byte("payload that must not be kept")
	huge := binary.AppendUvarint(nil, maxHopMessage+1)
	for _, tc := range []struct {
		name     string
		stream   []byte
		chunk    int
		wantUsed int
		wantMsg  bool
	}{
		{name: "a frame read byte by byte is found", stream: connect, chunk: 1, wantUsed: len(connect), wantMsg: true},
		{name: "a frame in one write is found", stream: connect, chunk: len(connect), wantUsed: len(connect), wantMsg: true},
		{name: "payload after the frame is not taken", stream: append(bytes.Clone(connect), payload...), chunk: 7, wantUsed: len(connect), wantMsg: true},
		{name: "a truncated frame yields nothing", stream: connect[:len(connect)-1], chunk: 3, wantUsed: len(connect) - 1},
		{name: "a length past the library's cap is refused at once", stream: append(bytes.Clone(huge), payload...), chunk: 100, wantUsed: len(huge)},
		{name: "garbage that is not protobuf yields nothing", stream: []byte{3, 0xff, 0xff, 0xff}, chunk: 1, wantUsed: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f frameSniffer
			used := 0
			for i := 0; i < len(tc.stream); i += tc.chunk {
				used += f.feed(tc.stream[i:min(i+tc.chunk, len(tc.stream))])
			}
			if used != tc.wantUsed {
				t.Errorf("used %d bytes, want %d", used, tc.wantUsed)
			}
			if len(f.buf) > len(connect) {
				t.Errorf("kept %d bytes, more than one frame", len(f.buf))
			}
			m, ok := f.message()
			if ok != tc.wantMsg {
				t.Fatalf("message ok = %v, want %v", ok, tc.wantMsg)
			}
			if ok && !pb.Equal(m.GetPeer(), &pbv2.Peer{Id: []byte(k.ID())}) {
				t.Errorf("peer %v", m.GetPeer())
			}
		})
	}
}

func TestPeerLimiter(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	ids := make([]peer.ID, 4)
	for i := range ids {
		k := keys.GeneratePeerKey()
		ids[i] = k.ID()
	}
	t.Run("a peer gets its burst and then waits", func(t *testing.T) {
		l := newPeerLimiter(2, 10, clock.Now)
		got := []bool{l.allow(ids[0]), l.allow(ids[0]), l.allow(ids[0]), l.allow(ids[1])}
		if fmt.Sprint(got) != "[true true false true]" {
			t.Fatalf("allow sequence %v", got)
		}
		clock.Advance(30 * time.Second)
		if !l.allow(ids[0]) || l.allow(ids[0]) {
			t.Fatal("want exactly one token after half a minute at 2 a minute")
		}
	})
	t.Run("the map is bounded and evicts the least recently seen peer", func(t *testing.T) {
		l := newPeerLimiter(1, 2, clock.Now)
		l.allow(ids[0])
		l.allow(ids[1])
		l.allow(ids[0]) // ids[0] is now the most recent
		l.allow(ids[2]) // evicts ids[1]
		if l.size() != 2 {
			t.Fatalf("size %d, want 2", l.size())
		}
		if l.allow(ids[0]) {
			t.Error("ids[0] was evicted instead of ids[1]")
		}
		if !l.allow(ids[1]) {
			t.Error("evicted ids[1] should start with a full bucket")
		}
	})
	t.Run("a negative budget disables the limit", func(t *testing.T) {
		l := newPeerLimiter(-1, 1, clock.Now)
		for range 100 {
			if !l.allow(ids[3]) {
				t.Fatal("refused")
			}
		}
	})
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
		check   func(t *testing.T, c Config)
	}{
		{name: "the zero value gets every documented default", check: func(t *testing.T, c Config) {
			rc := c.resources()
			if rc.Limit != nil || rc.BufferSize != 64<<10 || rc.MaxReservations != 4096 || rc.MaxCircuits != 256 ||
				rc.MaxReservationsPerIP != 1024 || rc.ReservationTTL != time.Hour || c.ReservationsPerMinute != 10 || c.CircuitsPerMinute != 120 {
				t.Errorf("defaults %+v %+v", rc, c)
			}
		}},
		{name: "a data cap alone makes connections limited with the default duration", cfg: Config{CircuitDataLimit: 1 << 20}, check: func(t *testing.T, c Config) {
			if l := c.resources().Limit; l == nil || l.Data != 1<<20 || l.Duration != 2*time.Minute {
				t.Errorf("limit %+v", l)
			}
		}},
		{name: "the limits on strangers and circuit rates get their documented defaults", check: func(t *testing.T, c Config) {
			if c.MaxStrangerCircuits != 32 || c.CircuitIdleTimeout != time.Minute || c.CircuitIdleBytes != 1024 ||
				c.DestinationCircuitsPerMinute != 600 || c.RelayCircuitsPerMinute != 3000 {
				t.Errorf("defaults %+v", c)
			}
		}},
		{name: "negative values disable the limits on strangers and circuit rates", cfg: Config{MaxStrangerCircuits: -1, CircuitIdleTimeout: -1,
			CircuitIdleBytes: -1, DestinationCircuitsPerMinute: -1, RelayCircuitsPerMinute: -1}, check: func(t *testing.T, c Config) {
			if c.MaxStrangerCircuits != -1 || c.CircuitIdleTimeout != -1 || c.CircuitIdleBytes != -1 ||
				c.DestinationCircuitsPerMinute != -1 || c.RelayCircuitsPerMinute != -1 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "an idle allowance below -1 is refused", cfg: Config{CircuitIdleBytes: -2}, wantErr: true},
		{name: "a negative slot count is refused", cfg: Config{MaxReservations: -1}, wantErr: true},
		{name: "a sub-second reservation TTL is refused", cfg: Config{ReservationTTL: time.Millisecond}, wantErr: true},
		{name: "relay memory below one circuit is refused", cfg: Config{MaxRelayMemory: 1024}, wantErr: true},
		{name: "a negative circuit cap is refused", cfg: Config{CircuitDurationLimit: -time.Second}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfg.withDefaults()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	l, err := Limits(Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := l.ToPartialLimitConfig()
	if got := p.Service["libp2p.relay/v2"].StreamsOutbound; got < 8192 {
		t.Errorf("relay service outbound streams %v, want room for 8192 circuits", got)
	}
	if got := p.PeerDefault.Conns; got < 64 {
		t.Errorf("per-peer conns %v", got)
	}
	if n := ProcessFDs(); n > 2*fdReserve {
		if got := int(p.System.FD); got != n-fdReserve {
			t.Errorf("system file descriptors %d, want the process's %d less %d", got, n, fdReserve)
		}
	}
	if _, err := Limits(Config{BufferSize: -1}); err == nil {
		t.Error("bad config accepted")
	}
	rm, err := ResourceManager(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rm.Close()
}

func TestMetricsHandler(t *testing.T) {
	tr := startRelay(t, Config{})
	stranger := testkit.Host(t, nil)
	ctx := t.Context()
	if err := tr.reserve(ctx, stranger); err == nil {
		t.Fatal("stranger reserved")
	}
	tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Src == stranger.ID() })
	rec := httptest.NewRecorder()
	tr.svc.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`ocmt_relay_reservations_refused_total{reason="unauthorized"} 1`,
		"ocmt_relay_reservations_active 0",
		"ocmt_relay_circuits_active 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestAuditFailureFailsClosed(t *testing.T) {
	w := &failingWriter{}
	tr := startRelay(t, Config{})
	tr.svc.audit.w = w
	ctx := t.Context()
	stranger := testkit.Host(t, nil)
	home := testkit.Host(t, nil)
	tr.dir.Add(home.ID())
	w.fail.Store(true)
	tr.reserve(ctx, stranger) // its refusal cannot be written
	// The refusal is audited when its stream ends, just after the stranger
	// hears it: wait for the relay to notice the failing log.
	testkit.Eventually(t, 10*time.Second, func() bool { return !tr.svc.auditHealthy() }, "the relay notices the failing audit log")
	if err := tr.reserve(ctx, home); err == nil {
		t.Fatal("reservation accepted while the audit log fails")
	}
	w.fail.Store(false)
	tr.reserve(ctx, stranger) // this refusal is written: the log works again
	testkit.Eventually(t, 10*time.Second, tr.svc.auditHealthy, "the relay sees the audit log work again")
	if err := tr.reserve(ctx, home); err != nil {
		t.Fatalf("reservation after the audit log recovered: %v", err)
	}
}

type failingWriter struct{ fail atomic.Bool }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail.Load() {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}
