package groupwire

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// fakeHandler answers every checked request: info with an Info, every
// other op with no body. With release set it holds each request until
// release is closed (or the exchange's context ends).
type fakeHandler struct {
	calls   atomic.Int64
	entered chan peer.ID
	release chan struct{}
	info    Info
}

func (h *fakeHandler) Handle(ctx context.Context, remote peer.ID, req *Request) (any, error) {
	h.calls.Add(1)
	if h.entered != nil {
		h.entered <- remote
	}
	if h.release != nil {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if req.Op == OpInfo {
		in := h.info
		return &in, nil
	}
	return nil, nil
}

// rig is a group vault peer serving the protocol with a fake handler, on
// a frozen clock: no bucket refills unless the test advances it.
type rig struct {
	t       *testing.T
	vault   host.Host
	srv     *Server
	handler *fakeHandler
	clock   *testkit.Clock
}

func newRig(t *testing.T, h *fakeHandler) *rig {
	t.Helper()
	if h == nil {
		h = &fakeHandler{}
	}
	h.info = validInfo(t)
	r := &rig{t: t, vault: testkit.Host(t, testkit.Key(t, "vault")), handler: h, clock: testkit.NewClock(testkit.Epoch)}
	srv, err := NewServer(r.vault, Config{Handler: h, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	t.Cleanup(func() { srv.Close() })
	return r
}

// client is a fresh peer connected to the vault, asking about "family".
func (r *rig) client() Client {
	r.t.Helper()
	h := testkit.Host(r.t, nil)
	testkit.Connect(r.t, h, r.vault)
	return Client{H: h, Vault: r.vault.ID(), Group: "family"}
}

func statusOf(err error) wire.Status {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Status
	}
	return wire.Internal
}

// says checks that err is a refusal whose message, the words the person
// reads, says want and shows nothing internal.
func says(t testing.TB, what string, err error, want string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("%s: %v, not a refusal", what, err)
	}
	testkit.Sentence(t, what, errors.New(we.Message), want)
}

func ctx(t *testing.T) context.Context { return testkit.Context(t, time.Minute) }

func TestNewServerNeedsAHandler(t *testing.T) {
	if _, err := NewServer(testkit.Host(t, nil), Config{}); err == nil {
		t.Fatal("a server without a handler started")
	}
}

func TestClientGetsTheHandlersInfo(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	in, err := c.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if in.Height != r.handler.info.Height || in.Role != RoleAdmin || len(IDs(in.Approvers)) != 2 {
		t.Fatalf("got %+v", in)
	}
	if err := c.Put(ctx(t), "wifi", []byte("v"), testkit.Epoch); err != nil {
		t.Fatal(err)
	}
}

// A client sends a request that breaks the field table as it is; the
// server refuses it before the handler sees it.
func TestTheServerRefusesWhatBreaksTheFieldTable(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	err := c.Put(ctx(t), "wifi", nil, time.Time{})
	if statusOf(err) != wire.BadRequest {
		t.Fatalf("a put without a value: %v", err)
	}
	says(t, "a put without a value", err, "a put request needs a value")
	c.Group = "Not A Name"
	if _, err := c.Info(ctx(t)); statusOf(err) != wire.BadRequest {
		t.Fatalf("a bad group name: %v", err)
	}
	if n := r.handler.calls.Load(); n != 0 {
		t.Fatalf("the handler saw %d malformed requests", n)
	}
}

func TestRateLimitIsPerPeer(t *testing.T) {
	r := newRig(t, nil)
	a, b := r.client(), r.client()
	for i := range peerBurst {
		if _, err := a.Info(ctx(t)); err != nil {
			t.Fatalf("request %d of a burst: %v", i+1, err)
		}
	}
	_, err := a.Info(ctx(t))
	if statusOf(err) != wire.RateLimited {
		t.Fatalf("request %d of a burst of %d: %v", peerBurst+1, peerBurst, err)
	}
	says(t, "a peer over its burst", err, "too many group requests; retry in a few seconds")
	if _, err := b.Info(ctx(t)); err != nil {
		t.Fatalf("another peer is refused while the first is limited: %v", err)
	}
	if n := r.handler.calls.Load(); n != peerBurst+1 {
		t.Fatalf("the handler saw %d requests; want %d (a limited request never reaches it)", n, peerBurst+1)
	}
	r.clock.Advance(time.Second)
	for i := range peerRate {
		if _, err := a.Info(ctx(t)); err != nil {
			t.Fatalf("request %d a second later: %v", i+1, err)
		}
	}
	if _, err := a.Info(ctx(t)); statusOf(err) != wire.RateLimited {
		t.Fatalf("a second refills peerRate tokens, not more: %v", err)
	}
}

// serveAs runs one request through the server as remote, as a stream
// from remote would (no network: for floods of many identities).
func (s *Server) serveAs(t testing.TB, remote peer.ID, req Request) (any, error) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return s.serve(c, remote, encode(t, req))
}

func TestManyIdentitiesKeepTheLimiterBounded(t *testing.T) {
	r := newRig(t, nil)
	req := request(t, OpInfo, "R")
	ids := func(n int) []peer.ID {
		out := make([]peer.ID, n)
		for i := range out {
			k := keys.GeneratePeerKey()
			out[i] = k.ID()
		}
		return out
	}
	// 300 throwaway identities, each over its burst.
	for _, id := range ids(300) {
		for i := range peerBurst {
			if _, err := r.srv.serveAs(t, id, req); err != nil {
				t.Fatalf("request %d of a fresh identity: %v", i+1, err)
			}
		}
		if _, err := r.srv.serveAs(t, id, req); statusOf(err) != wire.RateLimited {
			t.Fatalf("an identity over its burst: %v", err)
		}
	}
	if n := r.srv.lim.Len(); n != 300 {
		t.Fatalf("the limiter tracks %d peers; want 300", n)
	}
	if testing.Short() {
		t.Log("-short: the flood past maxLimited was not run")
	} else {
		// More identities than the limiter remembers: its memory stays
		// within maxLimited.
		for _, id := range ids(maxLimited + 100) {
			r.srv.serveAs(t, id, req)
			if n := r.srv.lim.Len(); n > maxLimited {
				t.Fatalf("the limiter tracks %d peers, over maxLimited (%d)", n, maxLimited)
			}
		}
	}
	// A fresh, honest peer on a real host is served.
	if _, err := r.client().Info(ctx(t)); err != nil {
		t.Fatalf("an honest peer after the flood: %v", err)
	}
}

func TestInFlightBound(t *testing.T) {
	h := &fakeHandler{entered: make(chan peer.ID, maxInFlight), release: make(chan struct{})}
	r := newRig(t, h)
	const clients = 4 // each within its burst: maxInFlight/clients < peerBurst
	cs := make([]Client, clients)
	for i := range cs {
		cs[i] = r.client()
	}
	results := make(chan error, maxInFlight)
	for i := range maxInFlight {
		go func() {
			_, err := cs[i%clients].Info(ctx(t))
			results <- err
		}()
	}
	for i := range maxInFlight {
		testkit.Within(t, 30*time.Second, h.entered, "request %d of %d reaching the handler", i+1, maxInFlight)
	}
	_, err := r.client().Info(ctx(t))
	if statusOf(err) != wire.Unavailable {
		t.Fatalf("request %d while %d are served: %v", maxInFlight+1, maxInFlight, err)
	}
	says(t, "a request over the in-flight bound", err, "the group vault is busy; retry in a few seconds")
	close(h.release)
	for i := range maxInFlight {
		if err := testkit.Within(t, 30*time.Second, results, "held request %d answering", i+1); err != nil {
			t.Fatalf("a held request: %v", err)
		}
	}
	h.entered = nil
	if _, err := cs[0].Info(ctx(t)); err != nil {
		t.Fatalf("a request once the held ones are answered: %v", err)
	}
	if n := h.calls.Load(); n != maxInFlight+1 {
		t.Fatalf("the handler saw %d requests; want %d", n, maxInFlight+1)
	}
}

// rawExchange writes frame (its bytes as they go on the stream) and reads
// the reply envelope.
func rawExchange(t *testing.T, from host.Host, to peer.ID, frame []byte) exchange.Reply {
	t.Helper()
	s, err := from.NewStream(ctx(t), to, ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	raw, err := wire.ReadFrame(s, MaxResponse)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	var rep exchange.Reply
	if err := wire.UnmarshalCanonical(raw, &rep); err != nil {
		t.Fatalf("the reply envelope: %v", err)
	}
	return rep
}

func framed(t *testing.T, body []byte) []byte {
	t.Helper()
	var b testkit.Buffer
	if err := wire.WriteFrame(&b, body, len(body)+1); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMalformedFramesNeverReachTheHandler(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	tooLong := append([]byte{}, framed(t, make([]byte, 8))...)
	tooLong = append(wireUvarint(MaxRequest+1), tooLong...)
	for _, tc := range []struct {
		name  string
		frame []byte
		st    wire.Status
	}{
		{"a body that is not CBOR", framed(t, []byte{0xff, 0x00}), wire.BadRequest},
		{"a body that is not a request", framed(t, encode(t, []int{1, 2, 3})), wire.BadRequest},
		{"a request with an unknown field", framed(t, encode(t, map[uint64]any{1: 2, 2: "family", 18: 1})), wire.BadRequest},
		{"a request that is not canonical", framed(t, []byte{0xa2, 0x01, 0x18, 0x02, 0x02, 0x66, 'f', 'a', 'm', 'i', 'l', 'y'}), wire.BadRequest},
		{"a malformed length prefix", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, wire.BadRequest},
		{"a length over MaxRequest", tooLong, wire.TooLarge},
	} {
		rep := rawExchange(t, c.H, r.vault.ID(), tc.frame)
		if rep.Status != tc.st || len(rep.Body) != 0 {
			t.Errorf("%s: status %s (%q); want %s", tc.name, rep.Status.Name(), rep.Message, tc.st.Name())
		}
	}
	if n := r.handler.calls.Load(); n != 0 {
		t.Fatalf("the handler saw %d malformed requests", n)
	}
	// The same stream shape with a good request does reach it.
	if rep := rawExchange(t, c.H, r.vault.ID(), framed(t, encode(t, request(t, OpInfo, "R")))); rep.Status != wire.OK {
		t.Fatalf("a good raw request: %s %q", rep.Status.Name(), rep.Message)
	}
}

func wireUvarint(n uint64) []byte {
	var out []byte
	for n >= 0x80 {
		out = append(out, byte(n)|0x80)
		n >>= 7
	}
	return append(out, byte(n))
}

func TestCloseWaitsForInFlightRequests(t *testing.T) {
	h := &fakeHandler{entered: make(chan peer.ID, 1), release: make(chan struct{})}
	r := newRig(t, h)
	c := r.client()
	result := make(chan error, 1)
	go func() {
		_, err := c.Info(ctx(t))
		result <- err
	}()
	testkit.Within(t, 30*time.Second, h.entered, "the request reaching the handler")
	closed := make(chan struct{})
	go func() {
		r.srv.Close()
		close(closed)
	}()
	done := func() bool {
		select {
		case <-closed:
			return true
		default:
			return false
		}
	}
	testkit.Never(t, 200*time.Millisecond, done, "Close returned while a request was being served")
	close(h.release)
	testkit.Within(t, 30*time.Second, closed, "Close returning once the request is answered")
	if err := testkit.Within(t, 30*time.Second, result, "the held request's answer"); err != nil {
		t.Fatalf("the request Close waited for: %v", err)
	}
	if _, err := c.Info(ctx(t)); err == nil {
		t.Fatal("a closed server answered")
	}
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("the handler saw %d requests; want 1", n)
	}
}

// A server racing many closes and requests neither panics nor leaks a
// request past Close.
func TestCloseDuringRequests(t *testing.T) {
	h := &fakeHandler{}
	r := newRig(t, h)
	c := r.client()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { c.Info(ctx(t)) })
	}
	r.srv.Close()
	after := h.calls.Load()
	wg.Wait()
	if n := h.calls.Load(); n != after {
		t.Fatalf("the handler was called %d times after Close returned", n-after)
	}
}

// The client checks the body a vault sends (doc.go "Replies").
func TestClientRefusesAMalformedInfo(t *testing.T) {
	r := newRig(t, nil)
	r.handler.info.Role = "owner"
	_, err := r.client().Info(ctx(t))
	if statusOf(err) != wire.BadRequest {
		t.Fatalf("an info with an unknown role: %v", err)
	}
	says(t, "an info with an unknown role", err, "the vault named an unknown role")
}
