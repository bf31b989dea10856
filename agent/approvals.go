package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// State is where an approval stands.
type State uint8

// The states: pending, then approved, denied or expired (which counts as
// denied).
const (
	Pending State = iota + 1
	Approved
	Denied
	Expired
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Approved:
		return "approved"
	case Denied:
		return "denied"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// Request is what an agent asks the user to allow, as plain fields; the
// words the user reads (Approval.Intent) are made from them, never taken
// from the agent.
type Request struct {
	Op Ops // OpIssue or OpSecretUse, exactly one
	// OpIssue: share Resource with the handle Audience, granting Actions
	// for Validity.
	Audience string
	Resource capability.Pattern
	Actions  capability.Actions
	Validity time.Duration // whole seconds, MinValidity to MaxValidity
	// OpSecretUse: use the secret at Resource (a path, Actions = use) in a
	// call to the host Target.
	Target string
}

// Approval is one request of an agent and the user's decision on it. It
// holds names, patterns and times, never a secret value.
type Approval struct {
	ID    string // IDBytes random bytes in hex: what mesh approve takes
	Agent string
	Request
	State   State
	Created time.Time
	Expires time.Time // a pending approval expires, as denied, at this time
	Decided time.Time // zero while pending
}

// Intent is the request in plain words, as the user reads it:
// "share calendar/* with bob: read, for 7 days".
func (a Approval) Intent() string {
	switch a.Op {
	case OpIssue:
		return fmt.Sprintf("share %s with %s: %s, for %s", a.Resource, a.Audience, a.Actions, spell(a.Validity))
	case OpSecretUse:
		return fmt.Sprintf("use the secret %s in a call to %s", a.Resource, a.Target)
	}
	return "an unknown operation"
}

// String is the line mesh approvals prints: the ID first.
func (a Approval) String() string {
	return fmt.Sprintf("%s  %s  agent %s: %s", a.ID, a.State, a.Agent, a.Intent())
}

// spell writes a validity in the largest whole unit.
func spell(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}

// ApprovalConfig configures Approvals.
type ApprovalConfig struct {
	Store ds.Datastore     // required; a namespace of its own
	Now   func() time.Time // default time.Now; expiry runs on it
	TTL   time.Duration    // how long a request waits; default DefaultApprovalTTL
	Max   int              // approvals stored; default DefaultMaxApprovals
	Rand  io.Reader        // ID source; default crypto/rand
}

// Approvals keeps agents' requests for the user's decision. It is safe
// for concurrent use.
type Approvals struct {
	store ds.Datastore
	now   func() time.Time
	ttl   time.Duration
	max   int
	rand  io.Reader

	mu      sync.Mutex
	items   map[string]*Approval
	subs    map[*Subscription]struct{}
	dropped int
}

// OpenApprovals applies cfg's defaults and loads the stored approvals. A
// record that does not decode is deleted and counted (Dropped).
func OpenApprovals(ctx context.Context, cfg ApprovalConfig) (*Approvals, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("agent: approvals need a datastore")
	}
	a := &Approvals{store: cfg.Store, now: cfg.Now, ttl: cfg.TTL, max: cfg.Max, rand: cfg.Rand,
		items: map[string]*Approval{}, subs: map[*Subscription]struct{}{}}
	if a.now == nil {
		a.now = time.Now
	}
	if a.ttl <= 0 {
		a.ttl = DefaultApprovalTTL
	}
	if a.max <= 0 {
		a.max = DefaultMaxApprovals
	}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	res, err := a.store.Query(ctx, query.Query{})
	if err != nil {
		return nil, err
	}
	all, err := res.Rest()
	if err != nil {
		return nil, err
	}
	var bad []ds.Key
	for _, e := range all {
		ap, err := parseApproval(e.Value)
		if err != nil || e.Key != approvalKey(ap.ID).String() {
			bad = append(bad, ds.NewKey(e.Key))
			continue
		}
		a.items[ap.ID] = ap
	}
	for _, k := range bad {
		if err := a.store.Delete(ctx, k); err != nil {
			return nil, err
		}
	}
	a.dropped = len(bad)
	return a, nil
}

func approvalKey(id string) ds.Key { return ds.NewKey("/" + id) }

// Dropped is the number of stored approvals OpenApprovals found corrupt.
func (a *Approvals) Dropped() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Ask files a pending approval for the agent of p. The request must be
// well formed and within the policy: an agent may ask to share only what
// its own paths and ceiling reach, and to use only a secret its policy
// names with use. One agent has at most MaxPendingPerAgent (16) pending.
func (a *Approvals) Ask(ctx context.Context, p Policy, r Request) (Approval, error) {
	if err := p.Validate(); err != nil {
		return Approval{}, err
	}
	r.Validity = r.Validity.Truncate(time.Second)
	if err := checkRequest(r); err != nil {
		return Approval{}, err
	}
	if err := p.CheckPattern(r.Actions, r.Resource); err != nil {
		return Approval{}, err
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.sweep(ctx, now); err != nil {
		return Approval{}, err
	}
	pending := 0
	for _, it := range a.items {
		if it.Agent == p.Name && it.State == Pending {
			pending++
		}
	}
	if pending >= MaxPendingPerAgent {
		return Approval{}, fmt.Errorf("%w: agent %q already has %d requests waiting for the owner", ErrTooMany, p.Name, pending)
	}
	if len(a.items) >= a.max {
		if err := a.pruneOldestDecided(ctx); err != nil {
			return Approval{}, err
		}
	}
	if len(a.items) >= a.max {
		return Approval{}, fmt.Errorf("%w: %d requests are waiting for the owner", ErrTooMany, len(a.items))
	}
	var raw [IDBytes]byte
	var id string
	for {
		if _, err := io.ReadFull(a.rand, raw[:]); err != nil {
			return Approval{}, fmt.Errorf("agent: making an approval ID: %w", err)
		}
		if id = hex.EncodeToString(raw[:]); a.items[id] == nil {
			break
		}
	}
	now = now.Truncate(time.Second).UTC()
	ap := &Approval{ID: id, Agent: p.Name, Request: r, State: Pending, Created: now, Expires: now.Add(a.ttl.Truncate(time.Second))}
	if !ap.Expires.After(now) {
		ap.Expires = now.Add(time.Second)
	}
	if err := a.put(ctx, ap); err != nil {
		return Approval{}, err
	}
	a.items[id] = ap
	a.publish(EventAsked, *ap)
	return *ap, nil
}

// checkRequest applies the field rules of doc.go "Approvals".
func checkRequest(r Request) error {
	if r.Resource.Validate() != nil {
		return fmt.Errorf("%w: the resource is not a valid path pattern", ErrBadRequest)
	}
	if !r.Actions.Valid() {
		return fmt.Errorf("%w: no known action asked", ErrBadRequest)
	}
	switch r.Op {
	case OpIssue:
		if _, err := directory.ParseHandle(r.Audience); err != nil {
			return fmt.Errorf("%w: the person to share with is not a valid handle (a-z, 0-9, - and _)", ErrBadRequest)
		}
		if r.Validity < MinValidity || r.Validity > MaxValidity {
			return fmt.Errorf("%w: a share lasts from %s to %s", ErrBadRequest, spell(MinValidity), spell(MaxValidity))
		}
		if r.Target != "" {
			return fmt.Errorf("%w: a share names no host", ErrBadRequest)
		}
	case OpSecretUse:
		if r.Actions != capability.Use || strings.Contains(string(r.Resource), "*") {
			return fmt.Errorf("%w: a secret use names one secret and the use action", ErrBadRequest)
		}
		if r.Audience != "" || r.Validity != 0 {
			return fmt.Errorf("%w: a secret use names no person and no validity", ErrBadRequest)
		}
		if !validHost(r.Target) {
			return fmt.Errorf("%w: the host is not a valid lowercase DNS name", ErrBadRequest)
		}
	default:
		return fmt.Errorf("%w: an approval is for sharing or for a secret use", ErrBadRequest)
	}
	return nil
}

// validHost accepts a lowercase DNS name: labels of a-z, 0-9 and -, not
// starting or ending with -, at most MaxTargetLen (253) bytes.
func validHost(h string) bool {
	if h == "" || len(h) > MaxTargetLen {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Get returns one approval, its expiry applied.
func (a *Approvals) Get(ctx context.Context, id string) (Approval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.sweep(ctx, a.now()); err != nil {
		return Approval{}, err
	}
	ap := a.items[id]
	if ap == nil {
		return Approval{}, notFound(id)
	}
	return *ap, nil
}

func notFound(id string) error {
	if len(id) > 2*IDBytes {
		id = id[:2*IDBytes] + "…"
	}
	return fmt.Errorf("%w: no approval %q (see mesh approvals)", ErrNotFound, strings.ToValidUTF8(id, "?"))
}

// List returns every approval kept, expiry applied, oldest first: the
// pending ones and those decided in the last KeepDecided.
func (a *Approvals) List(ctx context.Context) ([]Approval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.sweep(ctx, a.now()); err != nil {
		return nil, err
	}
	out := make([]Approval, 0, len(a.items))
	for _, ap := range a.items {
		out = append(out, *ap)
	}
	slices.SortFunc(out, func(x, y Approval) int {
		if c := x.Created.Compare(y.Created); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out, nil
}

// Approve decides a pending approval yes and returns it: the node then
// issues what it asks, and only then. It is the owner's: the node calls
// it from the owner's socket with the vault unlocked, never for an agent.
func (a *Approvals) Approve(ctx context.Context, id string) (Approval, error) {
	return a.decide(ctx, id, Approved)
}

// Deny decides a pending approval no.
func (a *Approvals) Deny(ctx context.Context, id string) (Approval, error) {
	return a.decide(ctx, id, Denied)
}

func (a *Approvals) decide(ctx context.Context, id string, to State) (Approval, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.sweep(ctx, now); err != nil {
		return Approval{}, err
	}
	ap := a.items[id]
	switch {
	case ap == nil:
		return Approval{}, notFound(id)
	case ap.State == Expired:
		return *ap, fmt.Errorf("%w: approval %s expired at %s, unanswered; the agent must ask again",
			ErrExpired, id, ap.Expires.UTC().Format("15:04:05Z"))
	case ap.State != Pending:
		return *ap, fmt.Errorf("%w: approval %s was already %s", ErrDecided, id, ap.State)
	}
	next := *ap
	next.State, next.Decided = to, maxTime(now.Truncate(time.Second).UTC(), ap.Created)
	if err := a.put(ctx, &next); err != nil {
		return Approval{}, err
	}
	*ap = next
	kind := EventApproved
	if to == Denied {
		kind = EventDenied
	}
	a.publish(kind, next)
	return next, nil
}

func maxTime(x, y time.Time) time.Time {
	if x.After(y) {
		return x
	}
	return y
}

// Sweep expires the pending approvals whose time is up (publishing
// EventExpired for each) and forgets those decided more than KeepDecided
// ago. Every other call sweeps first; the node also calls it every few
// seconds so expiries are announced on time.
func (a *Approvals) Sweep(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sweep(ctx, a.now())
}

func (a *Approvals) sweep(ctx context.Context, now time.Time) error {
	for id, ap := range a.items {
		switch {
		case ap.State == Pending && !now.Before(ap.Expires):
			next := *ap
			next.State, next.Decided = Expired, ap.Expires
			if err := a.put(ctx, &next); err != nil {
				return err
			}
			*ap = next
			a.publish(EventExpired, next)
		case ap.State != Pending && now.Sub(ap.Decided) >= KeepDecided:
			if err := a.store.Delete(ctx, approvalKey(id)); err != nil {
				return err
			}
			delete(a.items, id)
		}
	}
	return nil
}

// pruneOldestDecided forgets the decided approval decided first.
func (a *Approvals) pruneOldestDecided(ctx context.Context) error {
	var oldest *Approval
	for _, ap := range a.items {
		if ap.State != Pending && (oldest == nil || ap.Decided.Before(oldest.Decided)) {
			oldest = ap
		}
	}
	if oldest == nil {
		return nil
	}
	if err := a.store.Delete(ctx, approvalKey(oldest.ID)); err != nil {
		return err
	}
	delete(a.items, oldest.ID)
	return nil
}

func (a *Approvals) put(ctx context.Context, ap *Approval) error {
	return a.store.Put(ctx, approvalKey(ap.ID), ap.encode())
}

// approvalRecord is an approval as stored: canonical CBOR (doc.go
// "Stored approvals"). There is no free text in it: the intent is made
// from the fields when shown.
type approvalRecord struct {
	Version  uint64 `cbor:"1,keyasint"`
	ID       string `cbor:"2,keyasint"`
	Agent    string `cbor:"3,keyasint"`
	Op       uint64 `cbor:"4,keyasint"`
	Audience string `cbor:"5,keyasint,omitempty"`
	Resource string `cbor:"6,keyasint"`
	Actions  uint64 `cbor:"7,keyasint"`
	Validity int64  `cbor:"8,keyasint,omitempty"`
	Target   string `cbor:"9,keyasint,omitempty"`
	Created  int64  `cbor:"10,keyasint"`
	Expires  int64  `cbor:"11,keyasint"`
	State    uint64 `cbor:"12,keyasint"`
	Decided  int64  `cbor:"13,keyasint,omitempty"`
}

func (ap *Approval) encode() []byte {
	r := approvalRecord{Version: recordVersion, ID: ap.ID, Agent: ap.Agent, Op: uint64(ap.Op),
		Audience: ap.Audience, Resource: string(ap.Resource), Actions: uint64(ap.Actions),
		Validity: int64(ap.Validity / time.Second), Target: ap.Target,
		Created: ap.Created.Unix(), Expires: ap.Expires.Unix(), State: uint64(ap.State)}
	if !ap.Decided.IsZero() {
		r.Decided = ap.Decided.Unix()
	}
	b, err := wire.Marshal(r)
	if err != nil {
		panic(err) // fixed types; cannot fail
	}
	return b
}

// parseApproval decodes a stored approval with the rules Ask applies.
// Every refusal wraps ErrCorrupt.
func parseApproval(b []byte) (*Approval, error) {
	if len(b) > maxApprovalRecord {
		return nil, fmt.Errorf("%w: an approval of %d bytes, max %d", ErrCorrupt, len(b), maxApprovalRecord)
	}
	var r approvalRecord
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	bad := func(what string) error { return fmt.Errorf("%w: a stored approval %s", ErrCorrupt, what) }
	if r.Version != recordVersion {
		return nil, bad("has an unknown version")
	}
	if raw, err := hex.DecodeString(r.ID); err != nil || len(raw) != IDBytes || hex.EncodeToString(raw) != r.ID {
		return nil, bad("has a malformed ID")
	}
	if _, err := ParseName(r.Agent); err != nil {
		return nil, bad("names no valid agent")
	}
	if r.Op > 0xff || bits.OnesCount64(r.Op) != 1 || r.Actions > 0xff || r.Validity < 0 || r.Validity > int64(MaxValidity/time.Second) {
		return nil, bad("has a field out of range")
	}
	req := Request{Op: Ops(r.Op), Audience: r.Audience, Resource: capability.Pattern(r.Resource),
		Actions: capability.Actions(r.Actions), Validity: time.Duration(r.Validity) * time.Second, Target: r.Target}
	if err := checkRequest(req); err != nil {
		return nil, bad("breaks a request rule")
	}
	st := State(r.State)
	switch {
	case r.State < uint64(Pending) || r.State > uint64(Expired):
		return nil, bad("has an unknown state")
	case r.Created < 1 || r.Expires <= r.Created || r.Expires > maxUnix:
		return nil, bad("has its times out of order")
	case (st == Pending) != (r.Decided == 0):
		return nil, bad("has a decision time that does not match its state")
	case r.Decided != 0 && (r.Decided < r.Created || r.Decided > maxUnix):
		return nil, bad("was decided out of its time")
	case st == Expired && r.Decided != r.Expires:
		return nil, bad("expired at another time than its expiry")
	}
	ap := &Approval{ID: r.ID, Agent: r.Agent, Request: req, State: st,
		Created: fromUnix(r.Created), Expires: fromUnix(r.Expires)}
	if r.Decided != 0 {
		ap.Decided = fromUnix(r.Decided)
	}
	return ap, nil
}

// EventKind says what happened to an approval.
type EventKind uint8

// The events.
const (
	EventAsked EventKind = iota + 1
	EventApproved
	EventDenied
	EventExpired
)

func (k EventKind) String() string {
	switch k {
	case EventAsked:
		return "asked"
	case EventApproved:
		return "approved"
	case EventDenied:
		return "denied"
	case EventExpired:
		return "expired"
	}
	return "unknown"
}

// Event is one change of an approval.
type Event struct {
	Kind     EventKind
	Approval Approval
}

// Subscription receives events on C. The producer never waits: an event
// that finds C full is dropped for this subscriber and counted.
type Subscription struct {
	C       <-chan Event
	ch      chan Event
	dropped atomic.Uint64
	a       *Approvals
	once    sync.Once
}

// Subscribe returns a subscription whose channel holds buffer events
// (DefaultSubscriberBuffer when buffer ≤ 0). At most MaxSubscribers (64)
// are open at once.
func (a *Approvals) Subscribe(buffer int) (*Subscription, error) {
	if buffer <= 0 {
		buffer = DefaultSubscriberBuffer
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.subs) >= MaxSubscribers {
		return nil, fmt.Errorf("%w: %d event subscribers are open", ErrTooMany, MaxSubscribers)
	}
	ch := make(chan Event, buffer)
	s := &Subscription{C: ch, ch: ch, a: a}
	a.subs[s] = struct{}{}
	return s, nil
}

// Dropped is the number of events this subscriber missed by being slow.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.a.mu.Lock()
		defer s.a.mu.Unlock()
		delete(s.a.subs, s)
		close(s.ch)
	})
}

// publish sends to every subscriber without waiting; a.mu is held, so
// no Close runs meanwhile.
func (a *Approvals) publish(kind EventKind, ap Approval) {
	for s := range a.subs {
		select {
		case s.ch <- Event{Kind: kind, Approval: ap}:
		default:
			s.dropped.Add(1)
		}
	}
}
