package agentsock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/wire"
)

// Identity is the agent a connection authenticated as.
type Identity struct {
	Name string  // the agent's name, as Backend.Agent gave it
	Key  peer.ID // the key the connection proved
}

// Call is one tool call about to run, for Config.OnCall.
type Call struct {
	Agent Identity
	Tool  string // the MCP tool's name
}

// Config configures a Server.
type Config struct {
	// Path is the socket's path. Its folder must not be world-writable.
	Path string
	// Mode is the socket's mode: 0 means 0600. Bits for others are
	// refused; 0660 with Group lets an agent run as another Unix user.
	Mode os.FileMode
	// Group, if set, is the socket's group: a name or a numeric ID.
	Group string
	// Backend does the work; required.
	Backend Backend
	// OnCall, if set, runs before every tool call with the authenticated
	// agent (counting it, checking its lock); an error refuses the call.
	OnCall func(ctx context.Context, c Call) error
	// Logger receives connection failures and internal errors (never a
	// key or a tool's arguments). Nil discards.
	Logger *slog.Logger
	// Now is the clock of nonce expiry; nil is time.Now.
	Now func() time.Time
	// Rand is the source of nonces; nil is crypto/rand.
	Rand io.Reader
	// MaxConns and MaxNonces: 0 means DefaultMaxConns and DefaultMaxNonces.
	MaxConns  int
	MaxNonces int
}

// Server serves MCP to authenticated agents on a unix socket.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	queue   *connQueue
	srv     *http.Server
	nonces  *nonceSet
	slots   chan struct{}
	wg      sync.WaitGroup
	closing chan struct{}
	ctx     context.Context // done at Close: ends handshakes under way
	cancel  context.CancelFunc
	once    sync.Once
}

// Listen checks cfg, creates the socket (replacing a stale socket, never
// another kind of file) and serves on it until Close.
func Listen(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("agent socket: no backend")
	}
	if cfg.Mode == 0 {
		cfg.Mode = 0o600
	}
	if cfg.Mode&^0o770 != 0 {
		return nil, fmt.Errorf("agent socket: mode %v gives access to other users; use 0600, or 0660 with a group", cfg.Mode)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gid := -1
	if cfg.Group != "" {
		g, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	if err := checkSocketPath(cfg.Path); err != nil {
		return nil, err
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", cfg.Path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("agent socket: cannot listen on %s: %w", cfg.Path, err)
	}
	if gid >= 0 {
		if err := os.Chown(cfg.Path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("agent socket: cannot give %s to group %s: %w", cfg.Path, cfg.Group, err)
		}
	}
	if err := os.Chmod(cfg.Path, cfg.Mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	s := &Server{
		cfg: cfg, log: log, ln: ln,
		queue:   newConnQueue(ln.Addr()),
		nonces:  newNonceSet(cfg.MaxNonces, cfg.Now),
		slots:   make(chan struct{}, cfg.MaxConns),
		closing: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: HandshakeTimeout,
		IdleTimeout:       IdleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if ac, ok := c.(*authedConn); ok {
				return context.WithValue(ctx, identityKey{}, ac.id)
			}
			return ctx
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.wg.Add(2)
	go s.accept()
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(s.queue); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("agent socket stopped", "err", err)
		}
	}()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.cfg.Path }

// Close stops the server, closes every connection and removes the socket.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		s.cancel()
		s.ln.Close()
		s.queue.Close()
		err = s.srv.Close()
		s.wg.Wait()
	})
	return err
}

func lookupGroup(g string) (int, error) {
	if n, err := strconv.Atoi(g); err == nil && n >= 0 {
		return n, nil
	}
	gr, err := user.LookupGroup(g)
	if err != nil {
		return 0, fmt.Errorf("agent socket: no group named %q", g)
	}
	return strconv.Atoi(gr.Gid)
}

// checkSocketPath refuses a path too long for a unix socket, one whose
// folder others can write to (they could put their own socket there) and
// one that names a file other than a socket; it removes a stale socket.
func checkSocketPath(path string) error {
	if path == "" {
		return errors.New("agent socket: no socket path")
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("agent socket: the path %s is %d bytes, over the %d a unix socket allows; use a shorter folder", path, len(path), maxSocketPath)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("agent socket: the folder %s cannot be used: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("agent socket: %s is not a folder", dir)
	}
	if st.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("agent socket: the folder %s is writable by every user (mode %v); put the socket in a folder only its owner can write", dir, st.Mode().Perm())
	}
	if lst, err := os.Lstat(path); err == nil {
		if lst.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("agent socket: %s exists and is not a socket; refusing to replace it", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("agent socket: cannot remove the stale socket %s: %w", path, err)
		}
	}
	return nil
}

// accept takes connections, refuses them over MaxConns, and runs each
// handshake on its own goroutine.
func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("agent socket: accept failed", "err", err)
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-s.closing:
				t.Stop()
				return
			}
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				stop := context.AfterFunc(s.ctx, func() { c.Close() })
				defer stop()
				s.refuse(c, refusal(wire.Unavailable, "the agent socket has %d connections open, its most; close one and try again", s.cfg.MaxConns))
				c.Close()
			}()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			stop := context.AfterFunc(s.ctx, func() { c.Close() })
			ac, err := s.handshake(c)
			stop()
			if err != nil {
				s.log.Info("agent socket: connection refused", "err", err)
				c.Close()
				<-s.slots
				return
			}
			if !s.queue.push(ac) {
				ac.Close()
			}
		}()
	}
}

func (s *Server) refuse(c net.Conn, e *HandshakeError) {
	c.SetWriteDeadline(time.Now().Add(HandshakeTimeout))
	_ = wire.WriteMsg(c, maxChallenge, serverFrame{Status: uint64(e.Status), Message: e.Msg})
}

// handshake challenges c and checks its answer (doc.go "Handshake").
func (s *Server) handshake(c net.Conn) (*authedConn, error) {
	c.SetDeadline(time.Now().Add(HandshakeTimeout))
	var nonce [NonceLen]byte
	if _, err := io.ReadFull(s.cfg.Rand, nonce[:]); err != nil {
		e := refusal(wire.Internal, "the agent socket could not draw a challenge")
		s.refuse(c, e)
		return nil, e
	}
	if !s.nonces.issue(nonce) {
		e := refusal(wire.Unavailable, "the agent socket is taking too many new connections; try again in a minute")
		s.refuse(c, e)
		return nil, e
	}
	if err := wire.WriteMsg(c, maxChallenge, serverFrame{Status: uint64(wire.OK), Nonce: nonce[:]}); err != nil {
		return nil, errors.New("the agent left before the challenge")
	}
	b, err := wire.ReadFrame(c, maxAnswer)
	if err != nil {
		e := refusal(wire.StatusOf(err), "the answer to the challenge did not arrive whole within %s", HandshakeTimeout)
		if errors.Is(err, wire.TooLarge) {
			e = refusal(wire.TooLarge, "the answer to the challenge is over %d bytes", maxAnswer)
		}
		s.refuse(c, e)
		return nil, e
	}
	id, he := s.check(c, nonce, b)
	if he != nil {
		s.refuse(c, he)
		return nil, he
	}
	if err := wire.WriteMsg(c, maxChallenge, serverFrame{Status: uint64(wire.OK), Agent: id.Name}); err != nil {
		return nil, errors.New("the agent left before the verdict")
	}
	c.SetDeadline(time.Time{})
	return &authedConn{Conn: c, id: id, release: func() { <-s.slots }}, nil
}

// check judges an answer, in order: its form, its nonce (this
// connection's challenge, answered once, in time), its signature, then
// whose key it is.
func (s *Server) check(c net.Conn, nonce [NonceLen]byte, b []byte) (Identity, *HandshakeError) {
	a, err := parseAnswer(b)
	if err != nil {
		return Identity{}, refusal(wire.BadRequest, "the answer to the challenge is malformed: it must name an Ed25519 agent key, the nonce and a signature")
	}
	if !equalNonce(a.nonce[:], nonce[:]) {
		s.nonces.consume(nonce)
		return Identity{}, refusal(wire.Unauthorized, "the answer is to another challenge than this connection's: a replayed or copied answer is refused")
	}
	switch s.nonces.consume(nonce) {
	case nonceUsed:
		return Identity{}, refusal(wire.Unauthorized, "this challenge was already answered: a replayed answer is refused")
	case nonceExpired:
		return Identity{}, refusal(wire.Expired, "the challenge expired before it was answered (answer within %s)", NonceTTL)
	}
	if !a.verify() {
		return Identity{}, refusal(wire.Unauthorized, "the signature does not hold for the key it names: the key file does not match, or the answer was signed by another agent")
	}
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	defer cancel()
	name, err := s.cfg.Backend.Agent(ctx, a.agent)
	if err != nil {
		if msg, ok := shown(err); ok {
			return Identity{}, refusal(wire.Forbidden, "%s", msg)
		}
		s.log.Warn("agent socket: looking up an agent key failed", "key", a.agent, "err", err)
		return Identity{}, refusal(wire.Internal, "the node could not look the agent key up; the owner's log has the details")
	}
	return Identity{Name: name, Key: a.agent}, nil
}

// identityKey carries a connection's Identity in its context.
type identityKey struct{}

// authedConn is an authenticated connection: it gives its slot back once
// closed.
type authedConn struct {
	net.Conn
	id      Identity
	release func()
	once    sync.Once
}

func (c *authedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connQueue is the net.Listener the HTTP server serves: it yields only
// authenticated connections.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// nonceSet remembers issued nonces until NonceTTL after issue, at most
// max at once (doc.go "Handshake").
type nonceSet struct {
	mu  sync.Mutex
	max int
	now func() time.Time
	m   map[[NonceLen]byte]nonceEntry
}

type nonceEntry struct {
	expires time.Time
	used    bool
}

func newNonceSet(max int, now func() time.Time) *nonceSet {
	return &nonceSet{max: max, now: now, m: make(map[[NonceLen]byte]nonceEntry)}
}

// issue records a new challenge; false when the set is full. A nonce
// already remembered keeps its state: a used one stays used.
func (n *nonceSet) issue(v [NonceLen]byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if _, ok := n.m[v]; ok {
		return true
	}
	if len(n.m) >= n.max {
		for k, e := range n.m {
			if !now.Before(e.expires) {
				delete(n.m, k)
			}
		}
		if len(n.m) >= n.max {
			return false
		}
	}
	n.m[v] = nonceEntry{expires: now.Add(NonceTTL)}
	return true
}

// nonceVerdict is what consume found.
type nonceVerdict int

const (
	nonceFresh nonceVerdict = iota
	nonceUsed
	nonceExpired
)

// consume spends a nonce: any answer uses up its challenge.
func (n *nonceSet) consume(v [NonceLen]byte) nonceVerdict {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.m[v]
	switch {
	case !ok || !n.now().Before(e.expires):
		return nonceExpired
	case e.used:
		return nonceUsed
	}
	e.used = true
	n.m[v] = e
	return nonceFresh
}

// len is the number of nonces remembered.
func (n *nonceSet) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}
