package uigateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/protocols/directory"
)

// Outcome says how a connection to the gateway ended. Every Event has one.
type Outcome string

// The outcomes. OutcomeClosed, OutcomeIdle, OutcomeLifetime and
// OutcomeShutdown end a connection that was spliced to a node; every
// other one is a refusal, and the connection was closed without a byte
// reaching a node.
const (
	OutcomeClosed   Outcome = "closed"   // spliced; one side closed it
	OutcomeIdle     Outcome = "idle"     // spliced; no byte for IdleTimeout
	OutcomeLifetime Outcome = "lifetime" // spliced; open for MaxLifetime
	OutcomeShutdown Outcome = "shutdown" // the gateway was closed

	OutcomeRateLimited   Outcome = "rate-limited"      // the source opened connections too fast
	OutcomeSourceLimit   Outcome = "source-limit"      // the source holds MaxConnsPerIP already
	OutcomeBusy          Outcome = "busy"              // the gateway holds MaxConns already
	OutcomeTimeout       Outcome = "handshake-timeout" // no whole ClientHello within HandshakeTimeout
	OutcomeNotTLS        Outcome = "not-tls"           // ErrNotTLS
	OutcomeMalformed     Outcome = "malformed"         // ErrMalformed, or the client closed mid-hello
	OutcomeNoSNI         Outcome = "no-sni"            // ErrNoSNI
	OutcomeBadName       Outcome = "bad-name"          // the name is not HANDLE.<Domain>
	OutcomeUnknownHandle Outcome = "unknown-handle"    // Resolve refused the handle
	OutcomeNodeLimit     Outcome = "node-limit"        // the node has MaxConnsPerNode already
	OutcomeUnreachable   Outcome = "unreachable"       // Open failed
)

// Refused reports whether o is a refusal: the connection never reached a
// node.
func (o Outcome) Refused() bool {
	switch o {
	case OutcomeClosed, OutcomeIdle, OutcomeLifetime, OutcomeShutdown:
		return false
	}
	return true
}

// Event is the audit record of one connection, written when it ends. It
// holds metadata only: no byte the client or the node sent, not even the
// server name when it is not a valid handle.
type Event struct {
	Time     time.Time        // when the connection was accepted (Config.Now)
	SourceIP netip.Addr       // the client's address
	Handle   directory.Handle // the handle asked for; "" if none was read
	Node     peer.ID          // the node it resolved to; "" if it was not
	BytesIn  int64            // read from the client, the ClientHello included
	BytesOut int64            // written to the client
	Duration time.Duration    // from the accept to the close (Config.Now)
	Outcome  Outcome
}

// Limits bound a Gateway. A zero field takes its default (limits.go).
type Limits struct {
	HandshakeTimeout time.Duration // DefaultHandshakeTimeout
	OpenTimeout      time.Duration // DefaultOpenTimeout
	IdleTimeout      time.Duration // DefaultIdleTimeout
	MaxLifetime      time.Duration // DefaultMaxLifetime
	MaxConns         int           // DefaultMaxConns
	MaxConnsPerIP    int           // DefaultMaxConnsPerIP
	MaxConnsPerNode  int           // DefaultMaxConnsPerNode
	RatePerIP        rate.Limit    // DefaultRatePerIP; rate.Inf: no rate limit
	BurstPerIP       int           // DefaultBurstPerIP
	MaxTrackedIPs    int           // DefaultMaxTrackedIPs
}

func (l Limits) withDefaults() Limits {
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur(&l.HandshakeTimeout, DefaultHandshakeTimeout)
	setDur(&l.OpenTimeout, DefaultOpenTimeout)
	setDur(&l.IdleTimeout, DefaultIdleTimeout)
	setDur(&l.MaxLifetime, DefaultMaxLifetime)
	setInt(&l.MaxConns, DefaultMaxConns)
	setInt(&l.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setInt(&l.MaxConnsPerNode, DefaultMaxConnsPerNode)
	setInt(&l.BurstPerIP, DefaultBurstPerIP)
	setInt(&l.MaxTrackedIPs, DefaultMaxTrackedIPs)
	if l.RatePerIP <= 0 {
		l.RatePerIP = DefaultRatePerIP
	}
	return l
}

// Config configures a Gateway. Domain, Resolve, Open and one of Listen or
// Listener are required.
type Config struct {
	// Listen is the TCP address to listen on (":8443").
	Listen string
	// Listener, instead of Listen, is a listener the gateway takes over
	// (and closes with Close).
	Listener net.Listener
	// Domain is the configured domain: a connection whose server name is
	// HANDLE.Domain, HANDLE one valid handle (one DNS label), goes to that
	// handle's node. Case and a trailing dot do not matter.
	Domain string
	// Resolve returns the node of a handle, or an error when the handle is
	// unknown or its node holds no reservation on this relay: the
	// directory and the relay's reservations decide.
	Resolve func(ctx context.Context, h directory.Handle) (peer.ID, error)
	// Open opens a stream to node (ProtocolID, over the node's own
	// connection to this relay: see Opener).
	Open func(ctx context.Context, node peer.ID) (io.ReadWriteCloser, error)
	// Audit, when set, gets one Event per connection accepted, refused or
	// not, when it ends. It is called on the connection's goroutine, and
	// for refusals at the accept on the accepting one: it must return
	// quickly (coalesce refusals with internal/auditlimit).
	Audit func(Event)
	// Logger logs accept errors and, at debug level, refusals. Default:
	// discard.
	Logger *slog.Logger
	// Now is the clock of events and of the rate limit. Default time.Now.
	// Timeouts are the network's deadlines and timers, in real time.
	Now    func() time.Time
	Limits Limits
}

// Gateway accepts TLS connections and splices each, still encrypted, to
// the node its server name names. Safe for concurrent use.
type Gateway struct {
	cfg    Config
	lim    Limits
	domain string // lowercase, no trailing dot, with a leading dot
	ln     net.Listener
	log    *slog.Logger
	now    func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	total   int
	perIP   map[netip.Prefix]int
	perNode map[peer.ID]int
	buckets map[netip.Prefix]*rate.Limiter
}

// New listens and starts serving in the background; Close stops it.
func New(cfg Config) (*Gateway, error) {
	if cfg.Resolve == nil || cfg.Open == nil {
		return nil, errors.New("the UI gateway needs a way to resolve handles and to open streams to nodes")
	}
	domain, err := hostName(strings.TrimSuffix(cfg.Domain, "."))
	if err != nil || !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("the UI gateway's domain %q is not a DNS name of two labels or more", cfg.Domain)
	}
	ln := cfg.Listener
	switch {
	case ln != nil && cfg.Listen != "":
		return nil, errors.New("the UI gateway takes an address to listen on or a listener, not both")
	case ln == nil && cfg.Listen == "":
		return nil, errors.New("the UI gateway needs an address to listen on")
	case ln == nil:
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("the UI gateway cannot listen on %s: %w", cfg.Listen, err)
		}
	}
	g := &Gateway{cfg: cfg, lim: cfg.Limits.withDefaults(), domain: "." + domain, ln: ln,
		log: cfg.Logger, now: cfg.Now, perIP: map[netip.Prefix]int{}, perNode: map[peer.ID]int{}, buckets: map[netip.Prefix]*rate.Limiter{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.wg.Add(1)
	go g.serve()
	return g, nil
}

// Addr is the address the gateway listens on.
func (g *Gateway) Addr() net.Addr { return g.ln.Addr() }

// Active is the number of connections the gateway holds now.
func (g *Gateway) Active() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// Close stops accepting, closes every connection (each audited with
// OutcomeShutdown, or its refusal) and waits for them to end.
func (g *Gateway) Close() error {
	var err error
	g.once.Do(func() {
		g.cancel()
		err = g.ln.Close()
		g.wg.Wait()
	})
	return err
}

// serve accepts until the gateway closes.
func (g *Gateway) serve() {
	defer g.wg.Done()
	backoff := time.Duration(0)
	for {
		c, err := g.ln.Accept()
		if err != nil {
			if g.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			g.log.Warn("the UI gateway cannot accept a connection", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-g.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		start, accepted := g.now(), time.Now()
		src := sourceOf(c.RemoteAddr())
		key := sourceKey(src)
		if o := g.admit(key, start); o != "" {
			c.Close()
			g.finish(Event{Time: start, SourceIP: src, Outcome: o}, start)
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			ev := Event{Time: start, SourceIP: src}
			ev.Outcome = g.handle(c, &ev, accepted)
			g.release(key) // before the event: whoever reads it sees the place free
			g.finish(ev, start)
		}()
	}
}

// finish stamps ev's duration and audits it.
func (g *Gateway) finish(ev Event, start time.Time) {
	ev.Duration = max(g.now().Sub(start), 0)
	if ev.Outcome.Refused() {
		g.log.Debug("the UI gateway refused a connection", "source", ev.SourceIP, "handle", string(ev.Handle), "outcome", string(ev.Outcome))
	}
	if g.cfg.Audit != nil {
		g.cfg.Audit(ev)
	}
}

// admit counts a new connection from key, or returns why it is refused.
func (g *Gateway) admit(key netip.Prefix, now time.Time) Outcome {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[key]
	if !ok {
		if len(g.buckets) >= g.lim.MaxTrackedIPs {
			clear(g.buckets)
		}
		b = rate.NewLimiter(g.lim.RatePerIP, g.lim.BurstPerIP)
		g.buckets[key] = b
	}
	switch {
	case !b.AllowN(now, 1):
		return OutcomeRateLimited
	case g.perIP[key] >= g.lim.MaxConnsPerIP:
		return OutcomeSourceLimit
	case g.total >= g.lim.MaxConns:
		return OutcomeBusy
	}
	g.perIP[key]++
	g.total++
	return ""
}

// release uncounts a connection from key.
func (g *Gateway) release(key netip.Prefix) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.perIP[key]--; g.perIP[key] <= 0 {
		delete(g.perIP, key)
	}
}

// take counts a connection to node, or reports that it has
// MaxConnsPerNode already.
func (g *Gateway) take(node peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perNode[node] >= g.lim.MaxConnsPerNode {
		return false
	}
	g.perNode[node]++
	return true
}

// give uncounts a connection to node.
func (g *Gateway) give(node peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perNode[node]--; g.perNode[node] <= 0 {
		delete(g.perNode, node)
	}
}

// handle reads c's ClientHello, opens a stream to the node it names and
// splices the two until either ends. It closes c.
func (g *Gateway) handle(c net.Conn, ev *Event, accepted time.Time) Outcome {
	stop := context.AfterFunc(g.ctx, func() { c.Close() })
	defer stop()
	defer c.Close()

	_ = c.SetReadDeadline(accepted.Add(g.lim.HandshakeTimeout))
	hello, err := readHello(c)
	ev.BytesIn = int64(len(hello))
	var name string
	if err == nil {
		name, err = ParseSNI(hello) // readHello checked the header only
	}
	if err != nil {
		return g.helloRefusal(err)
	}
	h, ok := g.handleOf(name)
	if !ok {
		return OutcomeBadName
	}
	ev.Handle = h

	ctx, cancel := context.WithTimeout(g.ctx, g.lim.OpenTimeout)
	defer cancel()
	node, err := g.cfg.Resolve(ctx, h)
	if err != nil || node == "" {
		return g.orShutdown(OutcomeUnknownHandle)
	}
	ev.Node = node
	if !g.take(node) {
		return OutcomeNodeLimit
	}
	defer g.give(node)
	s, err := g.cfg.Open(ctx, node)
	if err != nil {
		return g.orShutdown(OutcomeUnreachable)
	}
	cancel()
	stopS := context.AfterFunc(g.ctx, func() { abort(s) })
	defer stopS()
	_ = c.SetReadDeadline(time.Time{})
	return g.splice(c, s, hello, ev, accepted)
}

// helloRefusal is the outcome of a ClientHello that could not be read.
func (g *Gateway) helloRefusal(err error) Outcome {
	var ne net.Error
	switch {
	case g.ctx.Err() != nil:
		return OutcomeShutdown
	case errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout
	case errors.Is(err, ErrNotTLS):
		return OutcomeNotTLS
	case errors.Is(err, ErrNoSNI):
		return OutcomeNoSNI
	}
	return OutcomeMalformed // ErrMalformed, or the client went away mid-hello
}

// orShutdown is o, unless the gateway is closing.
func (g *Gateway) orShutdown(o Outcome) Outcome {
	if g.ctx.Err() != nil {
		return OutcomeShutdown
	}
	return o
}

// handleOf returns the handle a server name asks for: name is
// HANDLE.<domain> and HANDLE a valid handle.
func (g *Gateway) handleOf(name string) (directory.Handle, bool) {
	label, ok := strings.CutSuffix(name, g.domain)
	if !ok || strings.Contains(label, ".") {
		return "", false
	}
	h, err := directory.ParseHandle(label)
	return h, err == nil
}

// splice copies between c and s, hello first to s, until both directions
// end, one fails, or a timeout or the gateway's Close ends the connection.
// It closes s.
func (g *Gateway) splice(c net.Conn, s io.ReadWriteCloser, hello []byte, ev *Event, accepted time.Time) Outcome {
	var in, out atomic.Int64
	var last atomic.Int64 // nanoseconds since t0 of the last byte either way
	t0 := time.Now()
	touch := func() { last.Store(int64(time.Since(t0))) }
	in.Store(int64(len(hello)))
	ends := make(chan error, 2)
	go func() { // client to node
		if _, err := s.Write(hello); err != nil {
			ends <- err
			return
		}
		ends <- pipe(s, c, &in, touch)
	}()
	go func() { ends <- pipe(c, s, &out, touch) }() // node to client

	idle := time.NewTimer(g.lim.IdleTimeout)
	defer idle.Stop()
	life := time.NewTimer(g.lim.MaxLifetime - time.Since(accepted))
	defer life.Stop()
	var grace <-chan time.Time
	outcome, pending, clean := OutcomeClosed, 2, false
loop:
	for {
		select {
		case err := <-ends:
			pending--
			if err != nil {
				break loop
			}
			if pending == 0 {
				clean = true
				break loop
			}
			t := time.NewTimer(halfCloseGrace)
			defer t.Stop()
			grace = t.C
		case <-idle.C:
			quiet := time.Since(t0) - time.Duration(last.Load())
			if quiet < g.lim.IdleTimeout {
				idle.Reset(g.lim.IdleTimeout - quiet)
				continue
			}
			outcome = OutcomeIdle
			break loop
		case <-life.C:
			outcome = OutcomeLifetime
			break loop
		case <-grace:
			break loop
		case <-g.ctx.Done():
			outcome = OutcomeShutdown
			break loop
		}
	}
	c.Close()
	if clean {
		s.Close()
	} else {
		abort(s)
	}
	for ; pending > 0; pending-- {
		<-ends
	}
	ev.BytesIn, ev.BytesOut = in.Load(), out.Load()
	return outcome
}

// pipe copies src to dst through a bounded buffer, counting into n and
// touching on each read, until src ends; then it closes dst for writing
// (when dst can) so the other side sees the end too. It returns nil when
// src ended cleanly.
func pipe(dst io.Writer, src io.Reader, n *atomic.Int64, touch func()) error {
	buf := make([]byte, spliceBuffer)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			touch()
			w, werr := dst.Write(buf[:k])
			n.Add(int64(w))
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				return cw.CloseWrite()
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// abort ends s at once: a reset where the stream has one.
func abort(s io.Closer) {
	if r, ok := s.(interface{ Reset() error }); ok {
		r.Reset()
		return
	}
	s.Close()
}

// sourceOf is the IP address of a remote address; the zero Addr when it
// has none.
func sourceOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// sourceKey is what the per-source bounds count on: an IPv4 address, or
// an IPv6 address's /64.
func sourceKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(ipv6Prefix)
		return p
	}
	p, _ := a.Prefix(a.BitLen())
	return p
}
