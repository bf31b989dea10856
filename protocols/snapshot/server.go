package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/blockcache"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/peerlimit"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

// Config configures a Server.
type Config struct {
	// Cache holds the blocks; its Authorizer decides who may push.
	Cache *blockcache.Cache
	// Manifests keeps the current manifest of each (owner, resource): a
	// namespace of the role's store.
	Manifests ds.Batching
	// Verifier checks fetch tokens: the role's, with its revocation set.
	Verifier *capability.Verifier
	// Clock; default time.Now.
	Clock func() time.Time
	// Log; default discards.
	Log *slog.Logger
	// Caps; zero means the default of limits.go.
	MaxStreams, MaxStreamsPerPeer      int
	MaxManifests, MaxManifestsPerOwner int
}

// Server serves /ocmt/snapshot/1 from a cache.
type Server struct {
	h       host.Host
	cfg     Config
	log     *slog.Logger
	limiter *peerlimit.Limiter

	mu       sync.Mutex
	streams  int
	perPeer  map[peer.ID]int
	perOwner map[peer.ID]int // manifests held
	held     int
	wg       sync.WaitGroup
	closed   bool
	ctx      context.Context // ends at Close, and resets every stream in flight
	cancel   context.CancelFunc
}

// NewServer reads the manifests held (to count them) and registers the
// handler.
func NewServer(ctx context.Context, h host.Host, cfg Config) (*Server, error) {
	if cfg.Cache == nil || cfg.Manifests == nil || cfg.Verifier == nil {
		return nil, errors.New("snapshot: a server needs a cache, a manifest store and a verifier")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxStreams, DefaultMaxStreams)
	def(&cfg.MaxStreamsPerPeer, DefaultMaxStreamsPerPeer)
	def(&cfg.MaxManifests, DefaultMaxManifests)
	def(&cfg.MaxManifestsPerOwner, DefaultMaxManifestsPerOwner)
	s := &Server{h: h, cfg: cfg, log: cfg.Log.With("protocol", ID),
		limiter: peerlimit.New(peerRate, peerBurst, maxLimited, cfg.Clock),
		perPeer: map[peer.ID]int{}, perOwner: map[peer.ID]int{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	res, err := cfg.Manifests.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		return nil, err
	}
	for r := range res.Next() {
		if r.Error != nil {
			res.Close()
			return nil, r.Error
		}
		if owner, ok := ownerOfKey(r.Key); ok {
			s.perOwner[owner]++
			s.held++
		}
	}
	res.Close()
	h.SetStreamHandler(ID, s.handle)
	return s, nil
}

// Close removes the handler, resets the streams in flight and waits for
// their handlers to return.
func (s *Server) Close() {
	s.h.RemoveStreamHandler(ID)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func ownerOfKey(k string) (peer.ID, bool) {
	parts := strings.Split(strings.TrimPrefix(k, "/"), "/")
	if len(parts) != 2 {
		return "", false
	}
	id, err := peer.Decode(parts[0])
	return id, err == nil
}

// acquire takes a stream slot for remote (doc.go "Server limits").
func (s *Server) acquire(remote peer.ID) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, wire.Errorf(wire.Unavailable, "shutting down")
	case s.perPeer[remote] >= s.cfg.MaxStreamsPerPeer:
		return nil, wire.Errorf(wire.RateLimited, "%d streams of yours are open here", s.perPeer[remote])
	case s.streams >= s.cfg.MaxStreams:
		return nil, wire.Errorf(wire.Unavailable, "server busy")
	}
	s.streams++
	s.perPeer[remote]++
	s.wg.Add(1)
	return func() {
		s.mu.Lock()
		s.streams--
		if s.perPeer[remote]--; s.perPeer[remote] == 0 {
			delete(s.perPeer, remote)
		}
		s.mu.Unlock()
		s.wg.Done()
	}, nil
}

// Streams is how many pushes and fetches are in flight.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

// conn is one stream with its buffered sides and per-frame deadlines.
type conn struct {
	st network.Stream
	r  *bufio.Reader
	w  *bufio.Writer
}

func (c *conn) readFrame(max int) ([]byte, error) {
	c.st.SetReadDeadline(time.Now().Add(FrameTimeout))
	return wire.ReadFrame(c.r, max)
}

func (c *conn) readBlock(buf []byte) ([]byte, error) {
	c.st.SetReadDeadline(time.Now().Add(FrameTimeout))
	return readBlock(c.r, buf)
}

func (c *conn) writeFrame(b []byte, max int) error {
	c.st.SetWriteDeadline(time.Now().Add(FrameTimeout))
	return wire.WriteFrame(c.w, b, max)
}

func (c *conn) reply(rep exchange.Reply) error {
	b, err := wire.Marshal(rep)
	if err != nil {
		return err
	}
	return c.writeFrame(b, maxReply)
}

func (s *Server) handle(st network.Stream) {
	remote := st.Conn().RemotePeer()
	c := &conn{st: st, r: bufio.NewReaderSize(st, 64<<10), w: bufio.NewWriterSize(st, 64<<10)}
	ctx, cancel := context.WithTimeout(s.ctx, MaxStreamTime)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	log := s.log.With("peer", remote.String())
	err := s.serve(ctx, c, remote, log)
	if err == nil {
		st.Close()
		return
	}
	if errors.Is(err, errAbort) {
		log.Debug("snapshot stream cut", "err", err)
		st.Reset()
		return
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		log.Warn("snapshot stream failed", "err", err)
		we = &wire.Error{Status: wire.Internal}
	} else {
		log.Debug("snapshot request refused", "status", we.Status.String(), "err", we.Message)
	}
	if c.reply(exchange.Reply{Status: we.Status, Message: we.Message}) != nil {
		st.Reset()
		return
	}
	st.Close()
}

// errAbort marks a failure after the reply was sent: the stream is reset,
// and the reader sees a cut stream (snapshot.ErrTruncated).
var errAbort = errors.New("aborted after the reply")

// serve runs one stream in doc.go's order.
func (s *Server) serve(ctx context.Context, c *conn, remote peer.ID, log *slog.Logger) error {
	if !s.limiter.Allow(remote) {
		return wire.Errorf(wire.RateLimited, "too many snapshot requests; retry later")
	}
	release, err := s.acquire(remote)
	if err != nil {
		return err
	}
	defer release()
	// One block and one request, charged to the stream before either is
	// allocated.
	need := MaxBlockFrame + MaxRequest
	if err := c.st.Scope().ReserveMemory(need, network.ReservationPriorityAlways); err != nil {
		return wire.Errorf(wire.Unavailable, "server busy")
	}
	defer c.st.Scope().ReleaseMemory(need)
	raw, err := c.readFrame(MaxRequest)
	if err != nil {
		if we := (*wire.Error)(nil); errors.As(err, &we) {
			return we
		}
		return fmt.Errorf("%w: reading the request: %v", errAbort, err)
	}
	req, err := parseRequest(raw)
	if err != nil {
		return err
	}
	log.Debug("snapshot request", "op", describe(req))
	if req.Op == OpPush {
		return s.push(ctx, c, remote, req.Manifest)
	}
	return s.fetch(ctx, c, remote, req.fetch())
}

func manifestKey(owner peer.ID, resource string) ds.Key { return snap.StateKey(owner, resource) }

// current is the manifest held for (owner, resource), or nil.
func (s *Server) current(ctx context.Context, owner peer.ID, resource string) (*snap.Signed, *snap.Manifest, error) {
	raw, err := s.cfg.Manifests.Get(ctx, manifestKey(owner, resource))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	sg, m, err := snap.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("a stored manifest does not parse: %w", err)
	}
	return sg, m, nil
}

// push takes a manifest and its blocks from their owner (doc.go "Push").
func (s *Server) push(ctx context.Context, c *conn, remote peer.ID, raw []byte) error {
	if err := s.cfg.Cache.Authorize(ctx, remote); err != nil {
		return wire.Errorf(wire.Forbidden, "this cache takes snapshots only from peers it serves (a reservation here)")
	}
	sg, m, err := snap.Parse(raw)
	if err != nil {
		return wire.Errorf(wire.BadRequest, "%v", err)
	}
	if m.Owner != remote {
		return wire.Errorf(wire.Forbidden, "the manifest is signed by %s, not by you", m.Owner)
	}
	if err := m.CheckTime(s.cfg.Clock()); err != nil {
		return wire.Errorf(wire.Expired, "%v", err)
	}
	blocks := snap.ChunkCount(m.Size) + 1
	// The root lists a digest per chunk in at most 64 bytes more
	// (internal/snapshot "Root block", MaxRootBytes at the cap).
	rootMax := int64(snap.MaxRootBytes - (snap.MaxChunks-int(blocks-1))*snap.DigestSize)
	if err := s.cfg.Cache.Room(int64(m.Size)+rootMax, int(blocks)); err != nil {
		return wire.Errorf(wire.TooLarge, "a snapshot of %d bytes does not fit the room this cache gives one owner", m.Size)
	}
	old, om, err := s.current(ctx, m.Owner, m.Resource)
	if err != nil {
		return err
	}
	if om != nil {
		switch {
		case m.Version < om.Version:
			return wire.Errorf(wire.Conflict, "version %d is older than the cached version %d", m.Version, om.Version)
		case m.Version == om.Version && old.Hash() != sg.Hash():
			return wire.Errorf(wire.Conflict, "another manifest of version %d is cached", m.Version)
		}
	} else if err := s.roomForManifest(m.Owner); err != nil {
		return err
	}

	buf := make([]byte, 0, MaxBlockFrame)
	rb, err := c.readBlock(buf)
	if err != nil {
		return blockReadErr(err, "the root")
	}
	if !snap.CheckBlock(m.Root, rb) {
		return wire.Errorf(wire.BadRequest, "the root block does not match the manifest's root CID")
	}
	root, err := snap.ParseRoot(rb)
	if err != nil || root.Size != m.Size {
		return wire.Errorf(wire.BadRequest, "the root block does not describe %d sealed bytes", m.Size)
	}
	if err := s.put(ctx, remote, m.Root, rb); err != nil {
		return err
	}
	for i := range root.Chunks {
		b, err := c.readBlock(buf)
		if err != nil {
			return blockReadErr(err, fmt.Sprintf("chunk %d of %d", i, len(root.Chunks)))
		}
		id := root.CID(i)
		if len(b) != snap.ChunkLen(root.Size, i) || !snap.CheckBlock(id, b) {
			return wire.Errorf(wire.BadRequest, "chunk %d does not match the root", i)
		}
		if err := s.put(ctx, remote, id, b); err != nil {
			return err
		}
	}
	c.st.SetReadDeadline(time.Now().Add(FrameTimeout))
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		return wire.Errorf(wire.BadRequest, "data after the last block")
	}
	// Every block is in: the manifest becomes current.
	if err := s.storeManifest(ctx, m, raw, om == nil); err != nil {
		return err
	}
	if err := c.reply(exchange.Reply{Status: wire.OK}); err != nil {
		return fmt.Errorf("%w: %v", errAbort, err)
	}
	return nil
}

func blockReadErr(err error, what string) error {
	if we := (*wire.Error)(nil); errors.As(err, &we) {
		return we
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return wire.Errorf(wire.BadRequest, "the push ended before %s", what)
	}
	return fmt.Errorf("%w: reading %s: %v", errAbort, what, err)
}

// put stores one checked block, with the cache's refusals as statuses.
func (s *Server) put(ctx context.Context, remote peer.ID, id cid.Cid, b []byte) error {
	err := s.cfg.Cache.Put(ctx, remote, id, b)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blockcache.ErrNotAuthorized):
		return wire.Errorf(wire.Forbidden, "this cache takes snapshots only from peers it serves (a reservation here)")
	case errors.Is(err, blockcache.ErrTooLarge):
		return wire.Errorf(wire.TooLarge, "the snapshot does not fit the room this cache gives one owner")
	case errors.Is(err, blockcache.ErrMismatch), errors.Is(err, blockcache.ErrUnsupportedCID):
		return wire.Errorf(wire.BadRequest, "a block does not match its CID")
	}
	return err
}

func (s *Server) roomForManifest(owner peer.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perOwner[owner] >= s.cfg.MaxManifestsPerOwner {
		return wire.Errorf(wire.TooLarge, "this cache holds %d snapshots of yours, its cap", s.perOwner[owner])
	}
	if s.held >= s.cfg.MaxManifests {
		return wire.Errorf(wire.Unavailable, "this cache holds all the snapshots it can")
	}
	return nil
}

func (s *Server) storeManifest(ctx context.Context, m *snap.Manifest, raw []byte, isNew bool) error {
	if isNew {
		s.mu.Lock()
		if s.perOwner[m.Owner] >= s.cfg.MaxManifestsPerOwner || s.held >= s.cfg.MaxManifests {
			s.mu.Unlock()
			return s.roomForManifest(m.Owner)
		}
		s.perOwner[m.Owner]++
		s.held++
		s.mu.Unlock()
	}
	if err := s.cfg.Manifests.Put(ctx, manifestKey(m.Owner, m.Resource), raw); err != nil {
		if isNew {
			s.mu.Lock()
			s.perOwner[m.Owner]--
			s.held--
			s.mu.Unlock()
		}
		return err
	}
	return nil
}

// fetch serves a manifest and its blocks to a token holder (doc.go
// "Fetch").
func (s *Server) fetch(ctx context.Context, c *conn, remote peer.ID, req fetchReq) error {
	tok, err := s.cfg.Verifier.Decode(req.token)
	if err != nil {
		return capwire.ToWire(err)
	}
	for _, t := range tok.Chain() {
		if t.MaxUses() > 0 {
			return wire.Errorf(wire.Forbidden, "a token with a use budget is served by its owner only, not from a cache")
		}
	}
	if _, err := s.cfg.Verifier.Verify(ctx, tok, capability.Request{Remote: remote, Owner: req.owner,
		Resource: capability.ResourcePath(req.resource), Action: capability.Read}); err != nil {
		return capwire.ToWire(err)
	}
	raw, err := s.cfg.Manifests.Get(ctx, manifestKey(req.owner, req.resource))
	if errors.Is(err, ds.ErrNotFound) {
		return wire.Errorf(wire.NotFound, "no snapshot of %s is cached here", req.resource)
	}
	if err != nil {
		return err
	}
	_, m, err := snap.Parse(raw)
	if err != nil {
		return fmt.Errorf("a stored manifest does not parse: %w", err)
	}
	if err := m.CheckTime(s.cfg.Clock()); err != nil {
		return wire.Errorf(wire.Expired, "the cached version %d of %s expired at %s", m.Version, m.Resource, m.Expiry.Format(time.RFC3339))
	}
	if k, err := snap.KeyIDOf(remote); err != nil || !m.HasRecipient(k) {
		return wire.Errorf(wire.Forbidden, "version %d of %s is not sealed to you", m.Version, m.Resource)
	}
	rb, err := s.cfg.Cache.Get(ctx, m.Root)
	if err != nil {
		return wire.Errorf(wire.NotFound, "this cache no longer holds version %d of %s", m.Version, req.resource)
	}
	root, err := snap.ParseRoot(rb)
	if err != nil {
		return fmt.Errorf("a cached root does not parse: %w", err)
	}
	for i := range root.Chunks {
		if !s.cfg.Cache.Has(root.CID(i)) {
			return wire.Errorf(wire.NotFound, "this cache no longer holds all of version %d of %s", m.Version, req.resource)
		}
	}
	body, err := wire.Marshal(FetchReply{Manifest: raw, Blocks: uint64(len(root.Chunks) + 1)})
	if err != nil {
		return err
	}
	if err := c.reply(exchange.Reply{Status: wire.OK, Body: body}); err != nil {
		return fmt.Errorf("%w: %v", errAbort, err)
	}
	if err := c.writeFrame(rb, MaxBlockFrame); err != nil {
		return fmt.Errorf("%w: %v", errAbort, err)
	}
	for i := range root.Chunks {
		b, err := s.cfg.Cache.Get(ctx, root.CID(i))
		if err != nil {
			return fmt.Errorf("%w: chunk %d: %v", errAbort, i, err)
		}
		if err := c.writeFrame(b, MaxBlockFrame); err != nil {
			return fmt.Errorf("%w: %v", errAbort, err)
		}
	}
	return nil
}
