package groupwire

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// ID is the protocol ID.
const ID = "/ocmt/group/1"

// Caps of the protocol, each with its reason. doc.go's Limits table gives
// them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// MaxAdmins bounds a group's admins (group.MaxAdmins): a create
	// carries one sealed share each.
	MaxAdmins = 16
	// MaxCommitmentsBytes bounds a group's encoded commitments
	// (group's maxCommitmentsBytes).
	MaxCommitmentsBytes = 2048
	// MaxSealedShareBytes bounds one sealed share (group's
	// maxSealedShareBytes).
	MaxSealedShareBytes = 1024
	// MaxApprovalBytes bounds an encoded approval (group's
	// maxApprovalBytes).
	MaxApprovalBytes = 2048
	// MaxChangeBytes bounds an encoded membership change: MaxAdmins peer
	// IDs and two numbers.
	MaxChangeBytes = 1024
	// MaxValueBytes bounds a secret's value (group.MaxSecretBytes): a
	// password, a key file, a recovery code sheet.
	MaxValueBytes = 64 << 10
	// MaxNameLen bounds a secret's name (group.CheckSecretName).
	MaxNameLen = 128
	// MaxScheduleLen bounds a schedule's text.
	MaxScheduleLen = 512
	// MaxRecordBytes bounds one audit record (group's maxRecordBytes).
	MaxRecordBytes = 1024
	// MaxAuditPage bounds the records one audit reply carries; the
	// client asks again from the last one.
	MaxAuditPage = 64
	// MaxListNames bounds the names one list reply carries.
	MaxListNames = 512
	// MaxLabelLen bounds an invitee's label: the handle the inviter
	// typed, kept for the audit chain.
	MaxLabelLen = 64
	// MaxMembers bounds a group's members and pending invitees (admins
	// aside).
	MaxMembers = 256
	// MaxMembership bounds how long a membership's capability lasts
	// before an admin invites again: a year.
	MaxMembership = 366 * 24 * time.Hour
	// MaxRequest bounds a request frame: the largest is a member's put (a
	// value, a name and the member's group capability), with the map
	// around them; a create (MaxAdmins sealed shares and the commitments)
	// is smaller.
	MaxRequest = MaxValueBytes + capability.MaxTokenBytes + 4096
	// MaxResponse bounds a reply frame: a get (a value), an audit page
	// (MaxAuditPage records) or a list (MaxListNames names), with the
	// envelope.
	MaxResponse = MaxNameLen*MaxListNames + 8192
	// Timeout bounds one exchange: a re-split of every stored secret
	// happens inside a change's exchange.
	Timeout = 60 * time.Second
	// peerRate and peerBurst bound how often one peer asks: an admin
	// approves, reads and syncs its audit a few times a minute.
	peerRate  = 10
	peerBurst = 40
	// maxLimited bounds the peers the rate limiter remembers.
	maxLimited = 4096
	// maxInFlight bounds the requests served at once, all peers.
	maxInFlight = 64
)

// Limits returns the protocol's exchange limits.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: Timeout}
}
