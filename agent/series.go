package agent

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unicode/utf8"

	"github.com/ocmt/mesh/internal/wire"
)

// series is the fixed-size state of one agent or token: three rings of
// call counts and 24 hour-of-day baselines (doc.go "Counters"). It takes
// the same memory whatever the number of calls.
type series struct {
	first int64 // unix second of the first call
	last  int64 // unix second the rings were last moved to

	sec  [minuteBuckets]uint32 // calls per second of the last minute
	min  [hourBuckets]uint32   // calls per minute of the last hour
	hour [dayBuckets]uint32    // calls per hour (UTC clock hours) of the last day

	secSum, minSum, hourSum uint64

	base    [dayBuckets]float64 // EWMA of calls per hour, by hour of day (UTC)
	learned uint32              // bit h: base[h] has had a sample
	skip    int64               // an hour index (unix/3600) never learned: a locked spike's; 0 for none

	resume bool // restored from the store: the next step learns nothing
	dirty  bool // changed since last written
}

func newSeries(now time.Time) series {
	s := now.Unix()
	if s < 1 {
		s = 1
	}
	return series{first: s, last: s, dirty: true}
}

// add counts one call in the current buckets (which advance moved to).
func (s *series) add() {
	inc(&s.sec[s.last%minuteBuckets], &s.secSum)
	inc(&s.min[(s.last/60)%hourBuckets], &s.minSum)
	inc(&s.hour[hourIndex(s.last)%dayBuckets], &s.hourSum)
	s.dirty = true
}

func inc(b *uint32, sum *uint64) {
	if *b < math.MaxUint32 {
		*b++
		*sum++
	}
}

// advance moves the rings to now, clearing the buckets that fell out of
// each window and teaching the baseline every clock hour that ended. A
// clock that went back counts into the newest buckets.
func (s *series) advance(now time.Time) {
	t := now.Unix()
	if t <= s.last {
		return
	}
	clearRing(s.sec[:], &s.secSum, s.last, t)
	clearRing(s.min[:], &s.minSum, s.last/60, t/60)
	h0, h1 := hourIndex(s.last), hourIndex(t)
	if h1 > h0 && !s.resume {
		s.learn(h0, s.hour[h0%dayBuckets])
		for h := h0 + 1; h < h1 && h-h0 < maxIdleFeedHours; h++ {
			s.learn(h, 0)
		}
	}
	clearRing(s.hour[:], &s.hourSum, h0, h1)
	s.last, s.resume, s.dirty = t, false, true
}

// clearRing zeroes the buckets of indexes (from, to] in a ring.
func clearRing(r []uint32, sum *uint64, from, to int64) {
	n := int64(len(r))
	if to-from > n {
		from = to - n
	}
	for i := from + 1; i <= to; i++ {
		b := &r[i%n]
		*sum -= uint64(*b)
		*b = 0
	}
}

// learn feeds the count of the clock hour h to its hour of day's EWMA.
// The first sample sets the baseline; later ones move it AlphaPercent of
// the way.
func (s *series) learn(h int64, count uint32) {
	if h == s.skip {
		return
	}
	d := h % dayBuckets
	if s.learned&(1<<d) == 0 {
		s.base[d], s.learned = float64(count), s.learned|1<<d
		return
	}
	s.base[d] += AlphaPercent * (float64(count) - s.base[d]) / 100
}

// reference is the usual hourly rate the last hour is compared with at
// unix second t: the largest of the baselines of this hour of day and the
// one before (the last hour spans both) and the mean of every learned
// hour of day (so an hour usually idle is judged against the day).
func (s *series) reference(t int64) float64 {
	h := hourIndex(t) % dayBuckets
	ref := max(s.base[h], s.base[(h+dayBuckets-1)%dayBuckets])
	if n := bits.OnesCount32(s.learned); n > 0 {
		var sum float64
		for _, b := range s.base {
			sum += b
		}
		ref = max(ref, sum/float64(n))
	}
	return ref
}

func (s *series) stats(now time.Time) Stats {
	s.advance(now)
	return Stats{LastMinute: int(s.secSum), LastHour: int(s.minSum), LastDay: int(s.hourSum),
		Baseline: s.reference(now.Unix()), First: fromUnix(s.first)}
}

// seriesRecord is a series as stored: canonical CBOR (doc.go "Stored
// counters").
type seriesRecord struct {
	Version  uint64   `cbor:"1,keyasint"`
	First    int64    `cbor:"2,keyasint"`
	Last     int64    `cbor:"3,keyasint"`
	Seconds  []uint32 `cbor:"4,keyasint"`
	Minutes  []uint32 `cbor:"5,keyasint"`
	Hours    []uint32 `cbor:"6,keyasint"`
	Baseline []uint64 `cbor:"7,keyasint"`
	Learned  uint32   `cbor:"8,keyasint,omitempty"`
	Skip     int64    `cbor:"9,keyasint,omitempty"`
	Agent    string   `cbor:"10,keyasint,omitempty"`
	LockAt   int64    `cbor:"11,keyasint,omitempty"`
	LockAuto bool     `cbor:"12,keyasint,omitempty"`
	Reason   string   `cbor:"13,keyasint,omitempty"`
}

// recordVersion is the only version of the stored records.
const recordVersion = 1

// maxUnix is 9999-12-31T23:59:59Z, the latest time a record holds.
const maxUnix = 253402300799

// encode writes s as a record; agent is set for a token's series, lock
// for an agent's.
func (s *series) encode(agent string, lock Lock) []byte {
	r := seriesRecord{Version: recordVersion, First: s.first, Last: s.last,
		Seconds: s.sec[:], Minutes: s.min[:], Hours: s.hour[:], Baseline: make([]uint64, dayBuckets),
		Learned: s.learned, Skip: s.skip, Agent: agent}
	for i, b := range s.base {
		if s.learned&(1<<i) != 0 {
			r.Baseline[i] = uint64(min(math.Round(b*baselineScale), maxBaselineMilli))
		}
	}
	if lock.Locked {
		r.LockAt, r.LockAuto, r.Reason = max(lock.At.Unix(), 1), lock.Auto, lock.Reason
	}
	b, err := wire.Marshal(r)
	if err != nil {
		panic(err) // fixed types; cannot fail
	}
	return b
}

var errSeries = errors.New("a stored call series breaks its rules")

// parseSeries decodes a stored series. token says which kind of record
// it must be: a token's names its agent and holds no lock; an agent's
// names no agent. Every refusal wraps ErrCorrupt.
func parseSeries(b []byte, token bool) (*series, Lock, string, error) {
	if len(b) > maxSeriesRecord {
		return nil, Lock{}, "", fmt.Errorf("%w: a call series of %d bytes, max %d", ErrCorrupt, len(b), maxSeriesRecord)
	}
	var r seriesRecord
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, Lock{}, "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := r.check(token); err != nil {
		return nil, Lock{}, "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	s := &series{first: r.First, last: r.Last, learned: r.Learned, skip: r.Skip, resume: true}
	copy(s.sec[:], r.Seconds)
	copy(s.min[:], r.Minutes)
	copy(s.hour[:], r.Hours)
	for i := range dayBuckets {
		s.base[i] = float64(r.Baseline[i]) / baselineScale
		s.hourSum += uint64(s.hour[i])
	}
	for i := range minuteBuckets {
		s.secSum += uint64(s.sec[i])
		s.minSum += uint64(s.min[i])
	}
	var lock Lock
	if r.LockAt > 0 {
		lock = Lock{Locked: true, Auto: r.LockAuto, Reason: r.Reason, At: fromUnix(r.LockAt)}
	}
	return s, lock, r.Agent, nil
}

func (r *seriesRecord) check(token bool) error {
	switch {
	case r.Version != recordVersion:
		return fmt.Errorf("%w: version %d", errSeries, r.Version)
	case r.First < 1 || r.Last < r.First || r.Last > maxUnix:
		return fmt.Errorf("%w: its times are out of order", errSeries)
	case len(r.Seconds) != minuteBuckets || len(r.Minutes) != hourBuckets || len(r.Hours) != dayBuckets || len(r.Baseline) != dayBuckets:
		return fmt.Errorf("%w: a ring has the wrong size", errSeries)
	case r.Learned >= 1<<dayBuckets:
		return fmt.Errorf("%w: more than %d hours of day", errSeries, dayBuckets)
	case r.Skip < 0 || r.Skip > hourIndex(r.Last):
		return fmt.Errorf("%w: the skipped hour is out of range", errSeries)
	case (r.LockAt > 0) != (r.Reason != "") || r.LockAt < 0 || r.LockAt > maxUnix || (r.LockAuto && r.LockAt == 0):
		return fmt.Errorf("%w: its lock is incomplete", errSeries)
	case len(r.Reason) > MaxReasonLen || !utf8.ValidString(r.Reason):
		return fmt.Errorf("%w: the lock's reason is too long", errSeries)
	}
	for i, b := range r.Baseline {
		if b > maxBaselineMilli || (r.Learned&(1<<i) == 0 && b != 0) {
			return fmt.Errorf("%w: baseline %d is out of range", errSeries, i)
		}
	}
	if token {
		if _, err := ParseName(r.Agent); err != nil {
			return fmt.Errorf("%w: a token's series names no agent", errSeries)
		}
		if r.LockAt != 0 {
			return fmt.Errorf("%w: a token's series holds a lock", errSeries)
		}
	} else if r.Agent != "" {
		return fmt.Errorf("%w: an agent's series names an agent", errSeries)
	}
	return nil
}
