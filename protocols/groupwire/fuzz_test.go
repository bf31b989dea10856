package groupwire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzParseRequest: the server's decoder either refuses with BadRequest
// or TooLarge, or gives a request that re-encodes to the same bytes and
// keeps its op's row of the field table.
func FuzzParseRequest(f *testing.F) {
	for op := range fieldTable {
		for _, letters := range []string{"R", "RO"} {
			f.Add(encode(f, request(f, op, letters)))
		}
	}
	f.Add(encode(f, map[uint64]any{1: 17, 2: "family"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			if !errors.Is(err, wire.BadRequest) && !errors.Is(err, wire.TooLarge) {
				t.Fatalf("refusal %v is neither BadRequest nor TooLarge", err)
			}
			return
		}
		again, err := wire.Marshal(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed request does not encode back: %v", err)
		}
		if CheckGroupName(r.Group) != nil {
			t.Fatalf("a request for group %q parsed", r.Group)
		}
		row := fieldTable[r.Op]
		for i := range row {
			probe := *r
			clearField(&probe, i)
			present := !bytes.Equal(encode(t, probe), b)
			if row[i] == 'R' && !present || row[i] == 0 && present {
				t.Fatalf("a %s parsed with field %s present=%v", r.Op, fieldNames[i], present)
			}
		}
		if len(r.Value) > MaxValueBytes || len(r.Token) > capability.MaxTokenBytes || len(r.Shares) > MaxAdmins {
			t.Fatal("a request over a cap parsed")
		}
	})
}

// fuzzReply fuzzes ParseReply into a fresh T: it refuses with BadRequest,
// or the body re-encodes to the same bytes.
func fuzzReply[T any, P interface {
	*T
	reply
}](f *testing.F, seeds ...any) {
	for _, s := range seeds {
		f.Add(encode(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := P(new(T))
		if err := ParseReply(b, v); err != nil {
			if !errors.Is(err, wire.BadRequest) {
				t.Fatalf("refusal %v is not BadRequest", err)
			}
			return
		}
		if again, err := wire.Marshal(v); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed reply does not encode back: %v", err)
		}
		if err := v.check(); err != nil {
			t.Fatalf("a parsed reply breaks its rules: %v", err)
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	fuzzReply[Info](f, validInfo(f), Info{Commitments: []byte{1}, Role: RoleRead},
		map[uint64]any{1: []byte{1}, 2: 0, 8: 0, 10: "owner"})
}

func FuzzParseShareReply(f *testing.F) {
	fuzzReply[ShareReply](f, ShareReply{Sealed: []byte{1, 2, 3}}, ShareReply{Sealed: make([]byte, MaxSealedShareBytes)})
}

func FuzzParseSecret(f *testing.F) {
	fuzzReply[Secret](f, Secret{Value: []byte("v")}, Secret{Value: []byte{}, Release: maxUnix})
}

func FuzzParseList(f *testing.F) {
	fuzzReply[List](f, List{Names: []string{"a", "b/c"}}, List{Names: []string{}})
}

func FuzzParseAuditPage(f *testing.F) {
	fuzzReply[AuditPage](f, AuditPage{Records: [][]byte{{1}, {2}}, More: true}, AuditPage{Records: [][]byte{}})
}

func FuzzParseInvitation(f *testing.F) {
	fuzzReply[Invitation](f, Invitation{Token: []byte{1, 2}}, Invitation{Token: make([]byte, capability.MaxTokenBytes)})
}

func FuzzParseMembers(f *testing.F) {
	fuzzReply[Members](f, validMembers(f), Members{Members: []Member{}})
}

// FuzzParseChange: a change either is refused with BadRequest or
// re-encodes to the same bytes, with one peer ID per admin.
func FuzzParseChange(f *testing.F) {
	a, b := peerBytes(f, "admin a"), peerBytes(f, "admin b")
	for _, c := range []Change{{Admins: [][]byte{a, b}, Threshold: 2}, {Admins: [][]byte{a}, Threshold: 1, Window: 3600}} {
		f.Add(encode(f, c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, ids, err := ParseChange(raw)
		if err != nil {
			if !errors.Is(err, wire.BadRequest) {
				t.Fatalf("refusal %v is not BadRequest", err)
			}
			return
		}
		if again, err := wire.Marshal(c); err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("a parsed change does not encode back: %v", err)
		}
		if len(ids) != len(c.Admins) || len(ids) == 0 || len(ids) > MaxAdmins || c.Threshold == 0 || c.Threshold > MaxAdmins {
			t.Fatalf("a change that breaks its rules parsed: %+v", c)
		}
		for i, id := range ids {
			if string(id) != string(c.Admins[i]) {
				t.Fatalf("admin %d is not its peer ID", i)
			}
		}
	})
}

func validInfo(t testing.TB) Info {
	return Info{Commitments: []byte{0xa1, 1, 1}, Window: 3600, Schedule: "mon-fri 09:00-17:00", Unlocked: true,
		Until: 1 << 31, Approvers: [][]byte{peerBytes(t, "a"), peerBytes(t, "b")}, Pending: [][]byte{peerBytes(t, "c")},
		Height: 12, Head: make([]byte, 32), Role: RoleAdmin, Secrets: 3}
}

func validMembers(t testing.TB) Members {
	return Members{Members: []Member{
		{Peer: peerBytes(t, "m1"), Role: RoleRead, Until: 1 << 31},
		{Peer: peerBytes(t, "m2"), Role: RoleWrite, Pending: true, Label: "bob", Until: 0},
	}}
}

// Each reply's client-side rules, one case each.
func TestParseReplyRules(t *testing.T) {
	id := peerBytes(t, "someone")
	long := strings.Repeat("n", MaxNameLen+1)
	info := func(edit func(*Info)) any { in := validInfo(t); edit(&in); return in }
	members := func(edit func(*Member)) any { m := validMembers(t); edit(&m.Members[0]); return m }
	many := func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = make([]byte, size)
			out[i][0] = 1
		}
		return out
	}
	for _, c := range []struct {
		name string
		body any
		into func() reply
		ok   bool
	}{
		{"an info", validInfo(t), func() reply { return new(Info) }, true},
		{"an info without commitments", info(func(in *Info) { in.Commitments = []byte{} }), func() reply { return new(Info) }, false},
		{"an info with commitments too long", info(func(in *Info) { in.Commitments = make([]byte, MaxCommitmentsBytes+1) }), func() reply { return new(Info) }, false},
		{"an info with a short head", info(func(in *Info) { in.Head = make([]byte, 31) }), func() reply { return new(Info) }, false},
		{"an info naming too many approvers", info(func(in *Info) { in.Approvers = many(MaxAdmins+1, 1) }), func() reply { return new(Info) }, false},
		{"an info naming an approver that is no peer", info(func(in *Info) { in.Approvers = [][]byte{[]byte("x")} }), func() reply { return new(Info) }, false},
		{"an info naming a pending admin that is no peer", info(func(in *Info) { in.Pending = [][]byte{id[:37]} }), func() reply { return new(Info) }, false},
		{"an info with an unknown role", info(func(in *Info) { in.Role = "owner" }), func() reply { return new(Info) }, false},
		{"an info without role", map[uint64]any{1: []byte{1}, 2: 0, 8: 0}, func() reply { return new(Info) }, false},
		{"a share", ShareReply{Sealed: []byte{1}}, func() reply { return new(ShareReply) }, true},
		{"an empty share", ShareReply{Sealed: []byte{}}, func() reply { return new(ShareReply) }, false},
		{"a share too long", ShareReply{Sealed: make([]byte, MaxSealedShareBytes+1)}, func() reply { return new(ShareReply) }, false},
		{"a secret at its cap", Secret{Value: make([]byte, MaxValueBytes), Release: maxUnix}, func() reply { return new(Secret) }, true},
		{"a secret too long", Secret{Value: make([]byte, MaxValueBytes+1)}, func() reply { return new(Secret) }, false},
		{"a secret released before 1970", Secret{Value: []byte{1}, Release: -1}, func() reply { return new(Secret) }, false},
		{"a secret released after 9999", Secret{Value: []byte{1}, Release: maxUnix + 1}, func() reply { return new(Secret) }, false},
		{"a full list", List{Names: strings.Fields(strings.Repeat("n ", MaxListNames))}, func() reply { return new(List) }, true},
		{"a list too long", List{Names: strings.Fields(strings.Repeat("n ", MaxListNames+1))}, func() reply { return new(List) }, false},
		{"a list with an empty name", List{Names: []string{""}}, func() reply { return new(List) }, false},
		{"a list with a name too long", List{Names: []string{long}}, func() reply { return new(List) }, false},
		{"a list with a control character", List{Names: []string{"a\x1b[2J"}}, func() reply { return new(List) }, false},
		{"a full audit page", AuditPage{Records: many(MaxAuditPage, MaxRecordBytes)}, func() reply { return new(AuditPage) }, true},
		{"an audit page too long", AuditPage{Records: many(MaxAuditPage+1, 1)}, func() reply { return new(AuditPage) }, false},
		{"an audit page with an empty record", AuditPage{Records: [][]byte{{}}}, func() reply { return new(AuditPage) }, false},
		{"an audit page with a record too long", AuditPage{Records: many(1, MaxRecordBytes+1)}, func() reply { return new(AuditPage) }, false},
		{"an invitation", Invitation{Token: make([]byte, capability.MaxTokenBytes)}, func() reply { return new(Invitation) }, true},
		{"an invitation without token", Invitation{Token: []byte{}}, func() reply { return new(Invitation) }, false},
		{"an invitation with a token too long", Invitation{Token: make([]byte, capability.MaxTokenBytes+1)}, func() reply { return new(Invitation) }, false},
		{"members", validMembers(t), func() reply { return new(Members) }, true},
		{"a member that is no peer", members(func(m *Member) { m.Peer = []byte("bob") }), func() reply { return new(Members) }, false},
		{"an admin among the members", members(func(m *Member) { m.Role = RoleAdmin }), func() reply { return new(Members) }, false},
		{"a member's label too long", members(func(m *Member) { m.Label = strings.Repeat("l", MaxLabelLen+1) }), func() reply { return new(Members) }, false},
		{"a member's label with a newline", members(func(m *Member) { m.Label = "a\nb" }), func() reply { return new(Members) }, false},
		{"a member until before 1970", members(func(m *Member) { m.Until = -1 }), func() reply { return new(Members) }, false},
		{"a non-canonical body", []byte{0xa1, 0x01, 0x18, 0x01}, func() reply { return new(ShareReply) }, false},
	} {
		b := encode(t, c.body)
		if raw, isRaw := c.body.([]byte); isRaw {
			b = raw
		}
		err := ParseReply(b, c.into())
		if c.ok {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		refusedWith(t, c.name, err, wire.BadRequest)
	}
	tooMany := Members{Members: make([]Member, MaxMembers+1)}
	for i := range tooMany.Members {
		tooMany.Members[i] = Member{Peer: id, Role: RoleRead}
	}
	refusedWith(t, "too many members", ParseReply(encode(t, tooMany), new(Members)), wire.BadRequest, fmt.Sprintf("at most %d", MaxMembers))
}
