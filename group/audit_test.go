package group

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// next signs the record after prev (the first when prev is nil) in the
// log of group, a second after prev's time.
func next(t testing.TB, k *keys.PeerKey, group string, prev *Record, kind, detail string) *Record {
	t.Helper()
	r := Record{Group: group, Height: 1, Time: testkit.Epoch, Kind: kind, Detail: detail}
	if prev != nil {
		r.Height, r.Prev, r.Time = prev.Height+1, prev.Hash(), prev.Time.Add(time.Second)
	}
	signed, enc, err := SignRecord(k, r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, signed.Encode()) {
		t.Fatal("SignRecord's bytes are not the record's encoding")
	}
	return signed
}

// log signs n records of group.
func auditLog(t testing.TB, k *keys.PeerKey, group string, n int) []*Record {
	t.Helper()
	var out []*Record
	var prev *Record
	for i := range n {
		prev = next(t, k, group, prev, "unlock.open", fmt.Sprintf("record %d", i+1))
		out = append(out, prev)
	}
	return out
}

func TestARecordRoundTripsAndVerifies(t *testing.T) {
	vault := testkit.Key(t, "vault")
	admin := testkit.Key(t, "admin-0")
	r, enc, err := SignRecord(vault, Record{Group: "board", Height: 1, Time: testkit.Epoch.Add(1500 * time.Millisecond),
		Kind: "unlock.open", Actor: admin.ID(), Detail: "opened for 1h by 2 admins — ok"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Time.Equal(testkit.Epoch.Add(time.Second)) {
		t.Fatalf("the time was not cut to the second: %v", r.Time)
	}
	got, err := ParseRecord(enc)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *r || got.Hash() != r.Hash() || !bytes.Equal(got.Encode(), enc) {
		t.Fatalf("parsed %+v, signed %+v", got, r)
	}
	if err := got.Verify(vault.ID()); err != nil {
		t.Fatal(err)
	}
	if r.Hash() == next(t, vault, "board", nil, "unlock.open", "other").Hash() {
		t.Fatal("two records share a hash")
	}
	// The signature is GroupAuditMessage's.
	body, _ := r.payload()
	if !vault.Public().Verify(body, r.Sig[:]) || body.Label() != "ocmt-mesh/group-audit/v1" {
		t.Fatal("the signature is not over the audit label")
	}
}

func TestForgedAndForeignRecordsAreRefused(t *testing.T) {
	vault := testkit.Key(t, "vault")
	other := testkit.Key(t, "other-vault")
	recs := auditLog(t, vault, "board", 2)

	forged := *recs[1]
	forged.Detail = "nothing happened"
	err := forged.Verify(vault.ID())
	testkit.Sentence(t, "a changed record", err, "was not signed by its vault", ErrBadSignature)

	theirs := next(t, other, "board", nil, "unlock.open", "")
	err = theirs.Verify(vault.ID())
	testkit.Sentence(t, "another vault's record", err, "was not signed by its vault "+vault.ID().String(), ErrBadSignature)

	c := NewChain(vault.ID(), "board")
	if _, err := c.Add(theirs); !errors.Is(err, ErrBadSignature) || errors.Is(err, ErrFork) {
		t.Fatalf("a chain took another vault's record: %v", err)
	}
	if _, err := c.Add(recs[0]); err != nil {
		t.Fatal(err)
	}
	if o, err := c.Add(&forged); !errors.Is(err, ErrBadSignature) || o != 0 {
		t.Fatalf("a chain took a changed record: %v %v", o, err)
	}
	foreign := next(t, vault, "family", nil, "unlock.open", "")
	o, err := c.Add(foreign)
	testkit.Sentence(t, "a record of another group", err, `is of group "family", not "board"`, ErrChain)
	if o != 0 || errors.Is(err, ErrFork) {
		t.Fatalf("another group's record: %v %v", o, err)
	}
	if h, _ := c.Head(); h != 1 {
		t.Fatalf("the refusals moved the head to %d", h)
	}
}

func TestRecordRules(t *testing.T) {
	vault := testkit.Key(t, "vault")
	good := Record{Group: "board", Height: 1, Time: testkit.Epoch, Kind: "member.add"}
	long := strings.Repeat("x", MaxDetailLen+1)
	for _, c := range []struct {
		name string
		edit func(*Record)
		want string
	}{
		{"no height", func(r *Record) { r.Height = 0 }, "has no height"},
		{"a first record naming a previous one", func(r *Record) { r.Prev[0] = 1 }, "previous record's hash"},
		{"a later record naming none", func(r *Record) { r.Height = 2 }, "previous record's hash"},
		{"a bad group", func(r *Record) { r.Group = "Board" }, "names no valid group"},
		{"an empty kind", func(r *Record) { r.Kind = "" }, "has a kind"},
		{"a capital in the kind", func(r *Record) { r.Kind = "Unlock" }, "has a kind"},
		{"a leading dot", func(r *Record) { r.Kind = ".unlock" }, "has a kind"},
		{"two dots", func(r *Record) { r.Kind = "unlock..open" }, "has a kind"},
		{"a long kind", func(r *Record) { r.Kind = strings.Repeat("a", MaxKindLen+1) }, "has a kind"},
		{"a long detail", func(r *Record) { r.Detail = long }, "at most 512 bytes"},
		{"a newline in the detail", func(r *Record) { r.Detail = "a\nforged line" }, "control character"},
		{"an escape in the detail", func(r *Record) { r.Detail = "\x1b[2J" }, "control character"},
		{"a C1 control", func(r *Record) { r.Detail = "a\u0085b" }, "control character"},
		{"a line separator", func(r *Record) { r.Detail = "a\u2028b" }, "control character"},
		{"a right-to-left override", func(r *Record) { r.Detail = "txt.\u202eexe" }, "control character"},
		{"bytes that are not UTF-8", func(r *Record) { r.Detail = "\xff" }, "not text"},
		{"an actor that is no peer", func(r *Record) { r.Actor = "nobody" }, "not a peer ID"},
		{"a time before 1970", func(r *Record) { r.Time = time.Unix(-1, 0) }, "impossible time"},
		{"a time after 9999", func(r *Record) { r.Time = time.Unix(maxUnix+1, 0) }, "impossible time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good
			c.edit(&r)
			_, _, err := SignRecord(vault, r)
			testkit.Sentence(t, c.name, err, c.want, ErrMalformed)
		})
	}
	r := good
	r.Kind, r.Detail = strings.Repeat("a", MaxKindLen), strings.Repeat("é", MaxDetailLen/2)
	if _, _, err := SignRecord(vault, r); err != nil {
		t.Fatalf("the longest kind and detail: %v", err)
	}
}

func TestFollows(t *testing.T) {
	vault := testkit.Key(t, "vault")
	recs := auditLog(t, vault, "board", 3)
	if err := Follows(nil, recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := Follows(recs[0], recs[1]); err != nil {
		t.Fatal(err)
	}
	err := Follows(nil, recs[1])
	testkit.Sentence(t, "a second record as the first", err, "is not the first", ErrChain)
	err = Follows(recs[0], recs[2])
	testkit.Sentence(t, "a record skipping one", err, "does not come right after record 1", ErrChain)
	err = Follows(recs[1], recs[0])
	testkit.Sentence(t, "records in reverse", err, "does not come right after", ErrChain)
	err = Follows(next(t, vault, "family", nil, "a", ""), recs[1])
	testkit.Sentence(t, "records of two groups", err, "is of group", ErrChain)

	// Another record 2, then the record 3 after it does not follow ours.
	alt := next(t, vault, "board", recs[0], "unlock.open", "a rewritten history")
	err = Follows(recs[1], next(t, vault, "board", alt, "a", ""))
	var fe *ForkError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFork) || fe.Height != 2 || fe.Have != recs[1].Hash() || fe.Got != alt.Hash() {
		t.Fatalf("a record after another record 2: %v", err)
	}
	testkit.Sentence(t, "a fork", err, "two different records at height 2", ErrFork)

	back := Record{Group: "board", Height: 4, Prev: recs[2].Hash(), Time: recs[2].Time.Add(-time.Second), Kind: "a"}
	r, _, err := SignRecord(vault, back)
	if err != nil {
		t.Fatal(err)
	}
	err = Follows(recs[2], r)
	testkit.Sentence(t, "a record dated before its predecessor", err, "is dated before record 3", ErrChain)
	// The same second is fine.
	back.Time = recs[2].Time
	r, _, _ = SignRecord(vault, back)
	if err := Follows(recs[2], r); err != nil {
		t.Fatal(err)
	}
}

func TestAChainAppendsInOrderAndReportsGapsAndForks(t *testing.T) {
	vault := testkit.Key(t, "vault")
	recs := auditLog(t, vault, "board", 5)
	c := NewChain(vault.ID(), "board")
	if h, hash := c.Head(); h != 0 || hash != [32]byte{} {
		t.Fatal("a new chain has a head")
	}
	add := func(r *Record, want Outcome) {
		t.Helper()
		o, err := c.Add(r)
		if o != want || (want != Fork && err != nil) {
			t.Fatalf("record %d: %v %v, want %v", r.Height, o, err, want)
		}
	}
	// Reordered: 2 before 1 is a gap, not taken.
	add(recs[1], Gap)
	add(recs[0], Appended)
	add(recs[2], Gap)
	if h, hash := c.Head(); h != 1 || hash != recs[0].Hash() {
		t.Fatalf("the gap moved the head to %d", h)
	}
	add(recs[1], Appended)
	add(recs[2], Appended)
	add(recs[0], Known)
	add(recs[2], Known)

	// A fork at one height: another record 3, signed by the vault.
	alt := next(t, vault, "board", recs[1], "unlock.open", "a rewritten history")
	o, err := c.Add(alt)
	var fe *ForkError
	if o != Fork || !errors.As(err, &fe) || fe.Height != 3 || fe.Have != recs[2].Hash() || fe.Got != alt.Hash() {
		t.Fatalf("another record 3: %v %v", o, err)
	}
	testkit.Sentence(t, "a fork at height 3", err, "two different records at height 3", ErrFork)
	// A record 4 that follows the other record 3.
	o, err = c.Add(next(t, vault, "board", alt, "a", ""))
	if o != Fork || !errors.As(err, &fe) || fe.Height != 3 || fe.Got != alt.Hash() {
		t.Fatalf("a record after another record 3: %v %v", o, err)
	}
	if h, _ := c.Head(); h != 3 {
		t.Fatalf("a fork moved the head to %d", h)
	}
	add(recs[3], Appended)

	// A next record dated before the head.
	r, _, err := SignRecord(vault, Record{Group: "board", Height: 5, Prev: recs[3].Hash(), Time: recs[3].Time.Add(-time.Hour), Kind: "a"})
	if err != nil {
		t.Fatal(err)
	}
	o, err = c.Add(r)
	testkit.Sentence(t, "a record going back in time", err, "is dated before record 4", ErrChain)
	if o != 0 {
		t.Fatalf("outcome %v", o)
	}
	add(recs[4], Appended)

	// Resumed from the stored head: the next one appends, the older are
	// the caller's.
	c2 := NewChain(vault.ID(), "board")
	c2.Resume(recs[3])
	if h, hash := c2.Head(); h != 4 || hash != recs[3].Hash() {
		t.Fatal("Resume did not restore the head")
	}
	for _, w := range []struct {
		r *Record
		o Outcome
	}{{recs[3], Known}, {recs[1], Old}, {recs[4], Appended}} {
		if o, err := c2.Add(w.r); o != w.o || err != nil {
			t.Fatalf("after Resume, record %d: %v %v, want %v", w.r.Height, o, err, w.o)
		}
	}
	c2.Resume(nil)
	if h, _ := c2.Head(); h != 0 {
		t.Fatal("Resume(nil) did not empty the chain")
	}
}

func TestAChainRemembersTheLastMaxChainMemoryHeights(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 4100 records")
	}
	vault := testkit.Key(t, "vault")
	c := NewChain(vault.ID(), "board")
	var first, prev *Record
	for range MaxChainMemory + 4 {
		prev = next(t, vault, "board", prev, "a", "")
		if first == nil {
			first = prev
		}
		if o, err := c.Add(prev); o != Appended || err != nil {
			t.Fatalf("record %d: %v %v", prev.Height, o, err)
		}
	}
	if len(c.hashes) != MaxChainMemory {
		t.Fatalf("the chain holds %d hashes", len(c.hashes))
	}
	if o, err := c.Add(first); o != Old || err != nil {
		t.Fatalf("a record below the memory: %v %v", o, err)
	}
}

func TestAForkErrorWithoutAGroupIsStillASentence(t *testing.T) {
	err := error(&ForkError{Height: 7, Have: [32]byte{1}, Got: [32]byte{2}})
	testkit.Sentence(t, "a fork error built by a caller", err, "the audit log forked: the vault showed two different records at height 7", ErrFork)
}

func TestOutcomesPrint(t *testing.T) {
	for o, want := range map[Outcome]string{Appended: "appended", Known: "known", Gap: "gap", Fork: "fork", Old: "old", 0: "outcome(0)"} {
		if o.String() != want {
			t.Errorf("%d prints %q", int(o), o.String())
		}
	}
}
