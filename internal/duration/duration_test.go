package duration

import (
	"testing"
	"time"
)

// TestDurationsTakeDaysAndWeeks: every duration the CLI reads takes days
// and weeks as well as Go's units, and is written back the same way.
func TestDurationsTakeDaysAndWeeks(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * day, "2w": 2 * week, "36h": 36 * time.Hour, "90m": 90 * time.Minute,
		"1d12h": 36 * time.Hour, "1w2d": 9 * day, "1.5d": 36 * time.Hour, "500ms": 500 * time.Millisecond,
		"0": 0, "1h30m": 90 * time.Minute, " 3d ": 3 * day, "-1h": -time.Hour,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "7", "7x", "7dd", "1d-2h", "abc", "100000000w"} {
		if d, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, d)
		}
	}
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "1d", 14 * day: "2w", 36 * time.Hour: "36h", 90 * time.Minute: "90m", 30 * time.Minute: "30m",
		90 * time.Second: "90s", 1500 * time.Millisecond: "1.5s", 0: "0",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
		if back, err := Parse(Format(d)); err != nil || back != d {
			t.Errorf("%v does not survive formatting: %q → %v, %v", d, Format(d), back, err)
		}
	}
}

// FuzzParse: Parse never panics, and what it reads Format writes back in
// a form Parse reads as the same duration.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"7d", "1w2d", "1.5d", "-1h", "0", "500ms", "100000000w", "1d-2h", ".d", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if back, err := Parse(Format(d)); err != nil || back != d {
			t.Errorf("Parse(%q) = %v; Format gives %q, which reads as %v, %v", s, d, Format(d), back, err)
		}
	})
}
