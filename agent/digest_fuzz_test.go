package agent

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/vault"
)

// FuzzParseDetail: a detail either is refused with ErrCorrupt or parses
// to fields and words that, written again (fields in any order), parse
// back to the same.
func FuzzParseDetail(f *testing.F) {
	from := time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC)
	for _, e := range []vault.AuditEntry{
		CallsEntry("helper", 42, 0, from, from.Add(time.Hour-time.Second)),
		RefusedEntry("helper", ReasonCeiling, capability.Delete, "calendar/x", 1, `agent "helper" may not delete: its ceiling allows read,list only`),
		LockEntry("helper", Lock{Locked: true, Auto: true, At: from, Reason: "620 calls in the last hour"}, ""),
		UnlockEntry("helper", "owner"),
		AddEntry(auditPolicy(f), "owner"),
		RemoveEntry("helper", 3, "owner"),
		ApprovalEntry(OpApprovalAsk, auditApproval("0123456789abcdef", share), Actor("helper")),
		SecretUseEntry("helper", "secrets/embeddings", "api.example", 0),
	} {
		f.Add(e.Detail)
	}
	f.Add("agent=helper to= eq=a=b: share x: read:  ")
	f.Add("a=b:: c")
	f.Add("a=b: c=d")
	f.Fuzz(func(t *testing.T, detail string) {
		fs, words, err := ParseDetail(detail)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("refusal %v is not ErrCorrupt", err)
			}
			return
		}
		if len(detail) > vault.MaxAuditRecordSize || len(fs) == 0 {
			t.Fatalf("a detail of %d bytes and %d fields parsed", len(detail), len(fs))
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(fs)) {
			parts = append(parts, k+"="+fs[k])
		}
		again := strings.Join(parts, " ")
		if words != "" {
			again += ": " + words
		}
		fs2, words2, err := ParseDetail(again)
		if err != nil || !maps.Equal(fs, fs2) || words2 != words {
			t.Fatalf("%q parsed to %v %q, written again as %q: %v %q %v", detail, fs, words, again, fs2, words2, err)
		}
	})
}

// FuzzParseWeek: ParseWeek never panics, refuses with ErrBadWeek, and a
// week it accepts is written back to the same text, starts on a Monday
// and is the week of its own days.
func FuzzParseWeek(f *testing.F) {
	for _, s := range []string{"2026-W48", "2026-W53", "2027-W01", "2025-W53", "0001-W01", "9999-W52", "2026-W00", "", "2026-w48", "+026-W48"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWeek(s)
		if err != nil {
			if !errors.Is(err, ErrBadWeek) {
				t.Fatalf("refusal %v is not ErrBadWeek", err)
			}
			return
		}
		if w.String() != s {
			t.Fatalf("%q parsed to %v", s, w)
		}
		if again, err := ParseWeek(w.String()); err != nil || again != w {
			t.Fatalf("%v does not parse back: %v %v", w, again, err)
		}
		st := w.Start()
		if st.Weekday() != time.Monday || WeekOf(st) != w || WeekOf(w.End().Add(-time.Second)) != w || WeekOf(w.End()) == w {
			t.Fatalf("%v starts %s and ends %s", w, st, w.End())
		}
	})
}
