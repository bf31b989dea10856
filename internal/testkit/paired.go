package testkit

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// Paired benchmarks measure ours against a baseline in the same run: one
// run of each per pair, the one that goes first alternating pair to pair,
// so both see the same load on the machine. A ratio taken pair by pair
// holds when other load shifts absolute timings (this machine's drift by
// 2× between runs); read the median of the pair ratios with its spread.

// Pairs is what a paired benchmark measured: one time of ours and one of
// the baseline per pair, in pair order.
type Pairs struct {
	Ours, Base []time.Duration
	baseFirst  bool
}

// Run times one pair. ours and base each return the time they measured
// (see Timed); ours goes first on the first call, base on the next, and
// so on.
func (p *Pairs) Run(ours, base func() time.Duration) {
	var o, s time.Duration
	if p.baseFirst {
		s = base()
		o = ours()
	} else {
		o = ours()
		s = base()
	}
	p.baseFirst = !p.baseFirst
	p.Ours, p.Base = append(p.Ours, o), append(p.Base, s)
}

// Pair runs warm unmeasured pairs (connections, caches, lazily built
// state), then one pair per b.Loop iteration.
func Pair(b *testing.B, warm int, ours, base func() time.Duration) *Pairs {
	b.Helper()
	var w Pairs
	for range warm {
		w.Run(ours, base)
	}
	p := new(Pairs)
	for b.Loop() {
		p.Run(ours, base)
	}
	return p
}

// Timed returns a function that times n calls of f.
func Timed(n int, f func()) func() time.Duration {
	return func() time.Duration {
		t0 := time.Now()
		for range n {
			f()
		}
		return time.Since(t0)
	}
}

// Ratios is ours/base for each pair.
func (p *Pairs) Ratios() []float64 {
	rs := make([]float64, len(p.Ours))
	for i := range rs {
		rs[i] = float64(p.Ours[i]) / float64(p.Base[i])
	}
	return rs
}

// ReportX reports the median of the pair ratios ours/base as "x" (1: ours
// costs what the baseline does; 2: it takes twice as long) and their
// spread, the 10th and 90th percentiles, as "x-p10" and "x-p90".
func (p *Pairs) ReportX(b *testing.B) {
	b.Helper()
	rs := p.Ratios()
	b.ReportMetric(Quantile(rs, 0.5), "x")
	b.ReportMetric(Quantile(rs, 0.1), "x-p10")
	b.ReportMetric(Quantile(rs, 0.9), "x-p90")
}

// PairRatios is the usual paired benchmark: after one warm call of each,
// it times ours and base over batches of batch calls, one batch of each
// per pair (Pair), and reports the pair ratios (ReportX) and the median
// time of one call of each as "ours-<unit>" and "base-<unit>" (unit
// time.Nanosecond: "ours-ns"). ns/op is the time of one pair of batches
// and means little on its own.
func PairRatios(b *testing.B, ours, base func(), batch int, unit time.Duration) *Pairs {
	b.Helper()
	ours() // warm up lazily built state before the first pair
	base()
	p := Pair(b, 0, Timed(batch, ours), Timed(batch, base))
	p.ReportX(b)
	perCall := func(ds []time.Duration) float64 {
		return Quantile(Floats(ds, func(d time.Duration) float64 { return float64(d) / float64(batch) / float64(unit) }), 0.5)
	}
	b.ReportMetric(perCall(p.Ours), "ours-"+unitName(unit))
	b.ReportMetric(perCall(p.Base), "base-"+unitName(unit))
	return p
}

// ReportQuantiles reports, for each q, the q-quantile of ds in unit as
// "<name>-p<100q>-<unit>": ReportQuantiles(b, "direct", ds,
// time.Microsecond, 0.5, 0.99) reports "direct-p50-µs" and
// "direct-p99-µs".
func ReportQuantiles(b *testing.B, name string, ds []time.Duration, unit time.Duration, qs ...float64) {
	b.Helper()
	xs := Floats(ds, func(d time.Duration) float64 { return float64(d) / float64(unit) })
	for _, q := range qs {
		b.ReportMetric(Quantile(xs, q), fmt.Sprintf("%s-p%.0f-%s", name, math.Round(q*100), unitName(unit)))
	}
}

// MedianMBps is the median rate, in MB/s, of moving size bytes in each of
// ds.
func MedianMBps(ds []time.Duration, size int64) float64 {
	return Quantile(Floats(ds, func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }), 0.5)
}

// Floats maps ds through f.
func Floats(ds []time.Duration, f func(time.Duration) float64) []float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = f(d)
	}
	return xs
}

// Quantile is the q-quantile of xs by nearest rank (0 for none); xs is
// left as it is.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func unitName(unit time.Duration) string {
	switch unit {
	case time.Nanosecond:
		return "ns"
	case time.Microsecond:
		return "µs"
	case time.Millisecond:
		return "ms"
	case time.Second:
		return "s"
	}
	panic(fmt.Sprintf("testkit: no metric name for the unit %v", unit))
}
