package duration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Durations: every duration the CLI reads (flags and config files) and
// every one mesh shows (mesh status) is in one form:
// Go's units (90m, 36h, 1h30m, 500ms) plus days and weeks (7d, 2w, 1w2d,
// 1d12h). A day is 24 hours and a week 7 days: validity windows, not
// calendar dates.

const (
	day  = 24 * time.Hour
	week = 7 * day
)

// Parse reads a duration in Go's units plus d (days) and w (weeks).
func Parse(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty duration: want one like 90m, 36h, 7d or 2w")
	}
	neg := strings.HasPrefix(in, "-")
	rest := strings.TrimPrefix(strings.TrimPrefix(in, "-"), "+")
	if rest == "0" {
		return 0, nil
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] == '.' || rest[j] >= '0' && rest[j] <= '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		if num == "" || unit == "" {
			return 0, badDuration(s)
		}
		var d time.Duration
		switch unit {
		case "d", "w":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, badDuration(s)
			}
			per := day
			if unit == "w" {
				per = week
			}
			if f*float64(per) > float64(1<<63-1) {
				return 0, fmt.Errorf("duration %q is too long", s)
			}
			d = time.Duration(f * float64(per))
		default:
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, badDuration(s)
			}
		}
		if total > (1<<63-1)-d {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += d
		rest = rest[j:]
	}
	if neg {
		total = -total
	}
	return total, nil
}

func badDuration(s string) error {
	return fmt.Errorf("%q is not a duration: want one like 90m, 36h, 7d, 2w or 1d12h", s)
}

// Format writes d the way Parse reads it, in the largest
// whole unit: 2w, 7d, 36h, 90m; other values as Go writes them.
func Format(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%week == 0:
		return fmt.Sprintf("%dw", d/week)
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
