package groupwire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// peerBytes is a valid peer ID on the wire, derived from a name.
func peerBytes(t testing.TB, name string) []byte {
	t.Helper()
	return []byte(testkit.Key(t, name).ID())
}

// setField gives field i (0 = key 3 … 14 = key 17) a valid value.
func setField(t testing.TB, r *Request, i int) {
	t.Helper()
	switch i {
	case 0:
		r.Commitments = []byte{0xa1, 0x01, 0x01}
	case 1:
		r.Shares = [][]byte{{1, 2, 3}, {4, 5, 6}}
	case 2:
		r.Window = 3600
	case 3:
		r.Schedule = "mon-fri 09:00-17:00"
	case 4:
		r.Approval = []byte{0xa1, 0x01, 0x02}
	case 5:
		r.Name = "wifi/home"
	case 6:
		r.Value = []byte("correct horse")
	case 7:
		r.Release = testkit.Epoch.Unix()
	case 8:
		r.From = 7
	case 9:
		r.Change = []byte{0xa1, 0x01, 0x03}
	case 10:
		r.Member = peerBytes(t, "member")
	case 11:
		r.Role = RoleWrite
	case 12:
		r.Label = "bob"
	case 13:
		r.For = 86400
	case 14:
		r.Token = []byte{0xa1, 0x01, 0x04}
	default:
		t.Fatalf("no field %d", i)
	}
}

// request is a request for op with the fields of its row that are in
// letters (R, O or both) set to valid values.
func request(t testing.TB, op Op, letters string) Request {
	t.Helper()
	r := Request{Op: op, Group: "family"}
	for i, c := range fieldTable[op] {
		if c != 0 && strings.IndexByte(letters, c) >= 0 {
			setField(t, &r, i)
		}
	}
	return r
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refusedWith checks err is a *wire.Error of status st whose message says
// each of want.
func refusedWith(t testing.TB, what string, err error, st wire.Status, want ...string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Errorf("%s: %v, want a %s refusal", what, err, st.Name())
		return
	}
	if we.Status != st {
		t.Errorf("%s: %s (%q), want %s", what, we.Status.Name(), we.Message, st.Name())
	}
	for _, w := range want {
		if !strings.Contains(we.Message, w) {
			t.Errorf("%s: the message %q does not say %q", what, we.Message, w)
		}
	}
}

func TestFieldTableEveryOpEveryField(t *testing.T) {
	for op := range fieldTable {
		t.Run(op.String(), func(t *testing.T) {
			for _, letters := range []string{"R", "RO"} {
				r := request(t, op, letters)
				got, err := ParseRequest(encode(t, r))
				if err != nil {
					t.Fatalf("a %s with its %s fields is refused: %v", op, letters, err)
				}
				if !bytes.Equal(encode(t, got), encode(t, r)) {
					t.Fatalf("a %s does not parse to what was sent", op)
				}
			}
			for i, c := range fieldTable[op] {
				r := request(t, op, "R")
				switch c {
				case 'R':
					clearField(&r, i)
					_, err := ParseRequest(encode(t, r))
					refusedWith(t, op.String()+" without "+fieldNames[i], err, wire.BadRequest,
						"a "+op.String()+" request needs a "+fieldNames[i])
				case 'O':
					setField(t, &r, i)
					if _, err := ParseRequest(encode(t, r)); err != nil {
						t.Errorf("a %s with a %s is refused: %v", op, fieldNames[i], err)
					}
				default:
					setField(t, &r, i)
					_, err := ParseRequest(encode(t, r))
					refusedWith(t, op.String()+" with "+fieldNames[i], err, wire.BadRequest,
						"a "+op.String()+" request takes no "+fieldNames[i])
				}
			}
		})
	}
}

// clearField removes field i.
func clearField(r *Request, i int) {
	switch i {
	case 0:
		r.Commitments = nil
	case 1:
		r.Shares = nil
	case 2:
		r.Window = 0
	case 3:
		r.Schedule = ""
	case 4:
		r.Approval = nil
	case 5:
		r.Name = ""
	case 6:
		r.Value = nil
	case 7:
		r.Release = 0
	case 8:
		r.From = 0
	case 9:
		r.Change = nil
	case 10:
		r.Member = nil
	case 11:
		r.Role = ""
	case 12:
		r.Label = ""
	case 13:
		r.For = 0
	case 14:
		r.Token = nil
	}
}

func TestUnknownOpsAndMalformedRequests(t *testing.T) {
	for _, c := range []struct {
		name string
		raw  any
		want string
	}{
		{"op 0", map[uint64]any{1: 0, 2: "family"}, "unknown op 0"},
		{"op 17", map[uint64]any{1: 17, 2: "family"}, "unknown op 17"},
		{"op 255", map[uint64]any{1: 255, 2: "family"}, "unknown op 255"},
		{"op 256 does not fit uint8", map[uint64]any{1: 256, 2: "family"}, ""},
		{"an unknown key", map[uint64]any{1: 2, 2: "family", 18: 1}, ""},
		{"no group", map[uint64]any{1: 2}, ""},
		{"a group as bytes", map[uint64]any{1: 2, 2: []byte("family")}, ""},
		{"an explicit zero window", map[uint64]any{1: 1, 2: "family", 3: []byte{1}, 4: [][]byte{{1}}, 5: 0}, ""},
		{"an explicit empty token", map[uint64]any{1: 2, 2: "family", 17: []byte{}}, ""},
		{"a negative from", map[uint64]any{1: 10, 2: "family", 11: -1}, ""},
		{"not a map", []int{1, 2}, ""},
	} {
		_, err := ParseRequest(encode(t, c.raw))
		if c.want != "" {
			refusedWith(t, c.name, err, wire.BadRequest, c.want)
		} else {
			refusedWith(t, c.name, err, wire.BadRequest)
		}
	}
	good := encode(t, request(t, OpInfo, "R"))
	for _, b := range [][]byte{nil, {0xff}, good[:len(good)-1], append(append([]byte{}, good...), 0)} {
		_, err := ParseRequest(b)
		refusedWith(t, "bytes that are not one request", err, wire.BadRequest)
	}
}

func TestFieldRulesAndTheirStatus(t *testing.T) {
	smallOrder := append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, make([]byte, 32)...)
	ok := wire.OK
	for _, c := range []struct {
		name string
		op   Op
		edit func(*Request)
		st   wire.Status
		want string
	}{
		{"commitments at their cap", OpCreate, func(r *Request) { r.Commitments = make([]byte, MaxCommitmentsBytes) }, ok, ""},
		{"commitments over their cap", OpCreate, func(r *Request) { r.Commitments = make([]byte, MaxCommitmentsBytes+1) }, wire.TooLarge, fmt.Sprintf("at most %d bytes; these are %d", MaxCommitmentsBytes, MaxCommitmentsBytes+1)},
		{"MaxAdmins shares", OpCreate, func(r *Request) { r.Shares = make([][]byte, MaxAdmins); fill(r.Shares) }, ok, ""},
		{"a share too many", OpCreate, func(r *Request) { r.Shares = make([][]byte, MaxAdmins+1); fill(r.Shares) }, wire.BadRequest, fmt.Sprintf("at most %d admins", MaxAdmins)},
		{"an empty share", OpCreate, func(r *Request) { r.Shares = [][]byte{{1}, {}} }, wire.BadRequest, fmt.Sprintf("a sealed share is 1 to %d bytes", MaxSealedShareBytes)},
		{"a share at its cap", OpCreate, func(r *Request) { r.Shares = [][]byte{make([]byte, MaxSealedShareBytes)} }, ok, ""},
		{"a share over its cap", OpCreate, func(r *Request) { r.Shares = [][]byte{make([]byte, MaxSealedShareBytes+1)} }, wire.BadRequest, fmt.Sprintf("a sealed share is 1 to %d bytes", MaxSealedShareBytes)},
		{"the longest window", OpCreate, func(r *Request) { r.Window = 86400 }, ok, ""},
		{"a window too long", OpCreate, func(r *Request) { r.Window = 86401 }, wire.BadRequest, fmt.Sprintf("a window is 1 to %d seconds", int64(MaxWindow.Seconds()))},
		{"a negative window", OpCreate, func(r *Request) { r.Window = -1 }, wire.BadRequest, "a window"},
		{"a schedule at its cap", OpCreate, func(r *Request) { r.Schedule = strings.Repeat("x", MaxScheduleLen) }, ok, ""},
		{"a schedule over its cap", OpCreate, func(r *Request) { r.Schedule = strings.Repeat("x", MaxScheduleLen+1) }, wire.BadRequest, fmt.Sprintf("a schedule is at most %d", MaxScheduleLen)},
		{"a schedule with a tab", OpCreate, func(r *Request) { r.Schedule = "mon\t09:00-17:00" }, wire.BadRequest, "printable"},
		{"a schedule with DEL", OpCreate, func(r *Request) { r.Schedule = "mon\x7f" }, wire.BadRequest, "printable"},
		{"an approval at its cap", OpApprove, func(r *Request) { r.Approval = make([]byte, MaxApprovalBytes) }, ok, ""},
		{"an approval over its cap", OpApprove, func(r *Request) { r.Approval = make([]byte, MaxApprovalBytes+1) }, wire.TooLarge, fmt.Sprintf("an approval may be at most %d bytes", MaxApprovalBytes)},
		{"a name at its cap", OpGet, func(r *Request) { r.Name = strings.Repeat("n", MaxNameLen) }, ok, ""},
		{"a name over its cap", OpGet, func(r *Request) { r.Name = strings.Repeat("n", MaxNameLen+1) }, wire.BadRequest, fmt.Sprintf("a secret's name is at most %d", MaxNameLen)},
		{"a name with a newline", OpGet, func(r *Request) { r.Name = "a\nb" }, wire.BadRequest, "printable"},
		{"a value at its cap", OpPut, func(r *Request) { r.Value = make([]byte, MaxValueBytes) }, ok, ""},
		{"a value over its cap", OpPut, func(r *Request) { r.Value = make([]byte, MaxValueBytes+1) }, wire.TooLarge, fmt.Sprintf("a secret's value may be at most %d bytes", MaxValueBytes)},
		{"the last release time", OpPut, func(r *Request) { r.Release = maxUnix }, ok, ""},
		{"a release after 9999", OpPut, func(r *Request) { r.Release = maxUnix + 1 }, wire.BadRequest, "a release time"},
		{"a release before 1970", OpPut, func(r *Request) { r.Release = -1 }, wire.BadRequest, "a release time"},
		{"the highest from", OpAudit, func(r *Request) { r.From = 1<<64 - 1 }, ok, ""},
		{"a change at its cap", OpChange, func(r *Request) { r.Change = make([]byte, MaxChangeBytes) }, ok, ""},
		{"a change over its cap", OpChange, func(r *Request) { r.Change = make([]byte, MaxChangeBytes+1) }, wire.TooLarge, fmt.Sprintf("a change may be at most %d bytes", MaxChangeBytes)},
		{"a member that is not a peer ID", OpInvite, func(r *Request) { r.Member = []byte("bob") }, wire.BadRequest, "the member is not a peer ID"},
		{"a member of small order", OpExpel, func(r *Request) { r.Member = smallOrder }, wire.BadRequest, "the member is not a peer ID"},
		{"a read role", OpInvite, func(r *Request) { r.Role = RoleRead }, ok, ""},
		{"an admin role", OpInvite, func(r *Request) { r.Role = RoleAdmin }, wire.BadRequest, `a member's role is "read" or "write"`},
		{"a role in capitals", OpInvite, func(r *Request) { r.Role = "Read" }, wire.BadRequest, "a member's role"},
		{"a label at its cap", OpInvite, func(r *Request) { r.Label = strings.Repeat("l", MaxLabelLen) }, ok, ""},
		{"a label over its cap", OpInvite, func(r *Request) { r.Label = strings.Repeat("l", MaxLabelLen+1) }, wire.BadRequest, fmt.Sprintf("a label is at most %d", MaxLabelLen)},
		{"a label with a control character", OpInvite, func(r *Request) { r.Label = "bob\x00" }, wire.BadRequest, "printable"},
		{"the longest membership", OpInvite, func(r *Request) { r.For = int64(MaxMembership.Seconds()) }, ok, ""},
		{"a membership too long", OpInvite, func(r *Request) { r.For = int64(MaxMembership.Seconds()) + 1 }, wire.BadRequest, "a membership lasts at most"},
		{"a negative membership", OpInvite, func(r *Request) { r.For = -1 }, wire.BadRequest, "a membership lasts at most"},
		{"a token at its cap", OpAccept, func(r *Request) { r.Token = make([]byte, capability.MaxTokenBytes) }, ok, ""},
		{"a token over its cap", OpGet, func(r *Request) { r.Token = make([]byte, capability.MaxTokenBytes+1) }, wire.TooLarge, fmt.Sprintf("a token may be at most %d bytes", capability.MaxTokenBytes)},
		// The order of the checks: key order, member after key 17, each
		// share's size last.
		{"a name too long and a value too large", OpPut, func(r *Request) {
			r.Name, r.Value = strings.Repeat("n", MaxNameLen+1), make([]byte, MaxValueBytes+1)
		}, wire.BadRequest, "a secret's name"},
		{"commitments too large and a share too many", OpCreate, func(r *Request) {
			r.Commitments, r.Shares = make([]byte, MaxCommitmentsBytes+1), make([][]byte, MaxAdmins+1)
		}, wire.TooLarge, "commitments"},
		{"a bad member and a label too long", OpInvite, func(r *Request) {
			r.Member, r.Label = []byte("bob"), strings.Repeat("l", MaxLabelLen+1)
		}, wire.BadRequest, "a label"},
		{"an empty share and a window too long", OpCreate, func(r *Request) {
			r.Shares, r.Window = [][]byte{{}}, 86401
		}, wire.BadRequest, "a window"},
	} {
		r := request(t, c.op, "R")
		c.edit(&r)
		got, err := ParseRequest(encode(t, r))
		if c.st == wire.OK {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			} else if !bytes.Equal(encode(t, got), encode(t, r)) {
				t.Errorf("%s: does not parse to what was sent", c.name)
			}
			continue
		}
		refusedWith(t, c.name, err, c.st, c.want)
	}
}

func fill(shares [][]byte) {
	for i := range shares {
		shares[i] = []byte{byte(i + 1)}
	}
}

func TestCheckGroupName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"family", true}, {"team-2026", true}, {"a-", true}, {"a--b", true},
		{strings.Repeat("g", 64), true}, {strings.Repeat("g", 65), false},
		{"", false}, {"1team", false}, {"-team", false}, {"Family", false}, {"fam_ily", false},
		{"fam ily", false}, {"fam.ily", false}, {"famíly", false}, {"team\x00", false}, {"team/x", false},
	} {
		err := CheckGroupName(c.name)
		if c.ok {
			if err != nil {
				t.Errorf("%q: %v", c.name, err)
			}
			continue
		}
		refusedWith(t, "the name "+c.name, err, wire.BadRequest, "a group's name is 1 to 64 characters of a-z, 0-9 and -, starting with a letter")
		r := request(t, OpInfo, "R")
		r.Group = c.name
		_, err = ParseRequest(encode(t, r))
		refusedWith(t, "a request for "+c.name, err, wire.BadRequest, "a group's name")
	}
}

// The group's name is checked before the fields per op.
func TestGroupNameBeforeFields(t *testing.T) {
	r := request(t, OpPut, "R")
	r.Group, r.Value = "Bad", nil
	_, err := ParseRequest(encode(t, r))
	refusedWith(t, "a bad name and no value", err, wire.BadRequest, "a group's name")
	r = Request{Op: 99, Group: "Bad"}
	_, err = ParseRequest(encode(t, r))
	refusedWith(t, "an unknown op and a bad name", err, wire.BadRequest, "unknown op 99")
}

func TestOpNames(t *testing.T) {
	for op := range fieldTable {
		if op.String() == "unknown" {
			t.Errorf("op %d has no name", op)
		}
	}
	if Op(0).String() != "unknown" || Op(17).String() != "unknown" || Op(255).String() != "unknown" {
		t.Error("an unknown op has a name")
	}
}

func TestParseChange(t *testing.T) {
	a, b := peerBytes(t, "admin a"), peerBytes(t, "admin b")
	many := make([][]byte, MaxAdmins+1)
	for i := range many {
		many[i] = peerBytes(t, string(rune('a'+i)))
	}
	for _, c := range []struct {
		name string
		ch   any
		ok   bool
	}{
		{"two admins, two to unlock", Change{Admins: [][]byte{a, b}, Threshold: 2}, true},
		{"with a window", Change{Admins: [][]byte{a, b}, Threshold: 2, Window: 86400}, true},
		{"MaxAdmins admins", Change{Admins: many[:MaxAdmins], Threshold: MaxAdmins}, true},
		{"no admins", Change{Admins: [][]byte{}, Threshold: 1}, false},
		{"too many admins", Change{Admins: many, Threshold: 2}, false},
		{"an admin that is not a peer ID", Change{Admins: [][]byte{a, []byte("b")}, Threshold: 2}, false},
		{"threshold 0", Change{Admins: [][]byte{a, b}, Threshold: 0}, false},
		{"threshold over MaxAdmins", Change{Admins: [][]byte{a, b}, Threshold: MaxAdmins + 1}, false},
		{"a negative window", Change{Admins: [][]byte{a, b}, Threshold: 2, Window: -1}, false},
		{"a window too long", Change{Admins: [][]byte{a, b}, Threshold: 2, Window: 86401}, false},
		{"an explicit zero window", map[uint64]any{1: [][]byte{a, b}, 2: 2, 3: 0}, false},
		{"an unknown key", map[uint64]any{1: [][]byte{a, b}, 2: 2, 4: 1}, false},
		{"no threshold", map[uint64]any{1: [][]byte{a, b}}, false},
	} {
		raw := encode(t, c.ch)
		got, ids, err := ParseChange(raw)
		if !c.ok {
			refusedWith(t, c.name, err, wire.BadRequest)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(ids) != len(got.Admins) || string(ids[0]) != string(got.Admins[0]) {
			t.Errorf("%s: the IDs are not the admins", c.name)
		}
		if !bytes.Equal(encode(t, got), raw) {
			t.Errorf("%s: does not parse to what was sent", c.name)
		}
	}
}
