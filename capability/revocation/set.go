package revocation

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
)

// Config configures a Set. The zero value works (in memory, real clock).
type Config struct {
	// Datastore keeps every entry until its token expires. The caller owns
	// it and wraps it in its own namespace. Default: an in-memory map,
	// which forgets everything on restart (tests only).
	Datastore ds.Datastore
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// Logger: default discard.
	Logger *slog.Logger
	// Skew is the verifiers' clock tolerance: an entry is kept until its
	// token's expiry plus Skew. Default capability.DefaultSkew.
	Skew time.Duration
	// ExpectedEntries sizes the first Bloom filter. Default
	// DefaultExpectedEntries; the filter doubles when outgrown.
	ExpectedEntries uint
	// FalsePositiveRate is the Bloom filter's target. Default
	// DefaultFalsePositiveRate.
	FalsePositiveRate float64
	// MaxPerRevoker caps one revoker's live entries. Default
	// DefaultMaxPerRevoker.
	MaxPerRevoker int
	// Admit, when set, is asked about every new record after it verified;
	// an error refuses it (wrapped in ErrQuota). Relays can use it to keep
	// only revocations whose root issuer is a known mesh user. Default:
	// admit all.
	Admit func(*Revocation) error
	// OnAdd, when set, is called for each new record once it is in force
	// (IsRevoked answers true; records loaded at Open are not announced).
	// It runs inside Add, which still serialises writers, so it must not
	// block or call Add. Relays use it to cut what a revoked relay-access
	// capability admitted. Default none.
	OnAdd func(*Revocation)
	// CollectEvery is the period of background collection. Default
	// DefaultCollectEvery; negative disables it (call Collect yourself).
	CollectEvery time.Duration
	// Rand makes the epoch of a new datastore. Default crypto/rand.
	Rand io.Reader
}

// Set is the node's revocation set: a Bloom filter answers "not revoked"
// for almost every lookup, and an exact map confirms every filter hit, so a
// false positive never rejects a valid token. Entries persist in the
// datastore until their token expires. Each entry added gets the next
// version number, so a peer can ask for "everything since version N"
// (protocols/revsync). Safe for concurrent use; lookups never block on I/O.
type Set struct {
	ds      ds.Datastore
	clock   func() time.Time
	log     *slog.Logger
	skew    time.Duration
	fpRate  float64
	minCap  uint
	perRev  int
	admit   func(*Revocation) error
	onAdd   func(*Revocation)
	epoch   [epochLen]byte
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once

	// writeMu serialises Add and Collect, which read the fields below
	// without mu (only they write them) and take mu only to publish.
	writeMu sync.Mutex
	closed  bool

	mu        sync.RWMutex
	filter    *bloom.BloomFilter
	filterCap uint // entries the filter was sized for
	entries   map[capability.ID]entry
	byVersion []versioned // ascending
	version   uint64
	revokers  map[peer.ID]*revokerCount
}

// entry is what memory holds per revoked token: about 56 bytes of map slot.
type entry struct {
	version uint64
	expiry  int64 // token expiry, unix seconds
	rc      *revokerCount
}

type versioned struct {
	version uint64
	id      capability.ID
}

type revokerCount struct{ n int }

// Open loads the set from cfg.Datastore (dropping entries that expired
// while the node was down) and starts background collection.
func Open(ctx context.Context, cfg Config) (*Set, error) {
	s := &Set{
		ds: cfg.Datastore, clock: cfg.Clock, log: cfg.Logger, skew: cfg.Skew,
		fpRate: cfg.FalsePositiveRate, minCap: cfg.ExpectedEntries, perRev: cfg.MaxPerRevoker,
		admit: cfg.Admit, onAdd: cfg.OnAdd, stop: make(chan struct{}), done: make(chan struct{}),
		entries: make(map[capability.ID]entry), revokers: make(map[peer.ID]*revokerCount),
	}
	if s.ds == nil {
		s.ds = dssync.MutexWrap(ds.NewMapDatastore())
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.skew <= 0 {
		s.skew = capability.DefaultSkew
	}
	if s.fpRate <= 0 || s.fpRate >= 1 {
		s.fpRate = DefaultFalsePositiveRate
	}
	if s.minCap == 0 {
		s.minCap = DefaultExpectedEntries
	}
	if s.perRev <= 0 {
		s.perRev = DefaultMaxPerRevoker
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if err := s.load(ctx, rnd); err != nil {
		return nil, err
	}
	every := cfg.CollectEvery
	if every == 0 {
		every = DefaultCollectEvery
	}
	if every > 0 {
		go s.collectLoop(every)
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops background collection. It does not close the datastore.
func (s *Set) Close() error {
	s.closing.Do(func() {
		s.writeMu.Lock()
		s.closed = true
		s.writeMu.Unlock()
		close(s.stop)
	})
	<-s.done
	return nil
}

func (s *Set) collectLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n, err := s.Collect(context.Background(), s.clock()); err != nil {
				s.log.Warn("revocation: collecting expired entries", "err", err)
			} else if n > 0 {
				s.log.Debug("revocation: collected expired entries", "n", n)
			}
		}
	}
}

// IsRevoked implements capability.RevocationChecker. It allocates nothing
// and takes a read lock only.
func (s *Set) IsRevoked(id capability.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.filter.Test(id[:]) {
		return false
	}
	_, ok := s.entries[id]
	return ok
}

// Expired reports whether a token expiring at expiry is past keeping by
// this Set's clock and skew (now ≥ expiry + skew): Add refuses its
// revocation with ErrExpired, and Collect drops its entry.
func (s *Set) Expired(expiry time.Time) bool { return !s.clock().Before(expiry.Add(s.skew)) }

// RevokedBy returns the record that revoked id, read back from the
// datastore (so it is for the rare revoked path, e.g. to tell a refused
// peer who revoked its share). If id is revoked but the record cannot be
// read, the result has only ID set; the bool is still true.
func (s *Set) RevokedBy(id capability.ID) (Revocation, bool) {
	if !s.IsRevoked(id) {
		return Revocation{}, false
	}
	r, _, err := s.read(context.Background(), id)
	if err != nil {
		s.log.Warn("revocation: reading record", "id", id.Short(), "err", err)
		return Revocation{id: id}, true
	}
	return *r, true
}

// Len is the number of live entries.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Version is the version of the last entry added (0 for none). It never
// goes back, not even across restarts of the same datastore.
func (s *Set) Version() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// Epoch identifies the datastore's version counter: versions from two Sets
// are comparable only when their epochs are equal.
func (s *Set) Epoch() [epochLen]byte { return s.epoch }

// Add stores a verified revocation: it is effective for IsRevoked when Add
// returns. added is false when the token was already revoked (Add is
// idempotent). It fails with ErrExpired for a token past its expiry,
// ErrQuota when the revoker holds DefaultMaxPerRevoker live entries or
// Config.Admit refused it, and ErrMalformed for a zero Revocation. If the
// datastore write fails the entry is still in effect in memory (fail
// closed) and the error is returned with added true.
func (s *Set) Add(ctx context.Context, rev *Revocation) (added bool, err error) {
	if rev == nil || rev.raw == nil || rev.token == nil {
		return false, fmt.Errorf("%w: not a parsed revocation", ErrMalformed)
	}
	if s.Expired(rev.expiry) {
		return false, fmt.Errorf("%w: token %s expired %s", ErrExpired, rev.id.Short(), rev.expiry.Format(time.RFC3339))
	}
	if s.IsRevoked(rev.id) {
		return false, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	if _, ok := s.entries[rev.id]; ok {
		return false, nil
	}
	rc := s.revokers[rev.revoker]
	if rc != nil && rc.n >= s.perRev {
		return false, fmt.Errorf("%w: %s holds %d entries", ErrQuota, rev.revoker, rc.n)
	}
	if s.admit != nil {
		if err := s.admit(rev); err != nil {
			return false, fmt.Errorf("%w: %w", ErrQuota, err)
		}
	}
	v := s.version + 1
	err = s.write(ctx, v, rev)
	if rc == nil {
		rc = &revokerCount{}
	}
	e := entry{version: v, expiry: rev.expiry.Unix(), rc: rc}
	var grown *bloom.BloomFilter
	if uint(len(s.entries)+1) > s.filterCap {
		grown = s.buildFilter(2*s.filterCap, rev.id)
	}
	s.mu.Lock()
	s.entries[rev.id] = e
	s.byVersion = append(s.byVersion, versioned{v, rev.id})
	s.version = v
	rc.n++
	s.revokers[rev.revoker] = rc
	if grown != nil {
		s.filter, s.filterCap = grown, 2*s.filterCap
	} else {
		s.filter.Add(rev.id[:])
	}
	s.mu.Unlock()
	if s.onAdd != nil {
		s.onAdd(rev)
	}
	if err != nil {
		return true, err
	}
	return true, nil
}

// buildFilter makes a filter for capacity entries holding every current
// entry and extra. Callers hold writeMu, so entries is stable.
func (s *Set) buildFilter(capacity uint, extra ...capability.ID) *bloom.BloomFilter {
	f := bloom.NewWithEstimates(max(capacity, 1), s.fpRate)
	for id := range s.entries {
		f.Add(id[:])
	}
	for _, id := range extra {
		f.Add(id[:])
	}
	return f
}

// Collect drops every entry whose token expired (expiry + skew ≤ now) from
// memory and the datastore, rebuilds the Bloom filter, and returns how many
// it dropped. The background loop calls it every Config.CollectEvery.
func (s *Set) Collect(ctx context.Context, now time.Time) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cutoff := now.Add(-s.skew).Unix() // expired when expiry <= cutoff
	var gone []capability.ID
	for id, e := range s.entries {
		if e.expiry <= cutoff {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	var errs []error
	for _, id := range gone {
		if err := s.ds.Delete(ctx, recordKey(id)); err != nil {
			errs = append(errs, err) // expired anyway: the next load drops it
		}
	}
	f := bloom.NewWithEstimates(s.filterCap, s.fpRate)
	drop := make(map[capability.ID]struct{}, len(gone))
	for _, id := range gone {
		drop[id] = struct{}{}
	}
	for id := range s.entries {
		if _, ok := drop[id]; !ok {
			f.Add(id[:])
		}
	}
	s.mu.Lock()
	for _, id := range gone {
		e := s.entries[id]
		if e.rc.n--; e.rc.n == 0 {
			for p, rc := range s.revokers { // rare: a revoker's last entry
				if rc == e.rc {
					delete(s.revokers, p)
					break
				}
			}
		}
		delete(s.entries, id)
	}
	s.byVersion = slices.DeleteFunc(s.byVersion, func(v versioned) bool {
		_, ok := drop[v.id]
		return ok
	})
	s.filter = f
	s.mu.Unlock()
	if len(errs) > 0 {
		return len(gone), fmt.Errorf("revocation: deleting collected entries: %w", errors.Join(errs...))
	}
	return len(gone), nil
}

// Page is a run of stored records in version order.
type Page struct {
	Records [][]byte // exact envelopes, oldest version first
	Next    uint64   // the version to ask "since" next
	More    bool     // more records follow Next
}

// Since returns the records added after version since, at most maxRecords
// of them and at most maxBytes in total (at least one record is returned
// if any follow, unless it alone is over maxBytes).
func (s *Set) Since(ctx context.Context, since uint64, maxRecords, maxBytes int) (Page, error) {
	s.mu.RLock()
	i, _ := slices.BinarySearchFunc(s.byVersion, since+1, func(v versioned, t uint64) int { return cmp.Compare(v.version, t) })
	refs := slices.Clone(s.byVersion[i:min(len(s.byVersion), i+maxRecords)])
	more := i+len(refs) < len(s.byVersion)
	head := s.version
	s.mu.RUnlock()

	p := Page{Next: max(since, head), More: more}
	if since > head {
		p.Next = since // a cursor from another epoch; the caller sees it in Epoch
	}
	size := 0
	for n, ref := range refs {
		_, raw, err := s.read(ctx, ref.id)
		if errors.Is(err, ds.ErrNotFound) {
			continue // collected since the snapshot
		}
		if err != nil {
			return Page{}, err
		}
		if size+len(raw) > maxBytes {
			if n == 0 {
				return Page{}, fmt.Errorf("%w: record of %d bytes over page cap %d", ErrTooLarge, len(raw), maxBytes)
			}
			p.More = true
			break
		}
		size += len(raw)
		p.Records = append(p.Records, raw)
		p.Next = ref.version
	}
	if !p.More && len(refs) > 0 && p.Next < head {
		p.Next = head
	}
	return p, nil
}
