// Package auditlimit bounds what strangers can make a node write to its
// audit log. A refused request must leave a trace, but each trace is an
// fsynced write a stranger chose, and identities are free: left alone, a
// flood of refusals from many throwaway peers fills the owner's disk.
//
// A Coalescer records the first events of each window as they come, up to
// half its budget, and counts the rest per peer. When the window ends it
// writes one summary per counted peer ("412 refused requests from PEER in
// the last minute"), busiest first, while the budget lasts, and one summary
// for all the others. A window therefore writes at most MaxRecords records
// and tracks at most MaxPeers peers, whatever arrives.
package auditlimit

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults.
const (
	// DefaultWindow is how long events are coalesced: a minute keeps a
	// refusal visible in the log soon after it happens.
	DefaultWindow = time.Minute
	// DefaultMaxRecords bounds the records of one window: 64 a minute is
	// about 25 MiB a day of audit at worst.
	DefaultMaxRecords = 64
	// DefaultMaxPeers bounds the peers counted in one window; the events
	// of further peers share one counter.
	DefaultMaxPeers = 1024
	// MaxText bounds any text an event carries into a record (a path the
	// requester chose, say): longer text is cut and marked.
	MaxText = 128
)

// Event is one occurrence, or a summary of Count of them.
type Event struct {
	Peer   string // who caused it; "" for the summary of many peers
	Op     string // what was refused: "read", "list", ...
	Target string // the subject (a path), already cut to MaxText
	Detail string // why
	// Count is 1 for an event recorded as it came; a summary counts the
	// events it stands for.
	Count int
	// Since is the start of the window a summary covers; zero for an event
	// recorded as it came.
	Since time.Time
}

// Summary says whether e stands for events counted over a window.
func (e Event) Summary() bool { return !e.Since.IsZero() }

// Config configures a Coalescer. Record is required.
type Config struct {
	// Record writes one record; errors are its own to handle (the event
	// was refused anyway).
	Record func(Event)
	// Window, MaxRecords, MaxPeers: defaults above.
	Window     time.Duration
	MaxRecords int
	MaxPeers   int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Coalescer bounds a stream of events. Safe for concurrent use.
type Coalescer struct {
	cfg Config

	mu      sync.Mutex
	start   time.Time      // of the current window
	written int            // records written in the current window
	counts  map[string]int // peer → events not yet recorded
	others  int            // events of peers past MaxPeers
	op      map[string]Event
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once
}

// New starts a Coalescer; Close flushes and stops it.
func New(cfg Config) *Coalescer {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxRecords <= 1 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Coalescer{cfg: cfg, start: cfg.Now(), counts: map[string]int{}, op: map[string]Event{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.tick()
	return c
}

// Add records or counts one event of peer.
func (c *Coalescer) Add(peer, op, target, detail string) {
	e := Event{Peer: peer, Op: op, Target: Clip(target), Detail: Clip(detail), Count: 1}
	c.mu.Lock()
	c.rollLocked()
	record := c.written < c.cfg.MaxRecords/2
	switch {
	case record:
		c.written++
	case c.counts[peer] > 0 || len(c.counts) < c.cfg.MaxPeers:
		c.counts[peer]++
		if _, ok := c.op[peer]; !ok {
			c.op[peer] = e // the first counted one stands for the rest
		}
	default:
		c.others++
	}
	c.mu.Unlock()
	if record {
		c.cfg.Record(e)
	}
}

// rollLocked ends the window if its time is up.
func (c *Coalescer) rollLocked() {
	if c.cfg.Now().Sub(c.start) < c.cfg.Window {
		return
	}
	for _, e := range c.summariesLocked() {
		c.cfg.Record(e)
	}
	c.start, c.written, c.others = c.cfg.Now(), 0, 0
	clear(c.counts)
	clear(c.op)
}

// summariesLocked lists the current window's summaries within its budget.
func (c *Coalescer) summariesLocked() []Event {
	peers := make([]string, 0, len(c.counts))
	for p := range c.counts {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b string) int { return cmp.Or(cmp.Compare(c.counts[b], c.counts[a]), cmp.Compare(a, b)) })
	budget := c.cfg.MaxRecords - c.written - 1 // one left for the rest
	var out []Event
	rest := c.others
	for _, p := range peers {
		if len(out) < budget {
			e := c.op[p]
			e.Count, e.Since = c.counts[p], c.start
			out = append(out, e)
			continue
		}
		rest += c.counts[p]
	}
	if rest > 0 {
		out = append(out, Event{Count: rest, Since: c.start})
	}
	return out
}

// tick ends windows on time even when no event arrives.
func (c *Coalescer) tick() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Window)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.mu.Lock()
			c.rollLocked()
			c.mu.Unlock()
		}
	}
}

// Flush writes the current window's summaries now and starts a new window.
func (c *Coalescer) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.summariesLocked() {
		c.cfg.Record(e)
	}
	c.start, c.written, c.others = c.cfg.Now(), 0, 0
	clear(c.counts)
	clear(c.op)
}

// Close flushes and stops the Coalescer; a second Close does nothing.
func (c *Coalescer) Close() {
	c.closing.Do(func() {
		close(c.stop)
		<-c.done
		c.Flush()
	})
}

// Clip makes text a requester chose safe and short for a record: at most
// MaxText bytes, control characters and invalid UTF-8 escaped, and a cut
// marked with "…".
func Clip(s string) string {
	q := strconv.Quote(s)
	q = q[1 : len(q)-1] // the escapes without the quotes
	if len(q) <= MaxText {
		return q
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut] + "…"
}

// String describes e in one line, as an audit detail.
func (e Event) String() string {
	if !e.Summary() {
		return e.Detail
	}
	since := e.Since.UTC().Format(time.TimeOnly)
	if e.Peer == "" {
		return fmt.Sprintf("%d refused requests from peers not named here, since %s UTC", e.Count, since)
	}
	return fmt.Sprintf("%d refused requests since %s UTC; the first: %s %s: %s", e.Count, since, e.Op, e.Target, e.Detail)
}
