package group

import "errors"

// Sentinels. Every error the package returns wraps one of them; the
// messages are sentences for the user, name the admin concerned by peer
// ID, and never hold a key, a share or a scalar.
var (
	// ErrBadDealing: Split was asked for an impossible group (threshold,
	// admins, name).
	ErrBadDealing = errors.New("group: the group cannot be split so")
	// ErrBadShare: a share does not match the group's commitments; the
	// message names the admin whose share it is.
	ErrBadShare = errors.New("group: bad share")
	// ErrTooFewShares: fewer than the threshold of distinct valid shares.
	ErrTooFewShares = errors.New("group: not enough shares")
	// ErrMalformed: bytes that should be a share, commitments or an
	// approval do not decode.
	ErrMalformed = errors.New("group: malformed")
	// ErrBadSignature: an approval's or an audit record's signature does
	// not verify.
	ErrBadSignature = errors.New("group: signature is not valid")
	// ErrNotAdmin: an approval or share from someone who is not an admin
	// of the group (or of another group).
	ErrNotAdmin = errors.New("group: not an admin of the group")
	// ErrStale: an approval older than MaxApprovalAge, or dated in the
	// future beyond MaxClockSkew.
	ErrStale = errors.New("group: approval is out of date")
	// ErrReplay: an approval whose nonce was already counted.
	ErrReplay = errors.New("group: approval was already used")
	// ErrTooMany: a NonceSet is full for the group.
	ErrTooMany = errors.New("group: too many approvals")
	// ErrOpen: the group is unlocked; approvals wait for the window's end.
	ErrOpen = errors.New("group: already unlocked")
	// ErrLocked: the group is locked; its key is not held.
	ErrLocked = errors.New("group: locked")
	// ErrWrongPurpose: an approval offered for another purpose than it
	// was signed for: a membership change's to a Lock, an unlock's or
	// another change's to a Tally.
	ErrWrongPurpose = errors.New("group: approval is for another purpose")
	// ErrOutsideSchedule: an unlock asked for outside the group's
	// schedule.
	ErrOutsideSchedule = errors.New("group: outside the group's unlock hours")
	// ErrChain: an audit record that does not continue a group's log
	// where it says it does (another group, a time going back, a height
	// 1 with a previous hash).
	ErrChain = errors.New("group: audit record does not continue the log")
	// ErrFork: two different audit records at one height. Every fork
	// error is a *ForkError.
	ErrFork = errors.New("group: the audit log forked")
	// ErrSealed: a sealed secret does not open: another key, group, name
	// or release time, or altered bytes. One error for all of them.
	ErrSealed = errors.New("group: the secret does not open")
	// ErrBadName: a secret's name breaks the naming rule.
	ErrBadName = errors.New("group: not a valid secret name")
	// ErrTooLarge: a secret's value is over MaxSecretBytes.
	ErrTooLarge = errors.New("group: secret is too large")
	// ErrBadSchedule: a schedule's text does not parse.
	ErrBadSchedule = errors.New("group: not a valid schedule")
)
