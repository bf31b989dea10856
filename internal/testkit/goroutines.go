package testkit

import (
	"runtime"
	"testing"
	"time"
)

// settledFor is how long the goroutine count must hold still for
// SettledGoroutines to take it as the baseline.
const settledFor = 100 * time.Millisecond

// SettledGoroutines waits until the goroutine count has not changed for
// 100ms (what a host or a service started earlier in the test spawns has
// started or ended) and returns it, the baseline for GoroutinesDropTo. It
// fails the test if the count is still moving after within.
func SettledGoroutines(t testing.TB, within time.Duration) int {
	t.Helper()
	n, since := runtime.NumGoroutine(), time.Now()
	settled := Poll(within, func() bool {
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		}
		return time.Since(since) >= settledFor
	})
	if !settled {
		t.Fatalf("the goroutine count (%d) did not hold still for %v within %v", n, settledFor, within)
	}
	return n
}

// GoroutinesDropTo waits until at most n goroutines run (what was
// stopped has exited), failing the test with every goroutine's stack if
// more still run after within.
func GoroutinesDropTo(t testing.TB, within time.Duration, n int) {
	t.Helper()
	if Poll(within, func() bool { return runtime.NumGoroutine() <= n }) {
		return
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf("%d goroutines after %v, want at most %d:\n%s", runtime.NumGoroutine(), within, n, buf)
}
