package agent

import (
	"errors"
	"fmt"

	"github.com/ocmt/mesh/capability"
)

// Sentinels. Every error the package returns wraps one of them; the
// messages are sentences for the user and never hold a secret.
var (
	// ErrRefused is wrapped by every *Refusal.
	ErrRefused = errors.New("agent: refused")
	// ErrCeiling: the action is above the agent's ceiling.
	ErrCeiling = errors.New("agent: above the agent's ceiling")
	// ErrScope: the path is outside the agent's paths.
	ErrScope = errors.New("agent: outside the agent's paths")
	// ErrWrongKey: the call was not made with the agent's key.
	ErrWrongKey = errors.New("agent: not the agent's key")
	// ErrLocked: the agent is locked (after an anomaly, or by hand).
	ErrLocked = errors.New("agent: locked")
	// ErrBadPolicy: a policy breaks its rules (name, ceiling, paths).
	ErrBadPolicy = errors.New("agent: invalid policy")
	// ErrBadRequest: an approval request breaks its rules.
	ErrBadRequest = errors.New("agent: invalid approval request")
	// ErrTooMany: a bound of limits.go is reached (agents, approvals,
	// subscribers).
	ErrTooMany = errors.New("agent: too many")
	// ErrNotFound: no such approval or agent.
	ErrNotFound = errors.New("agent: not found")
	// ErrDecided: the approval was already decided (or expired).
	ErrDecided = errors.New("agent: already decided")
	// ErrExpired: the approval expired before it was decided.
	ErrExpired = errors.New("agent: approval expired")
	// ErrCorrupt: a stored record does not decode.
	ErrCorrupt = errors.New("agent: stored record is corrupt")
)

// Reason says why a call was refused, in one word: the digest counts
// refusals by it and the node writes it in the audit record.
type Reason string

// The reasons.
const (
	ReasonCeiling Reason = "ceiling" // the action is above the ceiling
	ReasonScope   Reason = "scope"   // the path is outside the agent's paths
	ReasonToken   Reason = "token"   // the token chain does not allow it
	ReasonKey     Reason = "key"     // the call was not signed by the agent
	ReasonLocked  Reason = "locked"  // the agent is locked
)

// Refusal is a refused agent call: who, what, and why. It matches
// ErrRefused, the sentinel of its reason and, for ReasonToken, the
// capability sentinel of the token failure.
type Refusal struct {
	Agent  string
	Action capability.Actions // 0 when no action was asked
	Path   string             // the path or pattern asked for, "" if none
	Reason Reason
	msg    string
	errs   []error
}

func (r *Refusal) Error() string { return r.msg }

// Unwrap lets errors.Is see ErrRefused and the reason's sentinels.
func (r *Refusal) Unwrap() []error { return append([]error{ErrRefused}, r.errs...) }

func refuse(agent string, a capability.Actions, path string, why Reason, msg string, errs ...error) *Refusal {
	return &Refusal{Agent: agent, Action: a, Path: path, Reason: why, msg: msg, errs: errs}
}

// LockedError is the refusal of a locked agent's call. New is true on the
// call that locked it: the node raises the alert (event, webhook, audit)
// for that one only.
type LockedError struct {
	Agent string
	Lock  Lock
	New   bool
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("agent %q is locked since %s (%s); the owner can unlock it with: mesh agent unlock %s",
		e.Agent, e.Lock.At.UTC().Format("2006-01-02 15:04:05Z"), e.Lock.Reason, e.Agent)
}

// Unwrap lets errors.Is see ErrLocked and ErrRefused.
func (e *LockedError) Unwrap() []error { return []error{ErrLocked, ErrRefused} }

// tokenWords says what a token failure means, without the capability
// package's internals.
func tokenWords(err error) string {
	switch {
	case errors.Is(err, capability.ErrExpired):
		return "its token has expired"
	case errors.Is(err, capability.ErrNotYetValid):
		return "its token is not valid yet"
	case errors.Is(err, capability.ErrRevoked):
		return "its token was revoked"
	case errors.Is(err, capability.ErrCeiling):
		return "its token chain exceeds a ceiling"
	case errors.Is(err, capability.ErrNotPermitted):
		return "its token does not grant it"
	case errors.Is(err, capability.ErrWrongAudience):
		return "its token was granted to another key"
	case errors.Is(err, capability.ErrWrongOwner):
		return "its token was issued by another owner"
	case errors.Is(err, capability.ErrReplayed), errors.Is(err, capability.ErrReplayFull):
		return "its token's uses are spent"
	case errors.Is(err, capability.ErrBadSignature):
		return "its token's signature does not hold"
	}
	return "its token is not valid"
}
