package group

import (
	"fmt"
	"strings"
	"time"
)

// Schedule is when a group may be unlocked (doc.go "Schedules"). The
// zero Schedule allows any time. A Schedule is a value: parse it once
// and copy it freely.
type Schedule struct{ rules []rule }

// rule is one "days HH:MM-HH:MM [offset]" of a schedule.
type rule struct {
	days   uint8 // bit i set: time.Weekday(i) is a day of the rule
	start  int   // minutes from local midnight, 0 to 1439
	end    int   // minutes from local midnight, 1 to 1440; below start: the slot crosses midnight
	offset int   // minutes east of UTC
}

// forever is what End returns for a schedule that never closes.
var forever = time.Unix(maxUnix, 0).UTC()

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekOrder is the order days are written in: Monday first.
var weekOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// ParseSchedule parses a schedule (doc.go "Schedules"): "" allows any
// time; otherwise rules like "mon-fri 08:00-18:00" or
// "sat,sun 10:00-12:00 +01:00", separated by ";". Anything else wraps
// ErrBadSchedule.
func ParseSchedule(s string) (Schedule, error) {
	bad := func(format string, args ...any) (Schedule, error) {
		return Schedule{}, fmt.Errorf("%w: %s", ErrBadSchedule, fmt.Sprintf(format, args...))
	}
	if len(s) > maxScheduleLen {
		return bad("a schedule is at most %d characters", maxScheduleLen)
	}
	if strings.TrimSpace(s) == "" {
		return Schedule{}, nil
	}
	parts := strings.Split(s, ";")
	if len(parts) > maxScheduleRules {
		return bad("a schedule has at most %d rules", maxScheduleRules)
	}
	var out Schedule
	for i, p := range parts {
		f := strings.Fields(p)
		if len(f) < 2 || len(f) > 3 {
			return bad("rule %d is not like %q", i+1, "mon-fri 08:00-18:00")
		}
		var r rule
		var err error
		if r.days, err = parseDays(f[0]); err != nil {
			return bad("rule %d: %v", i+1, err)
		}
		if r.start, r.end, err = parseSlot(f[1]); err != nil {
			return bad("rule %d: %v", i+1, err)
		}
		if len(f) == 3 {
			if r.offset, err = parseOffset(f[2]); err != nil {
				return bad("rule %d: %v", i+1, err)
			}
		}
		out.rules = append(out.rules, r)
	}
	return out, nil
}

func parseDay(s string) (int, bool) {
	for i, n := range dayNames {
		if s == n {
			return i, true
		}
	}
	return 0, false
}

// parseDays reads "mon", "mon-fri", "sat,sun" or "mon-wed,fri". A range
// may wrap past Sunday: "fri-mon" is Friday to Monday.
func parseDays(s string) (uint8, error) {
	var set uint8
	for _, item := range strings.Split(strings.ToLower(s), ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := parseDay(from)
		b := a
		if isRange {
			var ok2 bool
			b, ok2 = parseDay(to)
			ok = ok && ok2
		}
		if !ok {
			return 0, fmt.Errorf("days are written mon, tue, wed, thu, fri, sat, sun, as a list (sat,sun) or a range (mon-fri)")
		}
		for d := a; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == b {
				break
			}
		}
	}
	return set, nil
}

// parseSlot reads "HH:MM-HH:MM"; the end may be 24:00, and an end of
// 00:00 is midnight, the same as 24:00.
func parseSlot(s string) (start, end int, err error) {
	from, to, ok := strings.Cut(s, "-")
	start, ok1 := parseClock(from, false)
	end, ok2 := parseClock(to, true)
	if !ok || !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("hours are written HH:MM-HH:MM, from 00:00 to 24:00")
	}
	if end == 0 {
		end = 24 * 60
	}
	if start == end {
		return 0, 0, fmt.Errorf("the hours %s are empty", s)
	}
	return start, end, nil
}

func parseClock(s string, end bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, ok1 := twoDigits(s[0:2])
	m, ok2 := twoDigits(s[3:5])
	if !ok1 || !ok2 || m > 59 || h > 24 || h == 24 && (m != 0 || !end) {
		return 0, false
	}
	return h*60 + m, true
}

func twoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// parseOffset reads "UTC", "+HH:MM" or "-HH:MM", at most maxUTCOffset.
func parseOffset(s string) (int, error) {
	if strings.EqualFold(s, "UTC") {
		return 0, nil
	}
	bad := fmt.Errorf("a UTC offset is written UTC, +HH:MM or -HH:MM, at most %s", maxUTCOffset)
	if len(s) != 6 || s[0] != '+' && s[0] != '-' {
		return 0, bad
	}
	v, ok := parseClock(s[1:], false)
	if !ok || time.Duration(v)*time.Minute > maxUTCOffset {
		return 0, bad
	}
	if s[0] == '-' {
		v = -v
	}
	return v, nil
}

// String is the schedule in its canonical form, which ParseSchedule
// reads back to the same schedule: days Monday first, runs of three
// days or more as ranges, times as HH:MM, an offset only when not UTC,
// rules joined by "; ". The always-schedule is "".
func (s Schedule) String() string {
	var b strings.Builder
	for i, r := range s.rules {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.dayString())
		fmt.Fprintf(&b, " %02d:%02d-%02d:%02d", r.start/60, r.start%60, r.end/60, r.end%60)
		if r.offset != 0 {
			sign, o := '+', r.offset
			if o < 0 {
				sign, o = '-', -o
			}
			fmt.Fprintf(&b, " %c%02d:%02d", sign, o/60, o%60)
		}
	}
	return b.String()
}

func (r rule) has(d time.Weekday) bool { return r.days&(1<<d) != 0 }

func (r rule) dayString() string {
	var items []string
	for i := 0; i < 7; {
		if !r.has(weekOrder[i]) {
			i++
			continue
		}
		j := i
		for j+1 < 7 && r.has(weekOrder[j+1]) {
			j++
		}
		switch {
		case j == i:
			items = append(items, dayNames[weekOrder[i]])
		case j == i+1:
			items = append(items, dayNames[weekOrder[i]], dayNames[weekOrder[j]])
		default:
			items = append(items, dayNames[weekOrder[i]]+"-"+dayNames[weekOrder[j]])
		}
		i = j + 1
	}
	return strings.Join(items, ",")
}

// Always reports whether the schedule allows any time.
func (s Schedule) Always() bool { return len(s.rules) == 0 }

// slot reports whether t is in one of r's slots, and the slot's end.
func (r rule) slot(t time.Time) (bool, time.Time) {
	loc := t.In(time.FixedZone("", r.offset*60))
	y, m, d := loc.Date()
	mid := time.Date(y, m, d, 0, 0, 0, 0, loc.Location())
	tod := loc.Sub(mid)
	wd := loc.Weekday()
	start, end := time.Duration(r.start)*time.Minute, time.Duration(r.end)*time.Minute
	if r.start < r.end {
		if r.has(wd) && tod >= start && tod < end {
			return true, mid.Add(end)
		}
		return false, time.Time{}
	}
	// The slot crosses midnight: it starts on one of the rule's days and
	// ends on the next day (a fixed zone has no daylight saving time, so a
	// day is 24 hours).
	if r.has(wd) && tod >= start {
		return true, mid.Add(24*time.Hour + end)
	}
	if r.has((wd+6)%7) && tod < end {
		return true, mid.Add(end)
	}
	return false, time.Time{}
}

// Allows reports whether the schedule allows an unlock at t.
func (s Schedule) Allows(t time.Time) bool {
	if s.Always() {
		return true
	}
	for _, r := range s.rules {
		if ok, _ := r.slot(t); ok {
			return true
		}
	}
	return false
}

// End returns the end of the allowed time that contains t: where the
// slot containing t ends, or, when slots touch or overlap, where the
// last of them ends. It returns t when t is not allowed, and
// 9999-12-31T23:59:59Z for a schedule that never closes.
func (s Schedule) End(t time.Time) time.Time {
	if s.Always() {
		return forever
	}
	cur := t
	// Each step moves to a slot's end; a week holds at most 8 ends per
	// rule, so 9 days of steps cover a schedule that never closes.
	for range 16 * maxScheduleRules {
		found := false
		next := cur
		for _, r := range s.rules {
			if ok, e := r.slot(cur); ok && e.After(next) {
				next, found = e, true
			}
		}
		if !found {
			return cur
		}
		cur = next
		if cur.Sub(t) > 8*24*time.Hour {
			return forever
		}
	}
	return forever
}

// Next returns the first time from t on that the schedule allows: t
// itself when it is allowed.
func (s Schedule) Next(t time.Time) time.Time {
	if s.Allows(t) {
		return t
	}
	best := forever
	for _, r := range s.rules {
		loc := t.In(time.FixedZone("", r.offset*60))
		y, m, d := loc.Date()
		for k := 0; k <= 7; k++ {
			mid := time.Date(y, m, d+k, 0, 0, 0, 0, loc.Location())
			if !r.has(mid.Weekday()) {
				continue
			}
			if c := mid.Add(time.Duration(r.start) * time.Minute); c.After(t) && c.Before(best) {
				best = c
			}
		}
	}
	return best
}
