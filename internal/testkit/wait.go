package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// pollEvery is how often Eventually re-checks its condition: short enough
// to add little latency, long enough not to steal a loaded core.
const pollEvery = 5 * time.Millisecond

// Eventually checks cond until it holds, failing the test with what
// (formatted with args) if it still does not hold after within. Use it for
// every wait on something another goroutine or process makes happen.
func Eventually(t testing.TB, within time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	if !Poll(within, cond) {
		t.Fatalf("still not the case after %v: %s", within, fmt.Sprintf(what, args...))
	}
}

// Poll checks cond until it holds or within passes, and reports whether
// it held. For benchmarks and helpers that decide themselves what a
// timeout means.
func Poll(within time.Duration, cond func() bool) bool {
	return PollEvery(within, pollEvery, cond)
}

// PollEvery is Poll checking every `every`: for a condition that costs a
// request or a child process's answer, which a 5 ms poll would flood.
func PollEvery(within, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// Within waits for ch to yield a value, failing the test with what if it
// does not within d.
func Within[T any](t testing.TB, d time.Duration, ch <-chan T, what string, args ...any) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("nothing after %v: %s", d, fmt.Sprintf(what, args...))
		panic("unreachable")
	}
}

// Never checks for d that cond does not become true (a refusal that must
// hold, a message that must not arrive), failing the test if it does. It
// is the one fixed wait allowed: the thing waited for is an absence.
func Never(t testing.TB, d time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	if Poll(d, cond) {
		t.Fatalf("happened within %v, and must not: %s", d, fmt.Sprintf(what, args...))
	}
}

// Each runs f(0), …, f(n-1) on `workers` goroutines and fails the test
// with the first error (naming its item) once all have run: many
// identities set up at once without a goroutine each.
func Each(t testing.TB, workers, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- fmt.Errorf("item %d: %w", i, err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
