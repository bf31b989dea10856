package blockcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

var (
	// ErrDisabled is Open's answer for a cache of no bytes: the role runs
	// without one.
	ErrDisabled = errors.New("blockcache: the cache is disabled (a cap of 0 bytes)")
	// ErrNotFound: the cache does not hold the block (never did, evicted,
	// or deleted as corrupt).
	ErrNotFound = errors.New("blockcache: block not cached")
	// ErrCorrupt: the stored copy no longer hashes to its CID. It has
	// been deleted and was not served.
	ErrCorrupt = errors.New("blockcache: the cached copy was corrupt and has been deleted")
	// ErrMismatch: a block pushed does not hash to the CID it came with.
	ErrMismatch = errors.New("blockcache: the block does not match its CID")
	// ErrUnsupportedCID: a CID that is not CIDv1, raw, sha2-256.
	ErrUnsupportedCID = errors.New("blockcache: only CIDv1 raw sha2-256 blocks are cached")
	// ErrTooLarge: a block over MaxBlockBytes, or one that cannot fit the
	// pusher's quota or the cache at all.
	ErrTooLarge = errors.New("blockcache: block too large")
	// ErrNotAuthorized: the Authorizer refused the pusher.
	ErrNotAuthorized = errors.New("blockcache: this peer may not push here")
)

// Authorizer decides who may push blocks. The relay implements it ("only
// peers holding a reservation here"); a nil Authorizer refuses everyone.
type Authorizer interface {
	MayPush(ctx context.Context, pusher peer.ID) error
}

// Config configures a cache.
type Config struct {
	// MaxBytes caps the cache; 0 or less is ErrDisabled. Blocks are
	// charged their size, at least MinCharge.
	MaxBytes int64
	// PerPusher caps what one pusher's blocks take. Default
	// DefaultPerPusher, and never more than MaxBytes.
	PerPusher int64
	// Authorizer decides who may push. nil: nobody.
	Authorizer Authorizer
}

// Stats is a snapshot of the cache's accounting.
type Stats struct {
	Blocks  int
	Bytes   int64 // charged
	Pushers int
}

type entry struct {
	key     string // the CID's bytes
	size    int
	seq     uint64 // recency: higher is more recent
	pusher  peer.ID
	touched bool // seq changed since it was last written
}

// Cache is a content-addressed block store with an LRU and byte caps
// (doc.go). It is safe for concurrent use.
type Cache struct {
	d         ds.Batching
	max       int64
	perPusher int64
	auth      Authorizer

	mu      sync.Mutex
	lru     *list.List // front: most recent; values *entry
	index   map[string]*list.Element
	usage   map[peer.ID]int64
	total   int64
	seq     uint64
	touched int

	flushc chan struct{} // a flush of recency is due
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

// Keys (doc.go "Store"): /b/CID the block, /a/CID its accounting.
var (
	blockPrefix = ds.NewKey("/b")
	metaPrefix  = ds.NewKey("/a")
)

func blockKey(c cid.Cid) ds.Key { return blockPrefix.ChildString(c.String()) }
func metaKey(c cid.Cid) ds.Key  { return metaPrefix.ChildString(c.String()) }

func charge(size int) int64 { return int64(max(size, MinCharge)) }

// Open rebuilds the cache's index from d (doc.go "Restart") and evicts
// down to the caps if they shrank.
func Open(ctx context.Context, d ds.Batching, cfg Config) (*Cache, error) {
	if cfg.MaxBytes <= 0 {
		return nil, ErrDisabled
	}
	if cfg.PerPusher <= 0 {
		cfg.PerPusher = DefaultPerPusher
	}
	c := &Cache{d: d, max: cfg.MaxBytes, perPusher: min(cfg.PerPusher, cfg.MaxBytes), auth: cfg.Authorizer,
		lru: list.New(), index: map[string]*list.Element{}, usage: map[peer.ID]int64{}}
	res, err := d.Query(ctx, query.Query{Prefix: metaPrefix.String()})
	if err != nil {
		return nil, fmt.Errorf("blockcache: reading the index: %w", err)
	}
	var entries []*entry
	var bad []ds.Key
	for r := range res.Next() {
		if r.Error != nil {
			res.Close()
			return nil, fmt.Errorf("blockcache: reading the index: %w", r.Error)
		}
		e, err := decodeMeta(r.Key, r.Value)
		if err != nil {
			bad = append(bad, ds.NewKey(r.Key))
			continue
		}
		entries = append(entries, e)
	}
	res.Close()
	sort.Slice(entries, func(i, j int) bool { return entries[i].seq < entries[j].seq })
	for _, e := range entries {
		c.index[e.key] = c.lru.PushFront(e)
		c.usage[e.pusher] += charge(e.size)
		c.total += charge(e.size)
		c.seq = max(c.seq, e.seq)
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range bad {
		b.Delete(ctx, k)
		if cs := strings.TrimPrefix(k.String(), metaPrefix.String()+"/"); cs != k.String() {
			b.Delete(ctx, blockPrefix.ChildString(cs))
		}
	}
	c.mu.Lock()
	for c.total > c.max {
		c.evict(ctx, b, c.lru.Back())
	}
	c.mu.Unlock()
	if err := b.Commit(ctx); err != nil {
		return nil, fmt.Errorf("blockcache: cleaning the index: %w", err)
	}
	c.flushc, c.stop, c.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go c.flusher()
	return c, nil
}

// flusher writes reads' recency in the background, off the read path.
func (c *Cache) flusher() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.flushc:
			c.flushTouches(context.Background()) // a failure is retried at the next batch or Close
		}
	}
}

func encodeMeta(e *entry) []byte {
	v := make([]byte, 12, 12+len(e.pusher))
	binary.BigEndian.PutUint64(v, e.seq)
	binary.BigEndian.PutUint32(v[8:], uint32(e.size))
	return append(v, e.pusher...)
}

func decodeMeta(key string, v []byte) (*entry, error) {
	c, err := cid.Decode(strings.TrimPrefix(key, metaPrefix.String()+"/"))
	if err != nil || checkCID(c) != nil {
		return nil, errors.New("bad key")
	}
	if len(v) < 12 {
		return nil, errors.New("short value")
	}
	p, err := peer.IDFromBytes(v[12:])
	if err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(v[8:]))
	if size > MaxBlockBytes {
		return nil, errors.New("size")
	}
	return &entry{key: string(c.Bytes()), size: size, seq: binary.BigEndian.Uint64(v), pusher: p}, nil
}

// checkCID accepts CIDv1, raw codec, sha2-256 with a 32-byte digest.
func checkCID(c cid.Cid) error {
	b := c.Bytes()
	if len(b) != 36 || b[0] != 0x01 || b[1] != 0x55 || b[2] != 0x12 || b[3] != 0x20 {
		return ErrUnsupportedCID
	}
	return nil
}

func matches(c cid.Cid, data []byte) bool {
	d := sha256.Sum256(data)
	return string(d[:]) == string(c.Bytes()[4:])
}

// Put stores a block pushed by pusher, in this order: the Authorizer, the
// CID's form, the size, the hash, then room (doc.go "Caps"). A block
// already held is only touched. data is not kept after Put returns.
func (c *Cache) Put(ctx context.Context, pusher peer.ID, id cid.Cid, data []byte) error {
	if err := c.Authorize(ctx, pusher); err != nil {
		return err
	}
	if err := checkCID(id); err != nil {
		return err
	}
	if len(data) > MaxBlockBytes {
		return fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, len(data), MaxBlockBytes)
	}
	if !matches(id, data) {
		return fmt.Errorf("%w: %s", ErrMismatch, id)
	}
	cost := charge(len(data))
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[id.KeyString()]; ok {
		c.touch(el)
		return nil
	}
	if cost > c.perPusher {
		return fmt.Errorf("%w: a block of %d bytes does not fit a pusher's %d", ErrTooLarge, len(data), c.perPusher)
	}
	b, err := c.d.Batch(ctx)
	if err != nil {
		return err
	}
	// Room: first the pusher's own oldest blocks, then anyone's.
	for el := c.lru.Back(); c.usage[pusher]+cost > c.perPusher && el != nil; {
		prev := el.Prev()
		if el.Value.(*entry).pusher == pusher {
			c.evict(ctx, b, el)
		}
		el = prev
	}
	for c.total+cost > c.max && c.lru.Len() > 0 {
		c.evict(ctx, b, c.lru.Back())
	}
	c.seq++
	e := &entry{key: id.KeyString(), size: len(data), seq: c.seq, pusher: pusher}
	if err := b.Put(ctx, blockKey(id), data); err != nil {
		return err
	}
	if err := b.Put(ctx, metaKey(id), encodeMeta(e)); err != nil {
		return err
	}
	if err := b.Commit(ctx); err != nil {
		// Evicted entries are gone from the index but may remain on disk
		// until the next Open cleans them: never served, never counted.
		return fmt.Errorf("blockcache: storing %s: %w", id, err)
	}
	c.index[e.key] = c.lru.PushFront(e)
	c.usage[pusher] += cost
	c.total += cost
	return nil
}

// evict drops one entry from the index and adds its deletion to b.
// c.mu is held.
func (c *Cache) evict(ctx context.Context, b ds.Batch, el *list.Element) {
	e := el.Value.(*entry)
	c.drop(el)
	id, _ := cid.Cast([]byte(e.key))
	b.Delete(ctx, blockKey(id))
	b.Delete(ctx, metaKey(id))
}

func (c *Cache) drop(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.index, e.key)
	if e.touched {
		c.touched--
	}
	cost := charge(e.size)
	c.total -= cost
	if c.usage[e.pusher] -= cost; c.usage[e.pusher] <= 0 {
		delete(c.usage, e.pusher)
	}
}

// touch moves an entry to the front. c.mu is held.
func (c *Cache) touch(el *list.Element) {
	e := el.Value.(*entry)
	c.seq++
	e.seq = c.seq
	c.lru.MoveToFront(el)
	if !e.touched {
		e.touched = true
		c.touched++
	}
}

// Get returns a block, checked against its CID. A stored copy that no
// longer matches is deleted and ErrCorrupt returned: it is never served.
func (c *Cache) Get(ctx context.Context, id cid.Cid) ([]byte, error) {
	if err := checkCID(id); err != nil {
		return nil, err
	}
	key := id.KeyString()
	c.mu.Lock()
	_, ok := c.index[key]
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	data, err := c.d.Get(ctx, blockKey(id))
	if errors.Is(err, ds.ErrNotFound) {
		c.forget(ctx, id)
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("blockcache: reading %s: %w", id, err)
	}
	if !matches(id, data) {
		c.forget(ctx, id)
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, id)
	}
	c.mu.Lock()
	if el, ok := c.index[key]; ok {
		c.touch(el)
	}
	if c.touched >= TouchBatch {
		select {
		case c.flushc <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	return data, nil
}

// Has reports whether the cache holds the block (without reading it).
func (c *Cache) Has(id cid.Cid) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[id.KeyString()]
	return ok
}

// forget deletes a block that is missing or corrupt on disk.
func (c *Cache) forget(ctx context.Context, id cid.Cid) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.index[id.KeyString()]
	if !ok {
		return
	}
	b, err := c.d.Batch(ctx)
	if err != nil {
		c.drop(el)
		return
	}
	c.evict(ctx, b, el)
	b.Commit(ctx) // if this fails the next Open or Get finds it again
}

// flushTouches writes the recency of the blocks read since the last
// flush, in one batch.
func (c *Cache) flushTouches(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.touched == 0 {
		return nil
	}
	b, err := c.d.Batch(ctx)
	if err != nil {
		return err
	}
	var done []*entry
	for el := c.lru.Front(); el != nil && len(done) < c.touched; el = el.Next() {
		e := el.Value.(*entry)
		if !e.touched {
			continue
		}
		id, _ := cid.Cast([]byte(e.key))
		b.Put(ctx, metaKey(id), encodeMeta(e))
		done = append(done, e)
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("blockcache: writing recency: %w", err)
	}
	for _, e := range done {
		e.touched = false
	}
	c.touched -= len(done)
	return nil
}

// Close stops the background flush and writes the recency of reads not
// yet written. The datastore is the caller's to close.
func (c *Cache) Close() error {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
	return c.flushTouches(context.Background())
}

// Stats reports the accounting.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Blocks: c.lru.Len(), Bytes: c.total, Pushers: len(c.usage)}
}

// Usage is what one pusher's blocks are charged.
func (c *Cache) Usage(p peer.ID) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage[p]
}

// Room reports whether a snapshot of n bytes in blocks blocks could be
// held for pusher at all: within its quota and the cache's cap. A
// protocol checks it before taking a push.
func (c *Cache) Room(n int64, blocks int) error {
	need := n + int64(blocks)*MinCharge
	if need > c.perPusher {
		return fmt.Errorf("%w: %d bytes in %d blocks over a pusher's cap of %d", ErrTooLarge, n, blocks, c.perPusher)
	}
	return nil
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, pusher peer.ID) error

// MayPush implements Authorizer.
func (f AuthorizerFunc) MayPush(ctx context.Context, pusher peer.ID) error { return f(ctx, pusher) }

// Authorize asks the Authorizer whether pusher may push here at all, so a
// protocol can refuse before it reads a block.
func (c *Cache) Authorize(ctx context.Context, pusher peer.ID) error {
	if c.auth == nil {
		return fmt.Errorf("%w: no pusher is authorised on this cache", ErrNotAuthorized)
	}
	if err := c.auth.MayPush(ctx, pusher); err != nil {
		return fmt.Errorf("%w: %v", ErrNotAuthorized, err)
	}
	return nil
}
