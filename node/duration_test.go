package node

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
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "7", "7x", "7dd", "1d-2h", "abc", "100000000w"} {
		if d, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", bad, d)
		}
	}
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "1d", 14 * day: "2w", 36 * time.Hour: "36h", 90 * time.Minute: "90m", 30 * time.Minute: "30m",
		90 * time.Second: "90s", 1500 * time.Millisecond: "1.5s", 0: "0",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("%v does not survive formatting: %q → %v, %v", d, FormatDuration(d), back, err)
		}
	}
}
