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
	"sync/atomic"
	"time"

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
	// Elapsed returns the monotonic time since the Set opened, which bounds
	// how fast its time mark moves (see Set.Expired). Default: this
	// process's monotonic clock. A test whose fake Clock jumps forward
	// passes one that follows it.
	Elapsed func() time.Duration
	// Logger: default discard.
	Logger *slog.Logger
	// Skew is the verifiers' clock tolerance: an entry is kept until its
	// token's expiry plus Skew. Default capability.MaxSkew, the most any
	// verifier accepts.
	Skew time.Duration
	// MaxPerRevoker caps one revoker's live entries. Default
	// DefaultMaxPerRevoker.
	MaxPerRevoker int
	// MaxEntries caps the live entries and MaxBytes the bytes of their
	// records, whoever revoked them: keys are free, so the per-revoker
	// quota alone bounds nothing. Defaults DefaultMaxEntries and
	// DefaultMaxBytes. At the caps:
	//
	//   - a record that is not relevant (Relevant says no) is refused with
	//     ErrQuota once the Set is past three quarters of either cap: the
	//     last quarter is kept for relevant records;
	//   - a relevant record is refused with ErrFull at the cap itself, and
	//     the caller must log it loudly (a revocation that matters here is
	//     not in force);
	//   - a record whose revoker is Self is never refused for the caps
	//     (MaxPerRevoker bounds those), so a full Set still takes the
	//     node's own revocations.
	//
	// Nothing is dropped to make room: an entry leaves when its token
	// expires (Collect). Open drops non-relevant entries, newest first,
	// only when a store loads past three quarters of a cap (a cap was
	// lowered, or the store predates it); it never drops a relevant one.
	MaxEntries int
	MaxBytes   int64
	// Relevant tells the records that matter to this node from those it
	// merely keeps for others, for the caps above. It must be fast and must
	// not block or call Add: Add asks it, under the Set's write lock, only
	// once the Set is past three quarters of a cap, and Open asks it about
	// loaded records only when trimming. Default nil: every record is
	// relevant (infrastructure peers, which keep the mesh's set).
	Relevant func(*Revocation) bool
	// Self is this node's peer ID: its own revocations are never refused
	// for the caps. Default none.
	Self peer.ID
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

// Set is the node's revocation set: an exact map answers every lookup (a
// Bloom filter in front of it cost more than it saved: see doc.go).
// Entries persist in the datastore until their token expires. Each entry added gets the next
// version number, so a peer can ask for "everything since version N"
// (protocols/revsync). Safe for concurrent use; lookups never block on I/O.
type Set struct {
	ds      ds.Datastore
	clock   func() time.Time
	mark    *capability.TimeMark // see Expired
	elapsed func() time.Duration
	log     *slog.Logger
	skew    time.Duration
	perRev  int
	caps    caps
	relev   func(*Revocation) bool
	self    peer.ID
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

	// live mirrors len(entries) for IsRevoked's lock-free answer on an
	// empty set (an idle home node's every lookup). Written under mu.
	live atomic.Int64

	mu        sync.RWMutex
	entries   map[capability.ID]entry
	byVersion []versioned // ascending
	version   uint64
	bytes     int64 // sum of the live entries' record sizes
	revokers  map[peer.ID]*revokerCount
}

// entry is what memory holds per revoked token: about 64 bytes of map slot.
type entry struct {
	version uint64
	expiry  int64 // token expiry, unix seconds
	rc      *revokerCount
	size    uint32 // record bytes, at most MaxRecordBytes
}

// caps are a Set's limits: the caps themselves, for relevant records,
// and the lower limits past which records that are not relevant are
// refused.
type caps struct {
	entries, otherEntries int
	bytes, otherBytes     int64
}

func newCaps(entries int, bytes int64) caps {
	if entries <= 0 {
		entries = DefaultMaxEntries
	}
	if bytes <= 0 {
		bytes = DefaultMaxBytes
	}
	return caps{entries: entries, otherEntries: entries - entries/reservedShare,
		bytes: bytes, otherBytes: bytes - bytes/reservedShare}
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
		ds: cfg.Datastore, clock: cfg.Clock, log: cfg.Logger, skew: cfg.Skew, perRev: cfg.MaxPerRevoker,
		caps: newCaps(cfg.MaxEntries, cfg.MaxBytes), relev: cfg.Relevant, self: cfg.Self,
		admit: cfg.Admit, onAdd: cfg.OnAdd, stop: make(chan struct{}), done: make(chan struct{}),
		entries: make(map[capability.ID]entry), revokers: make(map[peer.ID]*revokerCount),
	}
	if s.ds == nil {
		s.ds = dssync.MutexWrap(ds.NewMapDatastore())
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.elapsed = cfg.Elapsed
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.skew <= 0 {
		s.skew = capability.MaxSkew
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
		if err := s.saveMark(context.Background(), s.mark.Get()); err != nil {
			s.log.Warn("revocation: keeping the time mark", "err", err)
		}
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

// IsRevoked implements capability.RevocationChecker: one map lookup under
// a read lock, and no lock at all while the set is empty. It allocates
// nothing. (A Bloom filter in front of the map made the common "not
// revoked" answer 3.4× slower than the map alone and took 120 KB of an
// empty set; BenchmarkIsRevokedVsMap.)
func (s *Set) IsRevoked(id capability.ID) bool {
	if s.live.Load() == 0 {
		return false // an Add that has returned has made live non-zero
	}
	s.mu.RLock()
	_, ok := s.entries[id]
	s.mu.RUnlock()
	return ok
}

// Expired reports whether a token expiring at expiry is past keeping
// (mark ≥ expiry + skew, the mark being this Set's capability.TimeMark on
// its clock): Add refuses its revocation with ErrExpired, and Collect drops
// its entry. The mark, not the clock, decides: a clock set forward and back
// again must not make the Set forget, or refuse, a revocation of a token
// that then verifies again.
func (s *Set) Expired(expiry time.Time) bool {
	return !s.mark.Advance(s.clock()).Before(expiry.Add(s.skew))
}

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

// Bytes is the total size of the live entries' records, what MaxBytes
// caps.
func (s *Set) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
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
// ErrQuota when the revoker holds MaxPerRevoker live entries, Config.Admit
// refused it or it is not relevant and the Set is past three quarters of a
// cap, ErrFull when it is relevant and the Set is at a cap (log it loudly:
// see Config.MaxEntries), and ErrMalformed for a zero Revocation. If the
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
	if err := s.room(rev); err != nil {
		return false, err
	}
	v := s.version + 1
	err = s.write(ctx, v, rev)
	if rc == nil {
		rc = &revokerCount{}
	}
	e := entry{version: v, expiry: rev.expiry.Unix(), rc: rc, size: uint32(len(rev.raw))}
	s.mu.Lock()
	s.entries[rev.id] = e
	s.byVersion = append(s.byVersion, versioned{v, rev.id})
	s.version = v
	s.bytes += int64(e.size)
	rc.n++
	s.revokers[rev.revoker] = rc
	s.live.Store(int64(len(s.entries)))
	s.mu.Unlock()
	if s.onAdd != nil {
		s.onAdd(rev)
	}
	if err != nil {
		return true, err
	}
	return true, nil
}

// room refuses rev if the caps leave no room for it (see
// Config.MaxEntries). Callers hold writeMu, so entries and bytes are
// stable.
func (s *Set) room(rev *Revocation) error {
	n, b := len(s.entries), s.bytes+int64(len(rev.raw))
	if n < s.caps.otherEntries && b <= s.caps.otherBytes {
		return nil // room for anything: Relevant is not asked
	}
	if s.self != "" && rev.revoker == s.self {
		return nil
	}
	if s.relev != nil && !s.relev(rev) {
		return fmt.Errorf("%w: %s is not relevant here and the set holds %d entries, %d bytes: past %d entries or %d bytes the rest is kept for relevant records",
			ErrQuota, rev, n, s.bytes, s.caps.otherEntries, s.caps.otherBytes)
	}
	if n >= s.caps.entries || b > s.caps.bytes {
		return fmt.Errorf("%w: %s refused: the set holds %d entries, %d bytes (caps %d, %d)",
			ErrFull, rev, n, s.bytes, s.caps.entries, s.caps.bytes)
	}
	return nil
}

// Collect drops every entry whose token expired (expiry + skew ≤ the mark,
// which now moves: see Expired) from memory and the datastore, and returns
// how many it dropped. The background loop calls it every Config.CollectEvery.
func (s *Set) Collect(ctx context.Context, now time.Time) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	mark := s.mark.Advance(now)
	if err := s.saveMark(ctx, mark); err != nil {
		return 0, err
	}
	cutoff := mark.Add(-s.skew).Unix() // expired when expiry <= cutoff
	var gone []capability.ID
	for id, e := range s.entries {
		if e.expiry <= cutoff {
			gone = append(gone, id)
		}
	}
	if err := s.remove(ctx, gone); err != nil {
		return len(gone), fmt.Errorf("revocation: deleting collected entries: %w", err)
	}
	return len(gone), nil
}

// remove drops the entries gone from memory and the datastore. Callers hold writeMu (or are Open). The
// entries leave memory even if a delete fails: an error is returned, and
// the next load drops them again.
func (s *Set) remove(ctx context.Context, gone []capability.ID) error {
	if len(gone) == 0 {
		return nil
	}
	var errs []error
	for _, id := range gone {
		if err := s.ds.Delete(ctx, recordKey(id)); err != nil {
			errs = append(errs, err)
		}
	}
	drop := make(map[capability.ID]struct{}, len(gone))
	for _, id := range gone {
		drop[id] = struct{}{}
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
		s.bytes -= int64(e.size)
		delete(s.entries, id)
	}
	s.byVersion = slices.DeleteFunc(s.byVersion, func(v versioned) bool {
		_, ok := drop[v.id]
		return ok
	})
	s.live.Store(int64(len(s.entries)))
	s.mu.Unlock()
	return errors.Join(errs...)
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

// Recent returns the IDs of the live entries added after version after,
// oldest first, at most limit of them (the newest), and the version they
// follow: every live entry with a version in (from, Version()] is in ids.
// protocols/revgossip announces them in its anti-entropy digest.
func (s *Set) Recent(after uint64, limit int) (ids []capability.ID, from uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(s.byVersion, after+1, func(v versioned, t uint64) int { return cmp.Compare(v.version, t) })
	from = after
	if n := len(s.byVersion) - i; n > max(limit, 0) {
		i = len(s.byVersion) - max(limit, 0)
		from = s.byVersion[i-1].version
	}
	ids = make([]capability.ID, 0, len(s.byVersion)-i)
	for _, v := range s.byVersion[i:] {
		ids = append(ids, v.id)
	}
	return ids, from
}
