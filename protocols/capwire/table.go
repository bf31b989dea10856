package capwire

import (
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
)

// row is one line of the table: a capability sentinel and the status a
// refusal it causes crosses the wire with.
type row struct {
	err    error
	status wire.Status
}

// table maps every exported capability sentinel to its wire status. A
// test parses the capability package's source and fails when a sentinel
// is missing here, so a new one gets a deliberate status.
//
// Where share, grant and relay-access used to differ:
//   - ErrBadSignature, ErrBrokenChain, ErrNoShare, ErrEscalation,
//     ErrWidened, ErrValidityExtended, ErrCeiling and ErrWrongOwner were
//     Forbidden in share and relay-access but BadRequest in grant. They
//     are Forbidden everywhere: the token decoded, so the sender's bytes
//     are well formed; what fails is the authority they claim, which is
//     what Forbidden means ("authenticated, but not allowed").
//   - ErrTooDeep was Forbidden in share (its catch-all) but BadRequest in
//     grant and relay-access (where decoding finds it). A chain over
//     MaxDepth is a structural cap checked while decoding, like
//     ErrTooLarge: BadRequest.
//   - ErrReplayFull was Forbidden in share and relay-access. It says the
//     server's replay store is full, which is the server's state, not the
//     token's fault, and passes as entries expire: Unavailable, so the
//     caller retries instead of giving up on a good token.
var table = [...]row{
	// Not a token: the same bytes can never succeed.
	{capability.ErrMalformed, wire.BadRequest},
	{capability.ErrTooLarge, wire.BadRequest}, // over MaxTokenBytes: a field cap, like malformed
	{capability.ErrTooDeep, wire.BadRequest},  // over MaxDepth: a structural cap found while decoding
	{capability.ErrBadPattern, wire.BadRequest},

	// A well-formed token that carries no authority for this request.
	{capability.ErrBadSignature, wire.Forbidden},
	{capability.ErrBrokenChain, wire.Forbidden},
	{capability.ErrNoShare, wire.Forbidden},
	{capability.ErrEscalation, wire.Forbidden},
	{capability.ErrWidened, wire.Forbidden},
	{capability.ErrValidityExtended, wire.Forbidden},
	{capability.ErrCeiling, wire.Forbidden},
	{capability.ErrWrongAudience, wire.Forbidden},
	{capability.ErrWrongOwner, wire.Forbidden},
	{capability.ErrNotPermitted, wire.Forbidden},
	{capability.ErrReplayed, wire.Forbidden}, // its use budget is spent for good

	// The time window and revocation have statuses of their own.
	{capability.ErrExpired, wire.Expired},
	{capability.ErrNotYetValid, wire.Expired}, // outside the window, on the early side
	{capability.ErrRevoked, wire.Revoked},

	// The server's own state, and it passes.
	{capability.ErrReplayFull, wire.Unavailable},
}

// byName indexes the table by capability.ErrorName, so an error wrapping
// several sentinels (a bad pattern inside a token is also ErrMalformed)
// is named by the capability package's own precedence, in one place.
var byName = func() map[string]wire.Status {
	m := make(map[string]wire.Status, len(table))
	for _, r := range table {
		m[capability.ErrorName(r.err)] = r.status
	}
	return m
}()

// Status returns the wire status for a capability error and true, or
// false when err wraps no capability sentinel (a cancelled context, a
// store failure), which is not the table's to decide.
func Status(err error) (wire.Status, bool) {
	if err == nil {
		return wire.OK, false
	}
	st, ok := byName[capability.ErrorName(err)]
	return st, ok
}

// ToWire converts a token's decoding or verification failure to the
// refusal sent to the remote peer: the table's status and the message
// "token: NAME" (for a revocation, also the revoked token and its link).
// An error that wraps no capability sentinel goes through wire.ToWire: a
// *wire.Error passes unchanged, anything else becomes a bare Internal.
// It never attaches a detail; see ToWireDetailed.
func ToWire(err error) *wire.Error {
	st, ok := Status(err)
	if !ok {
		return wire.ToWire(err)
	}
	msg := "token: " + capability.ErrorName(err)
	if rev, ok := revokedError(err); ok {
		msg += ": " + describeDetail(RevokedDetail{Token: rev.ID, Link: rev.Link, Of: rev.Of})
	}
	return &wire.Error{Status: st, Message: msg}
}
