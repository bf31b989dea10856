package revocation

import "errors"

// Sentinel errors, one per outcome a caller branches on. Every error the
// package returns wraps exactly one of them.
var (
	// ErrMalformed: the bytes are not a canonical revocation record.
	ErrMalformed = errors.New("revocation: malformed record")
	// ErrTooLarge: the record or a field is over its cap.
	ErrTooLarge = errors.New("revocation: record too large")
	// ErrBadSignature: the signature is not the named revoker's over
	// "ocmt-mesh/revocation/v1" || 0x00 || payload.
	ErrBadSignature = errors.New("revocation: bad signature")
	// ErrNotIssuer: the revoker issued neither the revoked token nor any
	// of its ancestors, so it has no standing to revoke it.
	ErrNotIssuer = errors.New("revocation: revoker is not an issuer in the token's chain")
	// ErrBadProof: the embedded token is not the revoked one, or its chain
	// does not verify (bad signatures, broken links): revoking a token that
	// can never verify would only fill the set.
	ErrBadProof = errors.New("revocation: proof token does not verify")
	// ErrExpired: the revoked token has expired; there is nothing to keep.
	ErrExpired = errors.New("revocation: revoked token already expired")
	// ErrQuota: the revoker already holds its quota of live entries, the
	// Set's admission policy refused the record, or the record is not
	// relevant here and the Set keeps its last room for relevant ones
	// (Config.Relevant). Callers drop the record quietly.
	ErrQuota = errors.New("revocation: revoker over quota or not admitted")
	// ErrFull: the Set is at its cap (Config.MaxEntries or MaxBytes) and
	// refused a record relevant here. A revocation that matters to this
	// node is not in force: callers log it loudly (error level).
	ErrFull = errors.New("revocation: set full")
	// ErrClosed: the Set was closed.
	ErrClosed = errors.New("revocation: closed")
)
