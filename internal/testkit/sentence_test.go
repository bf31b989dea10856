package testkit

import (
	"errors"
	"fmt"
	"testing"
)

// recorder is a testing.TB that records what it is told to report.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestSentenceCatchesInternalsAndLostSentinels(t *testing.T) {
	sentinel := errors.New("gone")
	for _, c := range []struct {
		err   error
		fails int
	}{
		{fmt.Errorf("alice's node is offline: %w", sentinel), 0},
		{nil, 1},
		{errors.New("alice's node is offline"), 1},                          // the sentinel is lost
		{fmt.Errorf("wire: dial alice's node is offline: %w", sentinel), 2}, // two internals
		{fmt.Errorf("bob refused: %w", sentinel), 1},                        // does not say what it should
	} {
		r := &recorder{TB: t}
		Sentence(r, "case", c.err, "alice's node is offline", sentinel)
		if len(r.errs) != c.fails {
			t.Errorf("%v: %d failures %q, want %d", c.err, len(r.errs), r.errs, c.fails)
		}
	}
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	panic(r)
}

// fatal reports whether f stopped on a Fatalf of a recorder.
func fatal(f func()) (stopped bool) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(*recorder); !ok {
				panic(p)
			}
			stopped = true
		}
	}()
	f()
	return false
}
