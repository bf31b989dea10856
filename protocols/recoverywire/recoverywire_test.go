package recoverywire

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// handler records what reaches it and answers a fixed status.
type handler struct {
	mu   sync.Mutex
	seen []string
	st   Status
	err  error
}

func (h *handler) note(op string) (Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, op)
	return h.st, h.err
}

func (h *handler) Deliver(_ context.Context, _ peer.ID, m []byte) (Status, error) {
	return h.note("deliver:" + string(m))
}
func (h *handler) Fetch(context.Context, peer.ID, [RequestIDLen]byte) (Status, error) {
	return h.note("fetch")
}
func (h *handler) Done(context.Context, peer.ID, [RequestIDLen]byte) (Status, error) {
	return h.note("done")
}

func (h *handler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func pair(t *testing.T, h *handler) (*Server, func() (hostCall func(Request) error, id peer.ID)) {
	t.Helper()
	srvHost := testkit.Host(t, testkit.Key(t, "friend"))
	clock := testkit.NewClock(testkit.Epoch)
	s, err := NewServer(srvHost, Config{Handler: h, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, func() (func(Request) error, peer.ID) {
		c := testkit.Host(t, nil)
		testkit.Connect(t, c, srvHost)
		return func(r Request) error {
			var st Status
			return exchange.Call(context.Background(), c, srvHost.ID(), ID, Limits(), r, &st)
		}, srvHost.ID()
	}
}

func wantStatus(t *testing.T, err error, want wire.Status) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestTheServerChecksFramesBeforeTheHandler(t *testing.T) {
	h := &handler{st: Status{State: StateWaiting, Text: "waiting"}}
	_, client := pair(t, h)
	call, _ := client()
	id := bytes.Repeat([]byte{7}, RequestIDLen)
	for _, c := range []struct {
		name string
		req  Request
		want wire.Status
	}{
		{"a deliver without a message", Request{Op: OpDeliver}, wire.BadRequest},
		{"a deliver with a request ID", Request{Op: OpDeliver, Message: []byte("m"), Request: id}, wire.BadRequest},
		{"a message over its cap", Request{Op: OpDeliver, Message: make([]byte, MaxMessageBytes+1)}, wire.TooLarge},
		{"a fetch with a short ID", Request{Op: OpFetch, Request: id[:31]}, wire.BadRequest},
		{"a done with a message", Request{Op: OpDone, Message: []byte("m"), Request: id}, wire.BadRequest},
		{"an unknown op", Request{Op: 9, Request: id}, wire.BadRequest},
	} {
		t.Run(c.name, func(t *testing.T) { wantStatus(t, call(c.req), c.want) })
	}
	if h.count() != 0 {
		t.Fatalf("the handler saw %d malformed requests", h.count())
	}
	if err := call(Request{Op: OpFetch, Request: id}); err != nil {
		t.Fatal(err)
	}
}

func TestClientAndServer(t *testing.T) {
	h := &handler{st: Status{State: StateHelping, Until: 1 << 31, Text: "approved"}}
	srvHost := testkit.Host(t, testkit.Key(t, "friend"))
	if _, err := NewServer(srvHost, Config{Handler: h}); err != nil {
		t.Fatal(err)
	}
	c := testkit.Host(t, nil)
	testkit.Connect(t, c, srvHost)
	ctx := context.Background()
	st, err := Deliver(ctx, c, srvHost.ID(), []byte("signed"))
	if err != nil || st.State != StateHelping || st.UntilTime().Unix() != 1<<31 {
		t.Fatal(st, err)
	}
	if _, err := Fetch(ctx, c, srvHost.ID(), [RequestIDLen]byte{1}); err != nil {
		t.Fatal(err)
	}
	h.err = wire.Errorf(wire.NotFound, "no such request")
	_, err = Done(ctx, c, srvHost.ID(), [RequestIDLen]byte{1})
	wantStatus(t, err, wire.NotFound)
	// a handler that makes a status breaking the format sends nothing of it
	h.err, h.st = nil, Status{State: StateReleased}
	_, err = Fetch(ctx, c, srvHost.ID(), [RequestIDLen]byte{1})
	wantStatus(t, err, wire.BadRequest)
}

// TestOnePeerIsRateLimitedAndManyIdentitiesAreBounded: a burst past
// peerBurst is refused, and the limiter remembers at most maxLimited
// peers however many identities ask.
func TestOnePeerIsRateLimitedAndManyIdentitiesAreBounded(t *testing.T) {
	h := &handler{st: Status{State: StateWaiting}}
	s, client := pair(t, h)
	call, _ := client()
	id := bytes.Repeat([]byte{7}, RequestIDLen)
	limited := 0
	for range peerBurst + 5 {
		if err := call(Request{Op: OpFetch, Request: id}); err != nil {
			wantStatus(t, err, wire.RateLimited)
			limited++
		}
	}
	if limited != 5 {
		t.Fatalf("%d of %d requests rate limited", limited, peerBurst+5)
	}
	raw, _ := wire.Marshal(Request{Op: OpFetch, Request: id})
	for range 3 * maxLimited {
		k := keys.GeneratePeerKey()
		if _, err := s.serve(context.Background(), k.ID(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.lim.Len(); n > maxLimited {
		t.Fatalf("the limiter remembers %d peers", n)
	}
}

func TestMailRoundTrips(t *testing.T) {
	for _, m := range []Mail{{Message: []byte("signed")}, {Done: make([]byte, RequestIDLen)}} {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseMail(b)
		if err != nil || !bytes.Equal(got.Message, m.Message) || !bytes.Equal(got.Done, m.Done) {
			t.Fatal(got, err)
		}
	}
	for _, m := range []Mail{{}, {Message: []byte("x"), Done: make([]byte, RequestIDLen)}, {Done: []byte{1}},
		{Message: make([]byte, MaxMessageBytes+1)}} {
		b, _ := m.Encode()
		if _, err := ParseMail(b); err == nil {
			t.Fatalf("%+v parsed", m)
		}
	}
}
