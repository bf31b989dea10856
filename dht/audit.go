package dht

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// AuditEvent names what a bootstrap audit record is about.
type AuditEvent string

// Bootstrap audit events.
const (
	// AuditStart and AuditStop: the bootstrap started or stopped (Peer is
	// its own ID; Detail its directory size and mail held).
	AuditStart AuditEvent = "start"
	AuditStop  AuditEvent = "stop"
	// AuditRegister: Peer published its first record, claiming Handle.
	AuditRegister AuditEvent = "register"
	// AuditHandleChange: Peer moved from OldHandle (now free) to Handle.
	AuditHandleChange AuditEvent = "handle-change"
	// AuditPublishRefused: Peer's record for Handle was refused; Reason
	// says why (handle-taken, stale, future, directory-full, ...).
	AuditPublishRefused AuditEvent = "publish-refused"
	// AuditRevocation: a revocation was admitted into the set: Token is
	// the revoked capability's ID, Peer its revoker.
	AuditRevocation AuditEvent = "revocation"
	// AuditChanges summarises the directory changes and revocations of
	// peers not named one by one in a window (Count since Since).
	AuditChanges AuditEvent = "changes"
	// AuditActivity is the window's activity in numbers (Counts), written
	// at the end of each window in which anything happened.
	AuditActivity AuditEvent = "counts"
)

// AuditRecord is one line of the bootstrap's audit log. It holds metadata
// only, and none the directory does not publish anyway: peer IDs, handles,
// capability IDs, counts. Never a record's other fields, a mail's bytes or
// its sender and recipient.
type AuditRecord struct {
	Time      time.Time  `json:"time"`
	Event     AuditEvent `json:"event"`
	Peer      peer.ID    `json:"peer,omitempty"`
	Handle    string     `json:"handle,omitempty"`
	OldHandle string     `json:"old_handle,omitempty"`
	Token     string     `json:"token,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	// Count and Since make the record a summary: Count events (of Peer,
	// or of peers not named when Peer is empty) since Since, the first of
	// which the other fields describe.
	Count  int       `json:"count,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Counts *Activity `json:"counts,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Activity is a window's activity (AuditActivity records).
type Activity struct {
	Lookups          int64 `json:"lookups"`
	Publishes        int64 `json:"publishes"` // accepted, refreshes included
	PublishesRefused int64 `json:"publishes_refused"`
	MailPuts         int64 `json:"mail_puts"`
	MailPutBytes     int64 `json:"mail_put_bytes"`
	MailPutsRefused  int64 `json:"mail_puts_refused"`
	MailFetches      int64 `json:"mail_fetches"`
	MailFetched      int64 `json:"mail_fetched"` // items handed out
	MailAcks         int64 `json:"mail_acks"`
}

func (c Activity) zero() bool { return c == Activity{} }

// errAuditUnavailable answers a publish while the audit log fails.
var errAuditUnavailable = &wire.Error{Status: wire.Unavailable, Message: "the bootstrap cannot audit changes now; retry later"}

// auditor writes the bootstrap's audit log. Directory changes and
// refusals each go through a coalescer (internal/auditlimit): per window
// at most MaxRecords records of each, whatever the number of peers, and
// the activity counts make one record a window. While the log fails,
// publishes are refused (the relay's rule: no audit, no change); each
// refusal tries the log again.
type auditor struct {
	w       io.Writer
	now     func() time.Time
	log     *slog.Logger
	m       *metrics
	window  time.Duration
	mu      sync.Mutex // one write at a time
	failing atomic.Bool

	changes, refusals *auditlimit.Coalescer

	cmu    sync.Mutex
	counts Activity
	since  time.Time

	stop, done chan struct{}
	once       sync.Once
}

func newAuditor(cfg BootstrapConfig, log *slog.Logger, m *metrics) *auditor {
	a := &auditor{w: cfg.Audit, now: cfg.Now, log: log, m: m, window: cfg.AuditWindow,
		stop: make(chan struct{}), done: make(chan struct{})}
	if a.w == nil {
		a.w = io.Discard
	}
	if a.window <= 0 {
		a.window = auditlimit.DefaultWindow
	}
	a.since = a.now()
	lim := func(other AuditEvent) auditlimit.Config {
		return auditlimit.Config{Record: a.coalesced(other), Window: a.window, MaxRecords: cfg.AuditMaxRecords, Now: cfg.Now}
	}
	a.changes = auditlimit.New(lim(AuditChanges))
	a.refusals = auditlimit.New(lim(AuditPublishRefused))
	go a.tick()
	return a
}

// write writes one record; its error is also the log's state.
func (a *auditor) write(r AuditRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	a.mu.Lock()
	_, err = a.w.Write(append(line, '\n'))
	a.mu.Unlock()
	if err != nil {
		a.m.auditErrors.Inc()
		if !a.failing.Swap(true) {
			a.log.Error("bootstrap: audit log failing; refusing directory changes", "err", err)
		}
		return fmt.Errorf("dht: writing the audit log: %w", err)
	}
	a.failing.Store(false)
	return nil
}

// coalesced writes one record of a coalescer; other names the summary of
// peers not named.
func (a *auditor) coalesced(other AuditEvent) func(auditlimit.Event) {
	return func(e auditlimit.Event) {
		r := AuditRecord{Time: a.now().UTC(), Event: AuditEvent(e.Op)}
		if e.Peer == "" {
			r.Event = other
		} else if id, err := peer.Decode(e.Peer); err == nil {
			r.Peer = id
		}
		switch r.Event {
		case AuditHandleChange:
			r.Handle, r.OldHandle = e.Target, e.Detail
		case AuditRevocation:
			r.Token = e.Target
		case AuditPublishRefused:
			r.Handle, r.Reason = e.Target, e.Detail
		default:
			r.Handle = e.Target
		}
		if e.Summary() {
			r.Count, r.Since = e.Count, e.Since.UTC()
			r.Detail = fmt.Sprintf("%d in this window; the first is described here", e.Count)
			if e.Peer == "" {
				r.Detail = fmt.Sprintf("%d in this window, from peers not named one by one", e.Count)
			}
		}
		_ = a.write(r) // a failure is the log's state: the next publish sees it
	}
}

// published audits a publish the directory accepted or refused.
func (a *auditor) published(ch Change, err error) {
	a.cmu.Lock()
	if err == nil {
		a.counts.Publishes++
	} else {
		a.counts.PublishesRefused++
	}
	a.cmu.Unlock()
	if err != nil {
		reason := publishReason(err)
		a.m.publishesRefused.WithLabelValues(reason).Inc()
		if ch.Peer != "" {
			a.refusals.Add(ch.Peer.String(), string(AuditPublishRefused), string(ch.Handle), reason)
		}
		return
	}
	a.m.publishes.Inc()
	switch {
	case ch.New:
		a.changes.Add(ch.Peer.String(), string(AuditRegister), string(ch.Handle), "")
	case ch.Old != ch.Handle:
		a.changes.Add(ch.Peer.String(), string(AuditHandleChange), string(ch.Handle), string(ch.Old))
	}
}

// publishReason names why a publish was refused, from a bounded set.
func publishReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{directory.ErrHandleTaken, "handle-taken"},
		{directory.ErrStale, "stale"},
		{directory.ErrFuture, "future"},
		{directory.ErrStoreFull, "directory-full"},
		{errAuditUnavailable, "audit-unavailable"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return wire.StatusOf(err).String()
}

// revoked audits a revocation admitted into the set.
func (a *auditor) revoked(id capability.ID, by peer.ID) {
	a.changes.Add(by.String(), string(AuditRevocation), id.String(), "")
}

func (a *auditor) count(f func(*Activity)) {
	a.cmu.Lock()
	f(&a.counts)
	a.cmu.Unlock()
}

// flushCounts writes the window's counts, if any, and starts a new window.
func (a *auditor) flushCounts() {
	a.cmu.Lock()
	c, since := a.counts, a.since
	a.counts, a.since = Activity{}, a.now()
	a.cmu.Unlock()
	if !c.zero() {
		_ = a.write(AuditRecord{Time: a.now().UTC(), Event: AuditActivity, Since: since.UTC(), Counts: &c})
	}
}

func (a *auditor) tick() {
	defer close(a.done)
	t := time.NewTicker(a.window)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.flushCounts()
		}
	}
}

// close flushes the coalescers and the counts and writes the stop record.
func (a *auditor) close(detail string, self peer.ID) error {
	var err error
	a.once.Do(func() {
		close(a.stop)
		<-a.done
		a.changes.Close()
		a.refusals.Close()
		a.flushCounts()
		err = a.write(AuditRecord{Time: a.now().UTC(), Event: AuditStop, Peer: self, Detail: detail})
	})
	return err
}

// auditedRecords is the directory as the protocol server sees it: every
// publish is audited, every lookup counted.
type auditedRecords struct {
	dir *Directory
	a   *auditor
}

func (r auditedRecords) Publish(ctx context.Context, sr *directory.SignedRecord) error {
	if r.a.failing.Load() {
		// Refused, and the refusal tries the log: once it is written the
		// next publish goes through.
		ch := Change{}
		if rec, err := sr.Verify(); err == nil {
			ch.Peer, ch.Handle = rec.Peer, rec.Handle
		}
		_ = r.a.write(AuditRecord{Time: r.a.now().UTC(), Event: AuditPublishRefused, Peer: ch.Peer, Handle: string(ch.Handle), Reason: "audit-unavailable"})
		r.a.count(func(c *Activity) { c.PublishesRefused++ })
		r.a.m.publishesRefused.WithLabelValues("audit-unavailable").Inc()
		return errAuditUnavailable
	}
	ch, err := r.dir.Apply(ctx, sr)
	r.a.published(ch, err)
	return err
}

func (r auditedRecords) Lookup(ctx context.Context, h directory.Handle) (*directory.SignedRecord, error) {
	r.a.lookedUp()
	return r.dir.Lookup(ctx, h)
}

func (r auditedRecords) LookupPeer(ctx context.Context, id peer.ID) (*directory.SignedRecord, error) {
	r.a.lookedUp()
	return r.dir.LookupPeer(ctx, id)
}

func (a *auditor) lookedUp() {
	a.m.lookups.Inc()
	a.count(func(c *Activity) { c.Lookups++ })
}

// auditedMail is the mailboxes as the protocol server sees them: puts,
// fetches and acks are counted, never their contents, senders or
// recipients.
type auditedMail struct {
	mbox *Mailbox
	a    *auditor
}

func (m auditedMail) Put(ctx context.Context, from, to peer.ID, sealed []byte, tokens ...capability.ID) error {
	err := m.mbox.Put(ctx, from, to, sealed, tokens...)
	if err != nil {
		m.a.m.mailPutsRefused.WithLabelValues(wire.StatusOf(err).String()).Inc()
		m.a.count(func(c *Activity) { c.MailPutsRefused++ })
		return err
	}
	m.a.m.mailPuts.Inc()
	m.a.m.mailPutBytes.Add(float64(len(sealed)))
	m.a.count(func(c *Activity) { c.MailPuts++; c.MailPutBytes += int64(len(sealed)) })
	return nil
}

func (m auditedMail) Fetch(ctx context.Context, to peer.ID, max int) ([]directory.Mail, bool, error) {
	items, more, err := m.mbox.Fetch(ctx, to, max)
	m.a.m.mailFetches.Inc()
	m.a.count(func(c *Activity) { c.MailFetches++; c.MailFetched += int64(len(items)) })
	return items, more, err
}

func (m auditedMail) Ack(ctx context.Context, to peer.ID, ids [][]byte) error {
	m.a.m.mailAcks.Inc()
	m.a.count(func(c *Activity) { c.MailAcks++ })
	return m.mbox.Ack(ctx, to, ids)
}
