package testkit

import (
	"flag"
	"slices"
	"testing"
	"time"
)

// benchN runs f as a benchmark of exactly n iterations.
func benchN(t *testing.T, n string, f func(b *testing.B)) testing.BenchmarkResult {
	t.Helper()
	fl := flag.Lookup("test.benchtime")
	old := fl.Value.String()
	if err := fl.Value.Set(n); err != nil {
		t.Fatal(err)
	}
	defer fl.Value.Set(old)
	return testing.Benchmark(f)
}

func TestPairsAlternateWhoGoesFirst(t *testing.T) {
	var order []string
	var p Pairs
	for range 4 {
		p.Run(func() time.Duration { order = append(order, "ours"); return 3 }, func() time.Duration { order = append(order, "base"); return 2 })
	}
	want := []string{"ours", "base", "base", "ours", "ours", "base", "base", "ours"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if len(p.Ours) != 4 || len(p.Base) != 4 || p.Ours[1] != 3 || p.Base[1] != 2 {
		t.Fatalf("pairs %+v", p)
	}
}

func TestQuantileIsNearestRankAndLeavesItsInput(t *testing.T) {
	xs := []float64{9, 1, 8, 2, 7, 3, 6, 4, 5, 10}
	for q, want := range map[float64]float64{0: 1, 0.1: 2, 0.5: 6, 0.9: 10, 1: 10} {
		if got := Quantile(xs, q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if xs[0] != 9 {
		t.Error("Quantile sorted its input")
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("the quantile of nothing is not 0")
	}
}

func TestPairReportsTheRatiosOfEachPair(t *testing.T) {
	var p *Pairs
	r := benchN(t, "20x", func(b *testing.B) {
		// ours takes 1, 2, 3... ms, base always 1 ms: after 3 warm pairs
		// the ratios are 4 to 23.
		i := 0
		p = Pair(b, 3, func() time.Duration { i++; return time.Duration(i) * time.Millisecond }, func() time.Duration { return time.Millisecond })
		p.ReportX(b)
		ReportQuantiles(b, "ours", p.Ours, time.Millisecond, 0.5, 0.99)
	})
	if len(p.Ours) != 20 || len(p.Base) != 20 {
		t.Fatalf("%d and %d pairs after 20 iterations and 3 warm ones", len(p.Ours), len(p.Base))
	}
	for name, want := range map[string]float64{"x": 14, "x-p10": 6, "x-p90": 22, "ours-p50-ms": 14, "ours-p99-ms": 23} {
		if got := r.Extra[name]; got != want {
			t.Errorf("%s = %v, want %v (all: %v)", name, got, want, r.Extra)
		}
	}
	if got := MedianMBps(p.Base, 2e6); got != 2000 {
		t.Errorf("2 MB in 1 ms is %v MB/s", got)
	}
}

func TestPairRatiosTimesBatchesOfRealCalls(t *testing.T) {
	var ours, base int
	r := benchN(t, "10x", func(b *testing.B) {
		ours, base = 0, 0
		PairRatios(b, func() { ours++ }, func() { base++ }, 7, time.Nanosecond)
	})
	if ours != 1+10*7 || base != 1+10*7 {
		t.Fatalf("ours ran %d times and base %d, want one warm call and 10 batches of 7 each", ours, base)
	}
	for _, name := range []string{"x", "x-p10", "x-p90", "ours-ns", "base-ns"} {
		if r.Extra[name] <= 0 {
			t.Errorf("%s = %v (all: %v)", name, r.Extra[name], r.Extra)
		}
	}
	if !(r.Extra["x-p10"] <= r.Extra["x"] && r.Extra["x"] <= r.Extra["x-p90"]) {
		t.Errorf("the median is outside its spread: %v", r.Extra)
	}
}
