package groupvault

import "time"

// Defaults of Config's bounds, each with its reason.
const (
	// DefaultMaxGroups bounds the groups one vault peer keeps: a family's
	// or a team's, not a hosting service's.
	DefaultMaxGroups = 256
	// DefaultMaxGroupsPerCreator bounds the groups one peer may create,
	// so one stranger cannot take them all.
	DefaultMaxGroupsPerCreator = 8
	// DefaultMaxSecrets bounds one group's secrets (each at most
	// group.MaxSecretBytes): a re-split re-seals them all in one batch.
	DefaultMaxSecrets = 4096
	// DefaultWindow is a group's unlock window when its creator names none.
	DefaultWindow = 8 * time.Hour
	// DefaultMembership is how long a member's capability lasts when the
	// inviting admin names no time.
	DefaultMembership = 90 * 24 * time.Hour
	// InviteTTL is how long an invitation waits to be accepted.
	InviteTTL = 7 * 24 * time.Hour
	// maxTallies bounds the membership changes waiting for approvals in
	// one group; the oldest is dropped for a new one.
	maxTallies = 4
	// pruneEvery is how often stale approval nonces are deleted from
	// the store.
	pruneEvery = 5 * time.Minute
	// sweepEvery is how often windows are checked for their end besides
	// on every request.
	sweepEvery = time.Second
)
