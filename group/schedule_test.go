package group

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

// at is a UTC time in the week of Monday 2 March 2026: day 0 is Sunday
// 1 March (testkit.Epoch's day), 1 Monday 2 March, … 6 Saturday 7 March,
// 7 Sunday 8 March, 8 Monday 9 March.
func at(day int, hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 3, 1+day, t.Hour(), t.Minute(), 0, 0, time.UTC)
}

func mustSchedule(t testing.TB, s string) Schedule {
	t.Helper()
	sc, err := ParseSchedule(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return sc
}

func TestSchedulesParseToTheirCanonicalText(t *testing.T) {
	if at(0, "12:00") != testkit.Epoch || at(1, "00:00").Weekday() != time.Monday {
		t.Fatal("the test's calendar is wrong")
	}
	for in, want := range map[string]string{
		"":                                   "",
		"   ":                                "",
		"mon-fri 08:00-18:00":                "mon-fri 08:00-18:00",
		"sat,sun 10:00-12:00":                "sat,sun 10:00-12:00",
		"Sat,Sun  10:00-12:00 utc":           "sat,sun 10:00-12:00",
		"mon-wed,fri 09:00-17:00 +01:00":     "mon-wed,fri 09:00-17:00 +01:00",
		"fri-mon 22:00-02:00":                "mon,fri-sun 22:00-02:00",
		"mon 22:00-00:00":                    "mon 22:00-24:00",
		"mon 00:00-00:00":                    "mon 00:00-24:00",
		"mon-sun 00:00-24:00 -05:00":         "mon-sun 00:00-24:00 -05:00",
		"tue,mon 08:00-09:00 +00:00":         "mon,tue 08:00-09:00",
		"sun,mon,tue 08:00-09:00 -00:30":     "mon,tue,sun 08:00-09:00 -00:30",
		"mon 08:00-09:00;tue 10:00-11:00":    "mon 08:00-09:00; tue 10:00-11:00",
		"wed-wed 01:00-02:00 +14:00":         "wed 01:00-02:00 +14:00",
		"mon,mon-tue 01:00-02:00 -14:00":     "mon,tue 01:00-02:00 -14:00",
		"mon-sun 23:59-00:01":                "mon-sun 23:59-00:01",
		"thu 00:00-23:59 ; fri 00:00-24:00 ": "thu 00:00-23:59; fri 00:00-24:00",
	} {
		s := mustSchedule(t, in)
		if s.String() != want {
			t.Errorf("%q prints as %q, want %q", in, s.String(), want)
		}
		if again := mustSchedule(t, s.String()); again.String() != want {
			t.Errorf("%q does not parse back", want)
		}
		if s.Always() != (want == "") {
			t.Errorf("%q: Always is %v", in, s.Always())
		}
	}
}

func TestBadSchedulesAreRefused(t *testing.T) {
	var many []string
	for range maxScheduleRules + 1 {
		many = append(many, "mon 08:00-09:00")
	}
	for _, bad := range []string{
		"mon", "08:00-18:00", "mon 8:00-18:00", "mon 08:00-08:00", "mon 25:00-26:00",
		"mon 08:60-09:00", "mon 24:00-01:00", "xyz 08:00-09:00", "monday 08:00-09:00", "mon- 08:00-09:00",
		"mon,,tue 08:00-09:00", "mon 08:00-09:00 +15:00", "mon 08:00-09:00 +14:01", "mon 08:00-09:00 CET",
		"mon 08:00-09:00 +0100", "mon 08:00-09:00;", ";", "mon 08:00-09:00 +01:00 extra", "mon 08:00", "mon 08:00-",
		"mon ０8:00-09:00", strings.Join(many, ";"), "mon 08:00-09:00" + strings.Repeat(" ", maxScheduleLen),
	} {
		_, err := ParseSchedule(bad)
		testkit.Sentence(t, "schedule "+bad, err, "", ErrBadSchedule)
	}
	_, err := ParseSchedule("mon 08:00-18:00 CET")
	testkit.Sentence(t, "a zone name", err, "a UTC offset is written UTC, +HH:MM or -HH:MM", ErrBadSchedule)
}

func TestScheduleBoundaries(t *testing.T) {
	work := mustSchedule(t, "mon-fri 08:00-18:00")
	for _, c := range []struct {
		t     time.Time
		allow bool
	}{
		{at(1, "07:59").Add(59 * time.Second), false},
		{at(1, "08:00"), true},
		{at(1, "17:59").Add(59*time.Second + 999*time.Millisecond), true},
		{at(1, "18:00"), false},
		{at(5, "12:00"), true},
		{at(6, "12:00"), false},
		{at(0, "12:00"), false},
	} {
		if work.Allows(c.t) != c.allow {
			t.Errorf("%s: Allows is %v", c.t, !c.allow)
		}
	}
	if e := work.End(at(1, "10:00")); !e.Equal(at(1, "18:00")) {
		t.Errorf("End inside the slot: %s", e)
	}
	if e := work.End(at(6, "10:00")); !e.Equal(at(6, "10:00")) {
		t.Errorf("End outside: %s", e)
	}
	for from, want := range map[time.Time]time.Time{
		at(6, "10:00"): at(8, "08:00"),
		at(1, "07:00"): at(1, "08:00"),
		at(1, "09:00"): at(1, "09:00"),
		at(5, "18:00"): at(8, "08:00"),
	} {
		if got := work.Next(from); !got.Equal(want) {
			t.Errorf("Next(%s) = %s, want %s", from, got, want)
		}
	}

	// A UTC offset: 08:00 at +01:00 is 07:00 UTC.
	plus := mustSchedule(t, "mon 08:00-18:00 +01:00")
	if plus.Allows(at(1, "06:59")) || !plus.Allows(at(1, "07:00")) || plus.Allows(at(1, "17:00")) || !plus.End(at(1, "07:00")).Equal(at(1, "17:00")) {
		t.Error("+01:00 is not an hour ahead of UTC")
	}
	// Monday 00:00-01:00 at +02:00 is Sunday 22:00-23:00 UTC.
	early := mustSchedule(t, "mon 00:00-01:00 +02:00")
	if !early.Allows(at(0, "22:30")) || early.Allows(at(1, "00:30")) {
		t.Error("an offset does not move the slot across the day")
	}
	minus := mustSchedule(t, "fri 20:00-23:00 -05:00") // Saturday 01:00-04:00 UTC
	if !minus.Allows(at(6, "01:00")) || minus.Allows(at(5, "21:00")) {
		t.Error("-05:00 is not five hours behind UTC")
	}
}

// TestASlotAcrossMidnightBelongsToTheDayItStarts: "fri 22:00-02:00" is
// Friday 22:00 to Saturday 02:00, not Friday 00:00-02:00 and 22:00-24:00.
func TestASlotAcrossMidnightBelongsToTheDayItStarts(t *testing.T) {
	s := mustSchedule(t, "fri 22:00-02:00")
	for _, c := range []struct {
		t     time.Time
		allow bool
	}{
		{at(5, "21:59"), false},
		{at(5, "22:00"), true},
		{at(5, "23:59"), true},
		{at(6, "00:00"), true},
		{at(6, "01:59"), true},
		{at(6, "02:00"), false},
		{at(5, "00:30"), false}, // Thursday's night: Thursday is not in the rule
		{at(6, "23:00"), false},
	} {
		if s.Allows(c.t) != c.allow {
			t.Errorf("%s %s: Allows is %v", c.t.Weekday(), c.t.Format("15:04"), !c.allow)
		}
	}
	for _, from := range []time.Time{at(5, "23:00"), at(6, "01:00")} {
		if e := s.End(from); !e.Equal(at(6, "02:00")) {
			t.Errorf("End(%s) = %s", from, e)
		}
	}
	if n := s.Next(at(6, "03:00")); !n.Equal(at(12, "22:00")) {
		t.Errorf("Next after the slot: %s", n)
	}
}

func TestEndFollowsSlotsThatTouchOrOverlap(t *testing.T) {
	for _, c := range []struct {
		s     string
		from  time.Time
		until time.Time
	}{
		{"mon 08:00-12:00; mon 12:00-18:00", at(1, "09:00"), at(1, "18:00")},
		{"mon 08:00-12:00; mon 10:00-14:00", at(1, "09:00"), at(1, "14:00")},
		{"mon 08:00-12:00; mon 13:00-14:00", at(1, "09:00"), at(1, "12:00")},
		{"mon-tue 00:00-24:00", at(1, "09:00"), at(3, "00:00")},
		{"sun 20:00-24:00; mon 00:00-02:00 +01:00", at(0, "21:00"), at(0, "23:00").Add(2 * time.Hour)},
		{"mon-sun 00:00-24:00", at(1, "09:00"), forever},
		{"mon-sun 22:00-02:00; mon-sun 02:00-22:00", at(1, "09:00"), forever},
		{"", at(1, "09:00"), forever},
	} {
		if got := mustSchedule(t, c.s).End(c.from); !got.Equal(c.until) {
			t.Errorf("%q: End(%s) = %s, want %s", c.s, c.from, got, c.until)
		}
	}
}

func TestAScheduleBoundsTheUnlockWindow(t *testing.T) {
	f := deal(t, "board", 2, 3)
	sched := mustSchedule(t, "mon-fri 08:00-18:00")
	f.clk.Set(at(1, "07:55"))
	l := NewLock(f.d.Commitments, LockConfig{Now: f.clk.Now, Schedule: sched})

	// Before the slot: refused, naming when it opens, spending nothing.
	a0, s0 := f.approval(t, 0, time.Hour)
	_, err := l.Offer(a0, s0)
	testkit.Sentence(t, "an approval before the slot", err, `only during "mon-fri 08:00-18:00"; it next opens at 2026-03-02T08:00:00Z`, ErrOutsideSchedule)
	f.clk.Set(at(1, "08:00"))
	if st, err := l.Offer(a0, s0); err != nil || len(st.Pending) != 1 {
		t.Fatalf("the same approval in the slot: %+v %v", st, err)
	}

	// Near the slot's end the window is cut there.
	f.clk.Set(at(1, "17:30"))
	a1, s1 := f.approval(t, 1, time.Hour)
	a2, s2 := f.approval(t, 2, time.Hour)
	if _, err := l.Offer(a1, s1); err != nil {
		t.Fatal(err)
	}
	st, err := l.Offer(a2, s2)
	if err != nil || !st.Unlocked || !st.Until.Equal(at(1, "18:00")) {
		t.Fatalf("an hour asked at 17:30: %+v %v, want until 18:00", st, err)
	}
	held := l.key
	f.clk.Set(at(1, "17:59").Add(59 * time.Second))
	if _, err := l.Key(); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(at(1, "18:00"))
	if _, err := l.Key(); !errors.Is(err, ErrLocked) || !held.IsZero() {
		t.Fatalf("at the slot's end: %v", err)
	}

	// A pending approval outlives the slot's end, but the one that would
	// open the group after it is refused.
	f.clk.Set(at(2, "17:58"))
	b0, t0 := f.approval(t, 0, time.Hour)
	if _, err := l.Offer(b0, t0); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(at(2, "18:01"))
	b1, t1 := f.approval(t, 1, time.Hour)
	_, err = l.Offer(b1, t1)
	testkit.Sentence(t, "the K-th approval after the slot", err, "it next opens at 2026-03-04T08:00:00Z", ErrOutsideSchedule)
	if st := l.Status(); st.Unlocked || len(st.Pending) != 1 {
		t.Fatalf("after the slot: %+v", st)
	}
}

func TestAWindowIsCutAtTheEndOfASlotAcrossMidnight(t *testing.T) {
	f := deal(t, "board", 2, 2)
	f.clk.Set(at(6, "01:30")) // Saturday, in Friday's night slot
	l := NewLock(f.d.Commitments, LockConfig{Now: f.clk.Now, Schedule: mustSchedule(t, "fri 22:00-02:00")})
	for i := range 2 {
		a, s := f.approval(t, i, time.Hour)
		if _, err := l.Offer(a, s); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Status(); !st.Unlocked || !st.Until.Equal(at(6, "02:00")) {
		t.Fatalf("%+v, want until Saturday 02:00", st)
	}
	// Within the slot's end, the approvers' window is kept.
	f.clk.Set(at(12, "22:00"))
	l2 := NewLock(f.d.Commitments, LockConfig{Now: f.clk.Now, Schedule: mustSchedule(t, "fri 22:00-02:00")})
	for i := range 2 {
		a, s := f.approval(t, i, time.Hour)
		if _, err := l2.Offer(a, s); err != nil {
			t.Fatal(err)
		}
	}
	if st := l2.Status(); !st.Until.Equal(at(12, "23:00")) {
		t.Fatalf("%+v, want until 23:00", st)
	}
}
