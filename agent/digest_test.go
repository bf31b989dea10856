package agent

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// nov is a time in November 2026: week 2026-W48 runs from Monday 23 to
// Sunday 29.
func nov(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC)
}

// auditLog numbers entries written at the given times into records.
type auditLog []vault.AuditRecord

func (l *auditLog) add(at time.Time, e vault.AuditEntry) {
	*l = append(*l, vault.AuditRecord{Seq: uint64(len(*l) + 1), Time: at, AuditEntry: e})
}

// calls writes the calls record of the clock hour starting at from, as
// the node does just after the hour ends.
func (l *auditLog) calls(agent string, from time.Time, n, locked uint64) {
	l.add(from.Add(time.Hour+5*time.Second), CallsEntry(agent, n, locked, from, from.Add(time.Hour-time.Second)))
}

// weekLog is a week of two agents and a removed one, with records around
// the week, records not about agents and unreadable ones. The numbers
// the digest must find are in TestDigestCountsTheWeek.
func weekLog(t testing.TB) auditLog {
	var l auditLog
	owner := "owner:alice"
	p := auditPolicy(t)
	p.Name = "mail-bot"
	l.add(nov(22, 20, 0), AddEntry(p, owner)) // the week before
	l.calls("helper", nov(22, 23, 0), 99, 0)  // written Monday 00:00:05, the hour is Sunday's: the week before

	l.calls("helper", nov(23, 10, 0), 12, 0)
	l.calls("helper", nov(23, 11, 0), 8, 3)
	l.calls("helper", nov(25, 9, 0), 5, 0)
	l.calls("helper", nov(29, 23, 0), 7, 0) // written Monday 30, 00:00:05: this week's Sunday
	l.calls("mail-bot", nov(24, 8, 0), 1000, 0)

	l.add(nov(23, 10, 5), RefusedEntry("helper", ReasonCeiling, capability.Delete, "calendar/x", 1, `agent "helper" may not delete`))
	l.add(nov(23, 10, 6), RefusedEntry("helper", ReasonScope, capability.Read, "notes/x", 40, "a minute of refusals"))
	l.add(nov(24, 8, 30), RefusedEntry("mail-bot", ReasonToken, capability.Read, "mail/x", 2, "its token has expired"))

	l.add(nov(24, 14, 3), LockEntry("mail-bot", Lock{Locked: true, Auto: true, At: nov(24, 14, 3), Reason: "1000 calls in the last hour"}, ""))
	l.add(nov(26, 9, 0), UnlockEntry("mail-bot", owner))
	l.add(nov(23, 9, 0), LockEntry("helper", Lock{Locked: true, At: nov(23, 9, 0), Reason: "locked by hand"}, owner))

	ids := []string{"0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004"}
	for i, id := range ids {
		ap := auditApproval(id, share)
		l.add(nov(25, 10, i), ApprovalEntry(OpApprovalAsk, ap, Actor("helper")))
	}
	l.add(nov(25, 11, 0), ApprovalEntry(OpApprovalApprove, auditApproval(ids[0], share), owner))
	l.add(nov(25, 11, 1), ApprovalEntry(OpApprovalDeny, auditApproval(ids[1], share), owner))
	l.add(nov(25, 11, 2), ApprovalEntry(OpApprovalExpire, auditApproval(ids[2], share), ActorNode))
	mb := auditApproval("0000000000000005", Request{Op: OpSecretUse, Resource: "secrets/embeddings", Actions: capability.Use, Target: "api.example"})
	mb.Agent = "mail-bot"
	l.add(nov(27, 12, 0), ApprovalEntry(OpApprovalAsk, mb, Actor("mail-bot")))
	l.add(nov(27, 12, 1), SecretUseEntry("mail-bot", "secrets/embeddings", "api.example", 200))
	l.add(nov(28, 18, 0), RemoveEntry("old-bot", 1, owner))

	// Outside the week.
	l.add(nov(21, 12, 0), ApprovalEntry(OpApprovalAsk, auditApproval("0000000000000009", share), Actor("helper")))
	l.add(nov(30, 1, 0), LockEntry("helper", Lock{Locked: true, Auto: true, At: nov(30, 1, 0), Reason: "next week"}, ""))
	l.calls("helper", nov(30, 0, 0), 1, 0)
	// Not about agents.
	l.add(nov(24, 9, 0), vault.AuditEntry{Actor: "owner", Op: vault.OpUnlock, Outcome: vault.OutcomeOK})
	l.add(nov(24, 9, 1), vault.AuditEntry{Actor: "owner", Op: vault.OpSecretRead, Target: "secrets/x", Outcome: vault.OutcomeOK, Detail: "garbage"})
	// About agents, unreadable.
	l.add(nov(24, 10, 0), vault.AuditEntry{Actor: "agent:helper", Op: OpAgentCalls, Target: "helper", Detail: "garbage"})
	l.add(nov(24, 10, 1), vault.AuditEntry{Actor: "agent:helper", Op: OpApprovalAsk, Target: "x", Detail: "agent=BAD!"})
	l.add(nov(24, 10, 2), vault.AuditEntry{Actor: "agent:helper", Op: OpAgentRefused, Detail: "agent=helper reason=scope count=x"})
	l.add(nov(24, 10, 3), vault.AuditEntry{Actor: "agent:helper", Op: OpAgentCalls, Detail: "agent=helper calls=1 locked=2 from=2026-11-24T10:00:00Z"})
	return l
}

func TestDigestCountsTheWeek(t *testing.T) {
	d := Digest(weekLog(t), Week{2026, 48})
	want := &WeekDigest{
		Week: Week{2026, 48},
		Agents: []AgentWeek{
			{Name: "helper", Calls: [7]uint64{20, 0, 5, 0, 0, 0, 7},
				Approvals: ApprovalCounts{Asked: 4, Granted: 1, Denied: 1, Expired: 1},
				Refusals:  map[Reason]uint64{ReasonCeiling: 1, ReasonScope: 40, ReasonLocked: 3}, Locks: 1},
			{Name: "mail-bot", Calls: [7]uint64{0, 1000}, Approvals: ApprovalCounts{Asked: 1},
				Refusals: map[Reason]uint64{ReasonToken: 2}, Locks: 1},
			{Name: "old-bot", Refusals: map[Reason]uint64{}},
		},
		Approvals: ApprovalCounts{Asked: 5, Granted: 1, Denied: 1, Expired: 1},
		Refusals:  map[Reason]uint64{ReasonCeiling: 1, ReasonScope: 40, ReasonToken: 2, ReasonLocked: 3},
		Locks: []LockEvent{
			{Agent: "helper", At: nov(23, 9, 0), Reason: "locked by hand"},
			{Agent: "mail-bot", At: nov(24, 14, 3), Auto: true, Reason: "1000 calls in the last hour"},
		},
		Unreadable: 4,
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("digest\n%+v\nwant\n%+v", d, want)
	}
	if d.Agents[0].Total() != 32 {
		t.Fatalf("helper's total %d", d.Agents[0].Total())
	}
	// The week before holds what this one skipped.
	before := Digest(weekLog(t), Week{2026, 47})
	if len(before.Agents) != 2 || before.Agents[0].Name != "helper" || before.Agents[0].Calls[6] != 99 ||
		before.Agents[0].Approvals.Asked != 1 || before.Agents[1].Name != "mail-bot" || before.Unreadable != 0 {
		t.Fatalf("the week before: %+v", before)
	}
}

func TestDigestTextSaysTheWeekInLines(t *testing.T) {
	d := Digest(weekLog(t), Week{2026, 48})
	text := d.Text()
	for _, want := range []string{
		"Agents, week 2026-W48 (Mon 23 Nov – Sun 29 Nov 2026)\n",
		"agent     Mon   Tue  Wed  Thu  Fri  Sat  Sun  total\n",
		"helper     20     0    5    0    0    0    7     32\n",
		"mail-bot    0  1000    0    0    0    0    0   1000\n",
		"Approvals: 5 asked, 1 granted, 1 denied, 1 expired\n",
		"  helper    4 asked, 1 granted, 1 denied, 1 expired\n",
		"Refusals: ceiling 1, scope 40, token 2, locked 3\n",
		"Locks: 2\n",
		"  Tue 24 Nov 14:03Z  mail-bot  auto-lock: 1000 calls in the last hour\n",
		"  Mon 23 Nov 09:00Z  helper    by the owner: locked by hand\n",
		"4 audit records about agents could not be read\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text does not say %q:\n%s", want, text)
		}
	}
	md := d.Markdown()
	for _, want := range []string{
		"# Agents, week 2026-W48 (Mon 23 Nov – Sun 29 Nov 2026)\n",
		"| agent | Mon | Tue | Wed | Thu | Fri | Sat | Sun | total |\n",
		"| helper | 20 | 0 | 5 | 0 | 0 | 0 | 7 | 32 |\n",
		"| mail-bot | 0 | 1000 | 0 | 0 | 0 | 0 | 0 | 1000 |\n",
		"| **total** | 5 | 1 | 1 | 1 |\n",
		"| agent | ceiling | scope | token | locked |\n",
		"| **total** | 1 | 40 | 2 | 3 |\n",
		"- Tue 24 Nov 14:03Z, mail-bot, auto-lock: 1000 calls in the last hour\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown does not say %q:\n%s", want, md)
		}
	}
}

func TestDigestOfAnEmptyWeekSaysNothingHappened(t *testing.T) {
	d := Digest(weekLog(t), Week{2026, 50})
	if !d.Empty() || d.Text() != "Agents, week 2026-W50 (Mon 7 Dec – Sun 13 Dec 2026)\n\nnothing happened\n" {
		t.Fatalf("%q", d.Text())
	}
	if !strings.Contains(d.Markdown(), "Nothing happened.") || !strings.Contains(d.HTML(), "Nothing happened.") {
		t.Fatal("the Markdown or HTML of an empty week does not say nothing happened")
	}
	if got := Digest(nil, Week{2026, 53}).Text(); !strings.HasPrefix(got, "Agents, week 2026-W53 (Mon 28 Dec 2026 – Sun 3 Jan 2027)\n") {
		t.Fatalf("a week across two years: %q", got)
	}
}

func TestDigestHTMLIsOneEscapedPage(t *testing.T) {
	l := weekLog(t)
	clean := strings.ToLower(Digest(l, Week{2026, 48}).HTML())
	for _, bad := range []string{"<script", "http", "src=", "href=", "<link", "url(", "@import"} {
		if strings.Contains(clean, bad) {
			t.Errorf("the page holds %q:\n%s", bad, clean)
		}
	}
	hostile := `<script>alert("x")</script><img src=x.png>`
	l.add(nov(27, 1, 0), LockEntry("helper", Lock{Locked: true, At: nov(27, 1, 0), Reason: hostile}, "owner:alice"))
	// A name-like value the digest refuses as a name is not shown at all.
	l.add(nov(27, 1, 1), vault.AuditEntry{Op: OpAgentUnlock, Detail: "agent=<b>x</b>"})
	page := Digest(l, Week{2026, 48}).HTML()
	for _, bad := range []string{"<script", "<img", "<b>x"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page holds %q:\n%s", bad, page)
		}
	}
	for _, want := range []string{
		"<!DOCTYPE html>", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x.png&gt;",
		"<svg ", "<title>Mon 23 Nov: 20 calls</title>", "<title>Tue 24 Nov: 1000 calls</title>",
		`aria-label="calls of mail-bot per day"`, "5 asked, 1 granted, 1 denied, 1 expired",
		"5 audit records about agents could not be read",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not hold %q:\n%s", want, page)
		}
	}
	// Bars scale to the agent's busiest day: mail-bot's Tuesday is full
	// height, helper's Monday is.
	if strings.Count(page, `height="40"`) != 2 {
		t.Errorf("want one full bar per agent with calls:\n%s", page)
	}
}

func TestWeeksAreISOWeeks(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		week string
		from string
	}{
		{nov(29, 23, 59), "2026-W48", "2026-11-23"},
		{nov(23, 0, 0), "2026-W48", "2026-11-23"},
		{time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "2026-W53", "2026-12-28"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "2026-W53", "2026-12-28"},
		{time.Date(2027, 1, 3, 23, 59, 59, 0, time.UTC), "2026-W53", "2026-12-28"},
		{time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), "2027-W01", "2027-01-04"},
		{time.Date(2024, 12, 30, 0, 0, 0, 0, time.UTC), "2025-W01", "2024-12-30"},
		{time.Date(2025, 12, 28, 0, 0, 0, 0, time.UTC), "2025-W52", "2025-12-22"},
		{time.Date(2020, 12, 31, 0, 0, 0, 0, time.UTC), "2020-W53", "2020-12-28"},
		{time.Date(2026, 11, 30, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "2026-W48", "2026-11-23"}, // 23:30 UTC on Sunday
	} {
		w := WeekOf(tc.at)
		if w.String() != tc.week {
			t.Errorf("WeekOf(%s) = %s, want %s", tc.at, w, tc.week)
		}
		p, err := ParseWeek(tc.week)
		if err != nil || p != w {
			t.Errorf("ParseWeek(%s) = %v, %v", tc.week, p, err)
		}
		if got := w.Start().Format(time.DateOnly); got != tc.from || w.Start().Weekday() != time.Monday {
			t.Errorf("%s starts %s, want %s", w, got, tc.from)
		}
		if w.End().Sub(w.Start()) != 7*24*time.Hour || WeekOf(w.End()) == w || WeekOf(w.End().Add(-time.Nanosecond)) != w {
			t.Errorf("%s ends %s", w, w.End())
		}
	}
}

func TestParseWeekRefusesWhatIsNoWeek(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"", "year, -W, then the week's two digits"},
		{"2026-w48", "year, -W, then the week's two digits"},
		{"2026W48", "year, -W, then the week's two digits"},
		{"26-W48", "year, -W, then the week's two digits"},
		{"2026-W4", "year, -W, then the week's two digits"},
		{"+026-W48", "year, -W, then the week's two digits"},
		{"2026-W+8", "year, -W, then the week's two digits"},
		{" 2026-W48", "year, -W, then the week's two digits"},
		{"2026-W00", "2026 has weeks 01 to 53"},
		{"2026-W54", "2026 has weeks 01 to 53"},
		{"2025-W53", "2025 has weeks 01 to 52"},
		{"0000-W01", "the year starts at 0001"},
		{strings.Repeat("9", 100), `"9999999999999999…" is not a week like 2026-W48`},
	} {
		_, err := ParseWeek(tc.s)
		testkit.Sentence(t, tc.s, err, tc.want, ErrBadWeek)
		if err != nil && !errors.Is(err, ErrBadWeek) {
			t.Errorf("%q: %v", tc.s, err)
		}
	}
}

func TestDigestTextHoldsNoControlCharacters(t *testing.T) {
	var l auditLog
	l.add(nov(24, 1, 0), vault.AuditEntry{Op: OpAgentLock, Detail: "agent=helper auto=false: \x1b[2J\x1b]0;owned\x07\nfake line"})
	d := Digest(l, Week{2026, 48})
	if len(d.Locks) != 1 || d.Locks[0].Reason != "[2J ]0;owned  fake line" {
		t.Fatalf("locks %+v", d.Locks)
	}
	if text := d.Text(); strings.ContainsAny(text, "\x1b\x07") || strings.Contains(text, "\nfake line") {
		t.Fatalf("the text holds a control character: %q", text)
	}
}
