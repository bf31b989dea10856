package groupwire

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// Op selects the request kind. Numbers are part of the wire format: never
// renumber, only append.
type Op uint8

// Operations (doc.go "Operations").
const (
	OpCreate  Op = 1
	OpInfo    Op = 2
	OpShare   Op = 3
	OpApprove Op = 4
	OpRelock  Op = 5
	OpGet     Op = 6
	OpPut     Op = 7
	OpList    Op = 8
	OpRemove  Op = 9
	OpAudit   Op = 10
	OpChange  Op = 11
	OpInvite  Op = 12
	OpAccept  Op = 13
	OpDecline Op = 14
	OpExpel   Op = 15
	OpMembers Op = 16
)

var opNames = [...]string{OpCreate: "create", OpInfo: "info", OpShare: "share", OpApprove: "approve",
	OpRelock: "relock", OpGet: "get", OpPut: "put", OpList: "list", OpRemove: "remove", OpAudit: "audit", OpChange: "change",
	OpInvite: "invite", OpAccept: "accept", OpDecline: "decline", OpExpel: "expel", OpMembers: "members"}

// String names the op as doc.go does.
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "unknown"
}

// Request is the one request frame (doc.go "Requests"). Which fields an op
// takes is fixed by doc.go's field table; ParseRequest checks it.
type Request struct {
	Op          Op       `cbor:"1,keyasint"`
	Group       string   `cbor:"2,keyasint"`
	Commitments []byte   `cbor:"3,keyasint,omitempty"`
	Shares      [][]byte `cbor:"4,keyasint,omitempty"`
	Window      int64    `cbor:"5,keyasint,omitempty"`
	Schedule    string   `cbor:"6,keyasint,omitempty"`
	Approval    []byte   `cbor:"7,keyasint,omitempty"`
	Name        string   `cbor:"8,keyasint,omitempty"`
	Value       []byte   `cbor:"9,keyasint,omitempty"`
	Release     int64    `cbor:"10,keyasint,omitempty"`
	From        uint64   `cbor:"11,keyasint,omitempty"`
	Change      []byte   `cbor:"12,keyasint,omitempty"`
	Member      []byte   `cbor:"13,keyasint,omitempty"`
	Role        string   `cbor:"14,keyasint,omitempty"`
	Label       string   `cbor:"15,keyasint,omitempty"`
	For         int64    `cbor:"16,keyasint,omitempty"`
	Token       []byte   `cbor:"17,keyasint,omitempty"`
}

// Info is the body of the reply to info, approve, relock and change: the
// group as the asking peer may see it.
type Info struct {
	Commitments []byte   `cbor:"1,keyasint"`
	Window      int64    `cbor:"2,keyasint"`
	Schedule    string   `cbor:"3,keyasint,omitempty"`
	Unlocked    bool     `cbor:"4,keyasint,omitempty"`
	Until       int64    `cbor:"5,keyasint,omitempty"`
	Approvers   [][]byte `cbor:"6,keyasint,omitempty"`
	Pending     [][]byte `cbor:"7,keyasint,omitempty"`
	Height      uint64   `cbor:"8,keyasint"`
	Head        []byte   `cbor:"9,keyasint,omitempty"`
	Role        string   `cbor:"10,keyasint"`
	Secrets     uint64   `cbor:"11,keyasint,omitempty"`
}

// Invitation is the body of the reply to invite: the group capability
// the vault issued to the invitee (pending until they accept), which the
// inviter's node delivers to the invitee's mailbox.
type Invitation struct {
	Token []byte `cbor:"1,keyasint"`
}

// Member is one member or pending invitee of a group.
type Member struct {
	Peer    []byte `cbor:"1,keyasint"`
	Role    string `cbor:"2,keyasint"`
	Pending bool   `cbor:"3,keyasint,omitempty"`
	Label   string `cbor:"4,keyasint,omitempty"`
	Until   int64  `cbor:"5,keyasint"`
}

// Members is the body of the reply to members.
type Members struct {
	Members []Member `cbor:"1,keyasint"`
}

// ShareReply is the body of the reply to share: the asking admin's share,
// sealed to the admin (opaque to the vault).
type ShareReply struct {
	Sealed []byte `cbor:"1,keyasint"`
}

// Secret is the body of the reply to get.
type Secret struct {
	Value   []byte `cbor:"1,keyasint"`
	Release int64  `cbor:"2,keyasint,omitempty"`
}

// List is the body of the reply to list: names in byte order, from the
// first after From's name (doc.go).
type List struct {
	Names []string `cbor:"1,keyasint"`
}

// AuditPage is the body of the reply to audit: records from the asked
// height on, in order, and whether more follow.
type AuditPage struct {
	Records [][]byte `cbor:"1,keyasint"`
	More    bool     `cbor:"2,keyasint,omitempty"`
}

func bad(format string, args ...any) error { return wire.Errorf(wire.BadRequest, format, args...) }

// field table: for each op, which of the fields 3..17 it requires ('R'),
// allows ('O') or refuses (0). Op and Group (1, 2) are required by all.
// A member (not an admin) presents its group capability in field 17.
var fieldTable = map[Op][15]byte{
	//           3    4    5    6    7    8    9    10   11   12   13   14   15   16   17
	OpCreate:  {'R', 'R', 'R', 'O', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	OpInfo:    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'O'},
	OpShare:   {},
	OpApprove: {0, 0, 0, 0, 'R', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	OpRelock:  {},
	OpGet:     {0, 0, 0, 0, 0, 'R', 0, 0, 0, 0, 0, 0, 0, 0, 'O'},
	OpPut:     {0, 0, 0, 0, 0, 'R', 'R', 'O', 0, 0, 0, 0, 0, 0, 'O'},
	OpList:    {0, 0, 0, 0, 0, 'O', 0, 0, 0, 0, 0, 0, 0, 0, 'O'},
	OpRemove:  {0, 0, 0, 0, 0, 'R', 0, 0, 0, 0, 0, 0, 0, 0, 'O'},
	OpAudit:   {0, 0, 0, 0, 0, 0, 0, 0, 'O', 0, 0, 0, 0, 0, 0},
	OpChange:  {0, 0, 0, 0, 'R', 0, 0, 0, 0, 'R', 0, 0, 0, 0, 0},
	OpInvite:  {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'R', 'R', 'O', 'O', 0},
	OpAccept:  {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'R'},
	OpDecline: {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'R'},
	OpExpel:   {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'R', 0, 0, 0, 0},
	OpMembers: {},
}

var fieldNames = [...]string{"commitments", "shares", "window", "schedule", "approval", "name", "value", "release", "from", "change",
	"member", "role", "label", "for", "token"}

// ParseRequest decodes a request frame canonically and checks it against
// doc.go's field table and field rules. Every failure is BadRequest but a
// byte-string field over its cap (commitments, approval, value, change,
// token), which is TooLarge.
func ParseRequest(b []byte) (*Request, error) {
	var r Request
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	want, ok := fieldTable[r.Op]
	if !ok {
		return nil, bad("unknown op %d", r.Op)
	}
	if err := CheckGroupName(r.Group); err != nil {
		return nil, err
	}
	has := [...]bool{len(r.Commitments) != 0, len(r.Shares) != 0, r.Window != 0, r.Schedule != "", len(r.Approval) != 0,
		r.Name != "", len(r.Value) != 0, r.Release != 0, r.From != 0, len(r.Change) != 0,
		len(r.Member) != 0, r.Role != "", r.Label != "", r.For != 0, len(r.Token) != 0}
	for i, h := range has {
		switch {
		case want[i] == 'R' && !h:
			return nil, bad("a %s request needs a %s", r.Op, fieldNames[i])
		case want[i] == 0 && h:
			return nil, bad("a %s request takes no %s", r.Op, fieldNames[i])
		}
	}
	if err := r.checkFields(); err != nil {
		return nil, err
	}
	return &r, nil
}

func tooLarge(what string, max, got int) error {
	return wire.Errorf(wire.TooLarge, "%s may be at most %d bytes; these are %d", what, max, got)
}

// checkFields is each present field's rule (doc.go "Requests").
func (r *Request) checkFields() error {
	switch {
	case len(r.Commitments) > MaxCommitmentsBytes:
		return tooLarge("the commitments", MaxCommitmentsBytes, len(r.Commitments))
	case len(r.Shares) > MaxAdmins:
		return bad("a group has at most %d admins; %d shares were sent", MaxAdmins, len(r.Shares))
	case r.Window < 0 || r.Window > int64(MaxWindow/time.Second):
		return bad("a window is 1 to %d seconds", int64(MaxWindow/time.Second))
	case len(r.Schedule) > MaxScheduleLen || !printable(r.Schedule):
		return bad("a schedule is at most %d printable characters", MaxScheduleLen)
	case len(r.Approval) > MaxApprovalBytes:
		return tooLarge("an approval", MaxApprovalBytes, len(r.Approval))
	case len(r.Name) > MaxNameLen || !printable(r.Name):
		return bad("a secret's name is at most %d printable characters", MaxNameLen)
	case len(r.Value) > MaxValueBytes:
		return tooLarge("a secret's value", MaxValueBytes, len(r.Value))
	case r.Release < 0 || r.Release > maxUnix:
		return bad("a release time is a Unix time from 1970 to 9999")
	case len(r.Change) > MaxChangeBytes:
		return tooLarge("a change", MaxChangeBytes, len(r.Change))
	case r.Role != "" && r.Role != RoleRead && r.Role != RoleWrite:
		return bad("a member's role is %q or %q", RoleRead, RoleWrite)
	case len(r.Label) > MaxLabelLen || !printable(r.Label):
		return bad("a label is at most %d printable characters", MaxLabelLen)
	case r.For < 0 || r.For > int64(MaxMembership/time.Second):
		return bad("a membership lasts at most %s", MaxMembership)
	case len(r.Token) > capability.MaxTokenBytes:
		return tooLarge("a token", capability.MaxTokenBytes, len(r.Token))
	}
	if len(r.Member) != 0 {
		if _, _, err := keys.ParsePeerID(r.Member); err != nil {
			return bad("the member is not a peer ID")
		}
	}
	for _, s := range r.Shares {
		if len(s) == 0 || len(s) > MaxSealedShareBytes {
			return bad("a sealed share is 1 to %d bytes", MaxSealedShareBytes)
		}
	}
	return nil
}

// MaxWindow is the longest window a group may keep as its default
// (group.MaxWindow).
const MaxWindow = 24 * time.Hour

// maxUnix is 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// CheckGroupName is the rule for a group's name (group's "Names and
// admins"): 1 to 64 bytes of a-z, 0-9 and "-", starting with a letter.
func CheckGroupName(name string) error {
	if len(name) == 0 || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return bad("a group's name is 1 to 64 characters of a-z, 0-9 and -, starting with a letter")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return bad("a group's name is 1 to 64 characters of a-z, 0-9 and -, starting with a letter")
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// (C0, DEL, C1), line or paragraph separators, or bidirectional controls:
// names and labels end up in audit records, which refuse them (a label
// must not forge a line or reorder the text an admin reads).
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, Unprintable)
}

// Unprintable reports whether c is a character no name, label or audit
// detail holds: a control (C0, DEL, C1), a line or paragraph separator,
// or a bidirectional control (package group's audit records refuse the
// same).
func Unprintable(c rune) bool {
	return unicode.IsControl(c) || unicode.In(c, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// check is an info body's rules (the client).
func (in *Info) check() error {
	if len(in.Commitments) == 0 || len(in.Commitments) > MaxCommitmentsBytes {
		return bad("the vault sent commitments of %d bytes", len(in.Commitments))
	}
	if (in.Height > 0) != (len(in.Head) == 32) || len(in.Head) != 0 && len(in.Head) != 32 {
		return bad("the vault sent a chain head of %d bytes at height %d", len(in.Head), in.Height)
	}
	if in.Window <= 0 || in.Window > int64(MaxWindow/time.Second) || in.Until < 0 || in.Until > maxUnix || (in.Until != 0) != in.Unlocked {
		return bad("the vault sent a malformed window")
	}
	if len(in.Approvers) > MaxAdmins || len(in.Pending) > MaxAdmins {
		return bad("the vault named more than %d admins", MaxAdmins)
	}
	for _, ids := range [][][]byte{in.Approvers, in.Pending} {
		for _, id := range ids {
			if _, _, err := keys.ParsePeerID(id); err != nil {
				return bad("the vault named an admin that is not a peer ID")
			}
		}
	}
	switch in.Role {
	case RoleAdmin, RoleRead, RoleWrite:
	default:
		return bad("the vault named an unknown role")
	}
	return nil
}

// Roles a peer may hold in a group (Info.Role).
const (
	RoleAdmin = "admin"
	RoleRead  = "read"
	RoleWrite = "write"
)

// IDs decodes a list of peer IDs that ParseReply checked.
func IDs(b [][]byte) []peer.ID {
	out := make([]peer.ID, 0, len(b))
	for _, id := range b {
		p, _, err := keys.ParsePeerID(id)
		if err == nil {
			out = append(out, p)
		}
	}
	return out
}

// check is an audit body's rules (the client): at most
// MaxAuditPage records of 1 to MaxRecordBytes bytes each.
func (p *AuditPage) check() error {
	if len(p.Records) > MaxAuditPage {
		return bad("the vault sent %d audit records; a page holds at most %d", len(p.Records), MaxAuditPage)
	}
	for _, r := range p.Records {
		if len(r) == 0 || len(r) > MaxRecordBytes {
			return bad("the vault sent an audit record of %d bytes", len(r))
		}
	}
	return nil
}

// check is a get body's rules (the client).
func (s *Secret) check() error {
	if len(s.Value) > MaxValueBytes || s.Release < 0 || s.Release > maxUnix {
		return bad("the vault sent a malformed secret")
	}
	return nil
}

// check is a list body's rules (the client).
func (l *List) check() error {
	if len(l.Names) > MaxListNames {
		return bad("the vault sent %d names; a page holds at most %d", len(l.Names), MaxListNames)
	}
	for _, n := range l.Names {
		if n == "" || len(n) > MaxNameLen || !printable(n) {
			return bad("the vault sent a malformed name")
		}
	}
	return nil
}

// check is a share body's rules (the client).
func (s *ShareReply) check() error {
	if len(s.Sealed) == 0 || len(s.Sealed) > MaxSealedShareBytes {
		return bad("the vault sent a sealed share of %d bytes", len(s.Sealed))
	}
	return nil
}

// reply is a reply body the client checks after decoding it.
type reply interface{ check() error }

// ParseReply decodes a reply body canonically into v and checks it (the
// client's decoder; fuzzed).
func ParseReply(b []byte, v reply) error {
	if err := wire.UnmarshalCanonical(b, v); err != nil {
		return err
	}
	return v.check()
}

// Change is a membership change's encoding (field 12): the new admins in
// share order, the new threshold and the new default window (0 keeps
// it). Its digest, which approvals sign, is group.Change.Digest.
type Change struct {
	Admins    [][]byte `cbor:"1,keyasint"`
	Threshold uint64   `cbor:"2,keyasint"`
	Window    int64    `cbor:"3,keyasint,omitempty"`
}

// ParseChange decodes a change canonically and checks its form: 1 to
// MaxAdmins peer IDs, a threshold, a window within MaxWindow.
func ParseChange(b []byte) (*Change, []peer.ID, error) {
	var c Change
	if err := wire.UnmarshalCanonical(b, &c); err != nil {
		return nil, nil, err
	}
	if len(c.Admins) < 2 || len(c.Admins) > MaxAdmins {
		return nil, nil, bad("a change names 2 to %d admins", MaxAdmins)
	}
	ids := make([]peer.ID, len(c.Admins))
	for i, raw := range c.Admins {
		id, _, err := keys.ParsePeerID(raw)
		if err != nil {
			return nil, nil, bad("a change names an admin that is not a peer ID")
		}
		ids[i] = id
	}
	if c.Threshold < 2 || c.Threshold > uint64(len(c.Admins)) || c.Window < 0 || c.Window > int64(MaxWindow/time.Second) {
		return nil, nil, bad("a change's threshold is 2 to its number of admins, and its window at most %s", MaxWindow)
	}
	return &c, ids, nil
}

// check is an invite body's rules (the client).
func (in *Invitation) check() error {
	if len(in.Token) == 0 || len(in.Token) > capability.MaxTokenBytes {
		return bad("the vault sent a token of %d bytes", len(in.Token))
	}
	return nil
}

// check is a members body's rules (the client).
func (m *Members) check() error {
	if len(m.Members) > MaxMembers {
		return bad("the vault listed %d members; a group holds at most %d", len(m.Members), MaxMembers)
	}
	for _, e := range m.Members {
		if _, _, err := keys.ParsePeerID(e.Peer); err != nil {
			return bad("the vault listed a member that is not a peer ID")
		}
		if e.Role != RoleRead && e.Role != RoleWrite || len(e.Label) > MaxLabelLen || !printable(e.Label) || e.Until < 0 {
			return bad("the vault listed a malformed member")
		}
	}
	return nil
}
