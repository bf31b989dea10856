package capability

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per outcome a caller may branch on. Every error the
// package returns wraps exactly one of them (errors.Is), with context such
// as the chain link ("link 2 of 3") that failed. ErrorName gives the stable
// name used in test vectors and inspect reports.
var (
	ErrMalformed        = errors.New("capability: malformed token")
	ErrTooLarge         = errors.New("capability: token too large")
	ErrBadSignature     = errors.New("capability: bad signature")
	ErrBrokenChain      = errors.New("capability: broken chain (issuer is not the parent's audience)")
	ErrNoShare          = errors.New("capability: parent does not grant share")
	ErrEscalation       = errors.New("capability: actions exceed the parent's")
	ErrWidened          = errors.New("capability: resource outside the parent's")
	ErrValidityExtended = errors.New("capability: validity outside the parent's")
	ErrTooDeep          = errors.New("capability: chain too deep")
	ErrCeiling          = errors.New("capability: actions exceed a ceiling")
	ErrExpired          = errors.New("capability: token expired")
	ErrNotYetValid      = errors.New("capability: token not yet valid")
	ErrRevoked          = errors.New("capability: token revoked")
	ErrWrongAudience    = errors.New("capability: audience is not the remote peer")
	ErrWrongOwner       = errors.New("capability: root issuer is not the owner")
	ErrNotPermitted     = errors.New("capability: request not permitted by the token")
	ErrReplayed         = errors.New("capability: token already used up")
	ErrReplayFull       = errors.New("capability: replay store full")
	ErrBadPattern       = errors.New("capability: invalid resource pattern")
)

// ErrorName returns the name of the sentinel err wraps ("ErrExpired"), "" for
// nil and "error" for an error that wraps none (a cancelled context, say).
func ErrorName(err error) string {
	if err == nil {
		return ""
	}
	// Most specific first: a bad pattern inside a token is ErrMalformed.
	for _, s := range [...]struct {
		name string
		err  error
	}{
		{"ErrTooLarge", ErrTooLarge},
		{"ErrTooDeep", ErrTooDeep},
		{"ErrMalformed", ErrMalformed},
		{"ErrBadPattern", ErrBadPattern},
		{"ErrBadSignature", ErrBadSignature},
		{"ErrBrokenChain", ErrBrokenChain},
		{"ErrNoShare", ErrNoShare},
		{"ErrEscalation", ErrEscalation},
		{"ErrWidened", ErrWidened},
		{"ErrValidityExtended", ErrValidityExtended},
		{"ErrCeiling", ErrCeiling},
		{"ErrExpired", ErrExpired},
		{"ErrNotYetValid", ErrNotYetValid},
		{"ErrRevoked", ErrRevoked},
		{"ErrWrongAudience", ErrWrongAudience},
		{"ErrWrongOwner", ErrWrongOwner},
		{"ErrNotPermitted", ErrNotPermitted},
		{"ErrReplayed", ErrReplayed},
		{"ErrReplayFull", ErrReplayFull},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "error"
}

// RevokedError reports which token of a chain is revoked. It matches
// ErrRevoked with errors.Is; use errors.As to get the ID.
type RevokedError struct {
	ID   ID  // the revoked token
	Link int // its position in the chain, 1 = root
	Of   int // the chain's length
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("capability: link %d of %d: token %s is revoked", e.Link, e.Of, e.ID)
}

// Is makes errors.Is(err, ErrRevoked) true.
func (e *RevokedError) Is(target error) bool { return target == ErrRevoked }

// linkErr wraps a sentinel with the chain position that failed.
func linkErr(link, n int, sentinel error, format string, args ...any) error {
	return fmt.Errorf("capability: link %d of %d: %s: %w", link, n, fmt.Sprintf(format, args...), sentinel)
}
