package relay

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// AuditEvent names what an audit record is about.
type AuditEvent string

// Audit events.
const (
	// EventCircuit is a relayed connection that has closed.
	EventCircuit AuditEvent = "circuit"
	// EventReserveRefused is a reservation the relay refused.
	EventReserveRefused AuditEvent = "reserve-refused"
	// EventConnectRefused is a circuit the relay refused to open.
	EventConnectRefused AuditEvent = "connect-refused"
	// EventAccessRevoked is a peer whose relay-access capability was
	// revoked: its reservation and circuits were cut.
	EventAccessRevoked AuditEvent = "access-revoked"

	// The events below are written by the role around the Service
	// (node/infra) and by the operator's commands, into the same log.

	// EventStart and EventStop: the relay started or stopped (Src is the
	// relay's own peer ID).
	EventStart AuditEvent = "start"
	EventStop  AuditEvent = "stop"
	// EventGrant: the operator issued a relay-access capability (mesh relay
	// grant) to Src, Token names it, Until is its expiry.
	EventGrant AuditEvent = "grant"
	// EventRevoke: the operator revoked the relay-access capability Token
	// of Src (mesh relay revoke); Detail says whether it was pushed to the
	// running relay, stored for its next start, or failed.
	EventRevoke AuditEvent = "revoke"
	// EventRefusals is a summary of refusals of peers the log does not
	// name one by one (Count of them since Since): see AuditRecord.Count.
	EventRefusals AuditEvent = "refusals"
)

// Reason is why a circuit closed or a request was refused.
type Reason string

// Close reasons (EventCircuit).
const (
	// relay v2 clients end a relayed connection by resetting its stream, so
	// an orderly close and a failure on one side look alike to the relay:
	// the reason names the side the relay saw end first. A side closing in
	// order first sends its muxer's GoAway, to which the other side may hang
	// up at once, so for a peer-initiated close either side can come first.
	ReasonClosed      Reason = "closed"       // both sides half-closed in order
	ReasonSrcClosed   Reason = "src-closed"   // the source side closed, reset or failed first
	ReasonDstClosed   Reason = "dst-closed"   // the destination side closed, reset or failed first
	ReasonRelayClosed Reason = "relay-closed" // the relay service shut down
	ReasonIdle        Reason = "idle"         // a stranger's circuit idle for Config.CircuitIdleTimeout
)

// Refusal reasons (EventReserveRefused, EventConnectRefused).
const (
	ReasonUnauthorized           Reason = "unauthorized"             // the Authorizer said no
	ReasonRateLimited            Reason = "rate-limited"             // the peer's bucket was empty
	ReasonDestinationRateLimited Reason = "destination-rate-limited" // the destination's bucket was empty (for this source)
	ReasonRelayRateLimited       Reason = "relay-rate-limited"       // the relay-wide bucket was empty (for this source)
	ReasonStrangerLimit          Reason = "stranger-limit"           // the destination has Config.MaxStrangerCircuits open from strangers
	ReasonRelayedSource          Reason = "relayed-source"           // request came over a relayed connection
	ReasonNoReservation          Reason = "no-reservation"           // destination holds no reservation
	ReasonReservationLimit       Reason = "reservation-limit"        // slots or per-IP/ASN limits full
	ReasonResourceLimit          Reason = "resource-limit"           // circuit or memory limits full
	ReasonConnectionFailed       Reason = "connection-failed"        // destination did not accept
	ReasonMalformed              Reason = "malformed"                // unparsable request
	ReasonStreamError            Reason = "stream-error"             // no answer could be written
	ReasonAuditUnavailable       Reason = "audit-unavailable"        // the audit log failed; fail closed
	ReasonServiceUnavailable     Reason = "service-unavailable"      // relay closing
	ReasonRevoked                Reason = "revoked"                  // EventAccessRevoked: the capability was revoked
	ReasonOperator               Reason = "operator"                 // EventGrant, EventRevoke: the operator's command
)

// AuditRecord is one line of the audit log. It holds metadata only: who,
// when, how much, how long, why. The relay never records payload bytes; it
// could not read them anyway (they are end-to-end encrypted), and it does not
// try.
type AuditRecord struct {
	Time  time.Time  `json:"time"`
	Event AuditEvent `json:"event"`
	// Src is the peer that asked (the reserving peer, or the circuit's
	// source); for an operator's grant or revoke, the peer the capability
	// is for. Empty (and left out) only in an EventRefusals summary.
	Src peer.ID `json:"src,omitempty"`
	// Dst is the circuit's destination; empty for reservations.
	Dst peer.ID `json:"dst,omitempty"`
	// BytesSrcToDst and BytesDstToSrc count relayed bytes after the relay
	// handshake, as the relay copied them.
	BytesSrcToDst int64 `json:"bytes_src_to_dst"`
	BytesDstToSrc int64 `json:"bytes_dst_to_src"`
	// DurationMS is the circuit's lifetime in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	Reason     Reason  `json:"reason"`

	// The fields below are absent from circuit records; the byte counts
	// and duration above are zero in every record but a circuit's.

	// Count and Since make the record a summary: Count refusals (of Src,
	// or of peers not named when Src is empty) since Since, the first of
	// which the record's Event, Dst and Reason describe. mesh relay writes
	// each refusal as it comes up to a budget a minute and summarises the
	// rest (internal/auditlimit), so strangers cannot grow the log.
	Count int       `json:"count,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// Token is the ID (hex) of the capability a grant or revoke concerns,
	// never the token itself; Until is its expiry.
	Token string    `json:"token,omitempty"`
	Until time.Time `json:"until,omitzero"`
	// Detail is a short note for non-circuit records (how a revocation was
	// delivered, what a summary stands for). It never holds payload, a
	// token or a key.
	Detail string `json:"detail,omitempty"`
}

// AuditRecorder is an audit destination that takes records rather than
// lines. When Config.Audit implements it, the relay hands it every record
// instead of writing a JSON line; an error fails the relay closed just as
// a failed write does. node/infra uses it to chain the log and to coalesce
// refusals.
type AuditRecorder interface {
	RecordAudit(AuditRecord) error
}

// auditLog serializes records onto a writer, one JSON line per Write call so
// that concurrent circuits never interleave.
type auditLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *auditLog) write(r AuditRecord) error {
	if rec, ok := l.w.(AuditRecorder); ok {
		l.mu.Lock()
		defer l.mu.Unlock()
		return rec.RecordAudit(r)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("relay: encoding audit record: %w", err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		return fmt.Errorf("relay: writing audit record: %w", err)
	}
	return nil
}
