package relay

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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
)

// Refusal reasons (EventReserveRefused, EventConnectRefused).
const (
	ReasonUnauthorized       Reason = "unauthorized"        // the Authorizer said no
	ReasonRateLimited        Reason = "rate-limited"        // the peer's bucket was empty
	ReasonRelayedSource      Reason = "relayed-source"      // request came over a relayed connection
	ReasonNoReservation      Reason = "no-reservation"      // destination holds no reservation
	ReasonReservationLimit   Reason = "reservation-limit"   // slots or per-IP/ASN limits full
	ReasonResourceLimit      Reason = "resource-limit"      // circuit or memory limits full
	ReasonConnectionFailed   Reason = "connection-failed"   // destination did not accept
	ReasonMalformed          Reason = "malformed"           // unparsable request
	ReasonStreamError        Reason = "stream-error"        // no answer could be written
	ReasonAuditUnavailable   Reason = "audit-unavailable"   // the audit log failed; fail closed
	ReasonServiceUnavailable Reason = "service-unavailable" // relay closing
	ReasonRevoked            Reason = "revoked"             // EventAccessRevoked: the capability was revoked
)

// AuditRecord is one line of the audit log. It holds metadata only: who,
// when, how much, how long, why. The relay never records payload bytes; it
// could not read them anyway (they are end-to-end encrypted), and it does not
// try.
type AuditRecord struct {
	Time  time.Time  `json:"time"`
	Event AuditEvent `json:"event"`
	// Src is the peer that asked (the reserving peer, or the circuit's source).
	Src peer.ID `json:"src"`
	// Dst is the circuit's destination; empty for reservations.
	Dst peer.ID `json:"dst,omitempty"`
	// BytesSrcToDst and BytesDstToSrc count relayed bytes after the relay
	// handshake, as the relay copied them.
	BytesSrcToDst int64 `json:"bytes_src_to_dst"`
	BytesDstToSrc int64 `json:"bytes_dst_to_src"`
	// DurationMS is the circuit's lifetime in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	Reason     Reason  `json:"reason"`
}

// OpenAuditFile opens (creating, mode 0600) path for appending audit lines.
// The caller closes it after the Service.
func OpenAuditFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("relay: opening audit log: %w", err)
	}
	return f, nil
}

// auditLog serializes records onto a writer, one JSON line per Write call so
// that concurrent circuits never interleave.
type auditLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *auditLog) write(r AuditRecord) error {
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
