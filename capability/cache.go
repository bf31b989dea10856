package capability

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"unsafe"
)

// ChainCache remembers decoded chains whose signatures and chain rules
// held (Verification steps 2 to 4), by the ID of the presented token, the
// SHA-256 of its exact envelope bytes. Those steps depend on nothing but
// the bytes, so a verifier that finds a token here skips them and
// decoding, and runs every other step as before: the outcome is the one
// a full verification gives, error and all. A grantee's repeated
// requests, a cache peer's fetches and the revocation validator then pay
// for each chain's signatures once.
//
// It holds at most maxEntries chains and maxBytes bytes (Token.retained
// of each, an estimate of what the decoded chain keeps on the heap) and
// forgets the least recently used first. Safe for concurrent use. A nil
// *ChainCache remembers nothing.
type ChainCache struct {
	maxEntries, maxBytes int

	mu      sync.Mutex
	byID    map[ID]*cacheEntry
	parents map[ID]int // how many cached chains hold this ID as a non-leaf link
	lru     cacheEntry // sentinel of the recency ring: lru.next is the newest
	bytes   int
	hits    uint64
	misses  uint64
}

type cacheEntry struct {
	tok        *Token
	size       int
	prev, next *cacheEntry
}

// cacheEntryOverhead is what an entry costs besides its chain: the entry,
// its map slot and key.
const cacheEntryOverhead = int(unsafe.Sizeof(cacheEntry{})) + 2*len(ID{}) + 16

// NewChainCache returns a cache of at most maxEntries chains and maxBytes
// bytes. A cap of zero or less makes a cache that holds nothing (every
// verification is full); NewVerifier's default is DefaultCacheEntries and
// DefaultCacheBytes.
func NewChainCache(maxEntries, maxBytes int) *ChainCache {
	c := &ChainCache{maxEntries: max(maxEntries, 0), maxBytes: max(maxBytes, 0),
		byID: make(map[ID]*cacheEntry), parents: make(map[ID]int)}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// Decode is capability.Decode for wire bytes, except that a chain the
// cache holds is returned as it was decoded the first time (tokens are
// immutable) instead of being decoded again. Its result and errors are
// Decode's.
func (c *ChainCache) Decode(raw []byte) (*Token, error) {
	if c != nil && len(raw) <= MaxTokenBytes {
		if t := c.get(sha256.Sum256(raw)); t != nil && bytes.Equal(t.raw, raw) {
			return t, nil
		}
	}
	return Decode(raw)
}

// CheckChain runs Verification steps 2 to 4 (signatures, link rules,
// ceilings, each root first) on tok's chain, unless the cache holds it,
// and remembers a chain that passes. It is what a check that needs no
// clock or request, such as a revocation record's proof, asks of a
// token; its error is the one Verifier.Verify would return for those
// steps.
func (c *ChainCache) CheckChain(tok *Token) error {
	if tok == nil {
		return errNilToken
	}
	if c.has(tok.id) {
		return nil
	}
	if err := checkChain(tok.Chain()); err != nil {
		return err
	}
	c.add(tok)
	return nil
}

// Evict forgets every chain that holds id as any link, so a revoked
// token's chains stop taking room (Set's Config.OnAdd hook). It is never
// needed for correctness: verification checks revocations on every use,
// cached or not. It returns the number of chains forgotten.
func (c *ChainCache) Evict(id ID) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if e, ok := c.byID[id]; ok {
		c.remove(e)
		n++
	}
	if c.parents[id] == 0 {
		return n
	}
	for e := c.lru.next; e != &c.lru; {
		next := e.next
		for p := e.tok.parent; p != nil; p = p.parent {
			if p.id == id {
				c.remove(e)
				n++
				break
			}
		}
		e = next
	}
	return n
}

// CacheStats describes a cache's use.
type CacheStats struct {
	Entries, Bytes int    // what it holds now
	Hits, Misses   uint64 // lookups that found a chain, and those that did not
}

// Stats returns the cache's current size and lookup counts.
func (c *ChainCache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Entries: len(c.byID), Bytes: c.bytes, Hits: c.hits, Misses: c.misses}
}

// get returns the chain cached under id, marking it recently used.
func (c *ChainCache) get(id ID) *Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		c.misses++
		return nil
	}
	c.hits++
	c.unlink(e)
	c.pushFront(e)
	return e.tok
}

// has reports whether the chain of id is cached (nil: never).
func (c *ChainCache) has(id ID) bool { return c != nil && c.get(id) != nil }

// add remembers tok's chain, forgetting the least recently used chains
// while either cap is exceeded. A chain larger than the byte cap is not
// kept.
func (c *ChainCache) add(tok *Token) {
	if c == nil {
		return
	}
	size := tok.retained() + cacheEntryOverhead
	if c.maxEntries == 0 || size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[tok.id]; ok {
		return
	}
	e := &cacheEntry{tok: tok, size: size}
	c.byID[tok.id] = e
	for p := tok.parent; p != nil; p = p.parent {
		c.parents[p.id]++
	}
	c.bytes += size
	c.pushFront(e)
	for len(c.byID) > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.prev)
	}
}

// remove forgets e; the caller holds c.mu.
func (c *ChainCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.byID, e.tok.id)
	for p := e.tok.parent; p != nil; p = p.parent {
		if c.parents[p.id]--; c.parents[p.id] <= 0 {
			delete(c.parents, p.id)
		}
	}
	c.bytes -= e.size
}

func (c *ChainCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *ChainCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// retained estimates the heap a decoded chain keeps: each token's struct
// and the byte slices and strings it holds, plus an eighth for the
// allocator's rounding up to its size classes. An embedded parent's
// envelope is its child's parent field (one slice), counted once, as the
// parent's.
func (t *Token) retained() int {
	n := 0
	for ; t != nil; t = t.parent {
		n += int(unsafe.Sizeof(*t)) + cap(t.raw) + cap(t.payload) + cap(t.sig) +
			cap(t.p.Issuer) + cap(t.p.Audience) + cap(t.p.Nonce) +
			len(t.p.Resource) + len(t.issuer) + len(t.audience)
	}
	return n + n/8
}
