package wire

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Status is a stable numeric outcome that crosses the wire. Values are part
// of every protocol's format: never renumber, only append.
type Status uint16

// Statuses. The numbers are fixed; a peer that receives an unknown one treats
// it as Internal.
const (
	OK           Status = 0
	BadRequest   Status = 1  // malformed, oversized field, unknown op
	Unauthorized Status = 2  // the remote peer could not be authenticated for this
	Forbidden    Status = 3  // authenticated, but not allowed
	NotFound     Status = 4  // no such thing (or not visible to you)
	TooLarge     Status = 5  // a frame or a quota exceeded its cap
	RateLimited  Status = 6  // slow down and retry later
	Revoked      Status = 7  // a capability in the chain was revoked
	Expired      Status = 8  // a capability or record is outside its time window
	Locked       Status = 9  // the serving vault is locked
	Internal     Status = 10 // the server failed; details stay in its log
	Conflict     Status = 11 // the write collides with existing state (taken, stale)
	Unavailable  Status = 12 // temporarily cannot serve (shutting down, busy)
)

var statusNames = [...]string{
	OK:           "ok",
	BadRequest:   "bad request",
	Unauthorized: "unauthorized",
	Forbidden:    "forbidden",
	NotFound:     "not found",
	TooLarge:     "too large",
	RateLimited:  "rate limited",
	Revoked:      "revoked",
	Expired:      "expired",
	Locked:       "locked",
	Internal:     "internal error",
	Conflict:     "conflict",
	Unavailable:  "unavailable",
}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint16(s))
}

// statusIDs are the names doc.go's status table gives, the Go identifiers.
var statusIDs = [...]string{
	OK: "OK", BadRequest: "BadRequest", Unauthorized: "Unauthorized", Forbidden: "Forbidden",
	NotFound: "NotFound", TooLarge: "TooLarge", RateLimited: "RateLimited", Revoked: "Revoked",
	Expired: "Expired", Locked: "Locked", Internal: "Internal", Conflict: "Conflict", Unavailable: "Unavailable",
}

// Name is the status's name in doc.go's table and in test vectors
// ("BadRequest"); an unknown status is "status(N)".
func (s Status) Name() string {
	if int(s) < len(statusIDs) {
		return statusIDs[s]
	}
	return fmt.Sprintf("status(%d)", uint16(s))
}

// Known reports whether s is a status this version defines.
func (s Status) Known() bool { return int(s) < len(statusNames) }

// Error makes a bare Status usable as a sentinel:
// errors.Is(err, wire.NotFound) holds for any *Error carrying NotFound.
func (s Status) Error() string { return "wire: " + s.String() }

// Error is a failure that crosses the wire: a stable status and a short
// message safe to show to the remote peer. It never wraps local causes, so
// nothing internal leaks by accident; log those on the server side.
type Error struct {
	Status  Status
	Message string // for humans; nothing may parse it
	// Detail is an optional structured refusal detail (Reply field 4):
	// deterministic CBOR whose type the protocol's spec defines for this
	// Status, such as the revocation detail of a share/2 Revoked refusal
	// (protocols/capwire). Only protocols whose spec defines a detail set
	// it; like Message it must hold nothing the remote peer may not see.
	Detail cbor.RawMessage
}

// Errorf builds an *Error with a formatted message.
func Errorf(s Status, format string, args ...any) *Error {
	return &Error{Status: s, Message: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return "wire: " + e.Status.String()
	}
	return "wire: " + e.Status.String() + ": " + e.Message
}

// Is matches a bare Status, or another *Error with the same status (messages
// are ignored, so package sentinels built with Errorf match remote errors;
// details are always ignored).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Status:
		return e.Status == t
	case *Error:
		return t != nil && e.Status == t.Status && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// StatusOf returns the status an error should cross the wire with: the
// status of the first *Error or Status in its chain, nil → OK, anything
// else → Internal.
func StatusOf(err error) Status {
	if err == nil {
		return OK
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Status
	}
	var s Status
	if errors.As(err, &s) {
		return s
	}
	return Internal
}

// ToWire converts a local error to the *Error sent to the remote peer. Wire
// errors pass through unchanged; anything else becomes a bare Internal so
// local details (paths, keys, datastore errors) never leave the process.
func ToWire(err error) *Error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	var s Status
	if errors.As(err, &s) {
		return &Error{Status: s}
	}
	return &Error{Status: Internal}
}
