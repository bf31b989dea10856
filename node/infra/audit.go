package infra

import (
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/relay"
)

// openRoleLog opens the role's chained audit log with the key derived
// from k, and registers its closing (last: it is opened first).
func (p *Peer) openRoleLog(cfg Config, k *keys.PeerKey, role string) (*chainLog, error) {
	key := auditKey(k, role)
	defer clear(key[:])
	l, err := openChain(cfg.AuditPath, key, cfg.Now, false)
	if err != nil {
		return nil, err
	}
	p.onClose(l.Close)
	return l, nil
}

// errAuditFailing tells the relay service its log is failing although
// the record it handed over was only counted.
var errAuditFailing = errors.New("the audit log is failing")

// relayAudit is the relay service's audit destination (a
// relay.AuditRecorder): the role's chained log, with every refusal going
// through a coalescer first. Refusals are what strangers cause (they get
// no rate-limit bucket), so they are recorded as they come up to half of
// AuditMaxRecords a window and summarised per peer after that. Circuits
// and revoked accesses are written one by one: only authorised peers
// cause them, within their per-peer rate limits.
type relayAudit struct {
	log      *chainLog
	copyTo   io.Writer // RelayConfig.Relay.Audit, when set
	copyMu   sync.Mutex
	refusals *auditlimit.Coalescer
	now      func() time.Time
	self     peer.ID
	started  atomic.Bool
	failing  atomic.Bool
}

var _ relay.AuditRecorder = (*relayAudit)(nil)

func newRelayAudit(l *chainLog, cfg Config) *relayAudit {
	a := &relayAudit{log: l, now: cfg.Now}
	a.refusals = auditlimit.New(auditlimit.Config{Record: a.coalesced, Window: cfg.AuditWindow, MaxRecords: cfg.AuditMaxRecords, Now: cfg.Now})
	return a
}

// Write takes a JSON line (the relay uses RecordAudit instead).
func (a *relayAudit) Write(p []byte) (int, error) { return a.log.Write(p) }

// RecordAudit implements relay.AuditRecorder. While the log fails every
// record is written directly, so that the first that lands reopens the
// relay (a counted one would not try the log).
func (a *relayAudit) RecordAudit(r relay.AuditRecord) error {
	if (r.Event == relay.EventReserveRefused || r.Event == relay.EventConnectRefused) && !a.failing.Load() {
		var dst string
		if r.Dst != "" {
			dst = r.Dst.String()
		}
		a.refusals.Add(r.Src.String(), string(r.Event), dst, string(r.Reason))
		if a.failing.Load() {
			return errAuditFailing
		}
		return nil
	}
	return a.write(r)
}

func (a *relayAudit) write(r relay.AuditRecord) error {
	err := a.log.Append(r)
	a.failing.Store(err != nil)
	if err == nil && a.copyTo != nil {
		if line, jerr := json.Marshal(r); jerr == nil {
			a.copyMu.Lock()
			a.copyTo.Write(append(line, '\n')) // best effort: the chained log is the audit
			a.copyMu.Unlock()
		}
	}
	return err
}

// coalesced writes one record of the coalescer.
func (a *relayAudit) coalesced(e auditlimit.Event) {
	r := relay.AuditRecord{Time: a.now().UTC(), Event: relay.AuditEvent(e.Op), Reason: relay.Reason(e.Detail)}
	if e.Peer == "" {
		r.Event = relay.EventRefusals
	} else if id, err := peer.Decode(e.Peer); err == nil {
		r.Src = id
	}
	if id, err := peer.Decode(e.Target); err == nil {
		r.Dst = id
	}
	if e.Summary() {
		r.Count, r.Since, r.Detail = e.Count, e.Since.UTC(), e.String()
	}
	_ = a.write(r) // a failure is the log's state: the relay's next record sees it
}

// start writes the start record (durably); the relay serves only once it
// is written.
func (a *relayAudit) start(self peer.ID) error {
	a.self = self
	if err := a.write(relay.AuditRecord{Time: a.now().UTC(), Event: relay.EventStart, Src: self}); err != nil {
		return err
	}
	a.started.Store(true)
	return a.log.Sync()
}

// stop flushes the refusals and, if the relay started, writes the stop
// record. It runs after the relay service closed.
func (a *relayAudit) stop() error {
	a.refusals.Close()
	if !a.started.Swap(false) {
		return nil
	}
	return errors.Join(a.write(relay.AuditRecord{Time: a.now().UTC(), Event: relay.EventStop, Src: a.self}), a.log.Sync())
}
