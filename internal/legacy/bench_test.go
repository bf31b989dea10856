package legacy

import (
	"context"
	"testing"
	"time"

	meshstore "github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// listless hides the vault's list from Import: a real run lists once
// for all its records, so in a benchmark of chunks it would be counted
// once per chunk, and grow with the vault.
type listless struct{ vaultTarget }

func (listless) SecretList(context.Context) ([]vault.SecretInfo, error) { return nil, nil }

// BenchmarkMigrate times the import of chunks of secrets (write, read
// back, compare) against bare vault writes (vault.PutSecret) of the same
// secrets into another vault, both on the home store on disk (fsync),
// interleaved pair by pair (testkit.PairRatios). "x" is migrate/bare;
// "migrate-secrets/s" and "bare-secrets/s" are the median throughputs.
// Decryption is outside the timing: it happens once, before the import
// (BenchmarkOpen times it).
func BenchmarkMigrate(b *testing.B) {
	const chunk = 20
	ctx := context.Background()
	open := func() *vault.Vault {
		s, err := meshstore.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return newVault(b, s)
	}
	mv, bv := open(), open()
	var ps []Plain
	next := 0
	batch := func() []Plain {
		if next+chunk > len(ps) {
			more, err := Sample(newSeeded(byte(len(ps))), len(ps)+4096, testNow)
			if err != nil {
				b.Fatal(err)
			}
			ps = more // same names from the start, longer: keep going past what is used
		}
		out := ps[next : next+chunk]
		next += chunk
		return out
	}
	var cur []Plain
	ours := func() {
		cur = batch()
		if _, err := Import(ctx, listless{vaultTarget{mv}}, cur, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	base := func() {
		for i := range cur {
			if err := bv.PutSecret(ctx, cur[i].Secret(), "bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	p := testkit.PairRatios(b, ours, base, 1, time.Millisecond)
	rate := func(ds []time.Duration) float64 {
		return testkit.Quantile(testkit.Floats(ds, func(d time.Duration) float64 { return chunk / d.Seconds() }), 0.5)
	}
	b.ReportMetric(rate(p.Ours), "migrate-secrets/s")
	b.ReportMetric(rate(p.Base), "bare-secrets/s")
}

// BenchmarkOpen times checking and decrypting an export of 1,000 secrets
// (KDF excluded: its cost is the file's choice) against opening the same
// sealed values with AES-GCM alone.
func BenchmarkOpen(b *testing.B) {
	e, err := ParseExport(makeExport(b, 1000, lowPBKDF2))
	if err != nil {
		b.Fatal(err)
	}
	k, err := deriveKeys(e.KDF, []byte(pwCanary))
	if err != nil {
		b.Fatal(err)
	}
	g := newGCM(&k.enc)
	ours := func() {
		for i := range e.Records {
			p, err := openRecord(g, &e.Records[i])
			if err != nil {
				b.Fatal(err)
			}
			p.Wipe()
		}
		if len(e.listMAC(k)) != macLen {
			b.Fatal("mac")
		}
	}
	base := func() {
		for i := range e.Records {
			r := &e.Records[i]
			pt, err := g.Open(nil, r.Value.IV, r.Value.Data, recordAAD(r, FieldValue))
			if err != nil {
				b.Fatal(err)
			}
			clear(pt)
		}
	}
	testkit.PairRatios(b, ours, base, 1, time.Microsecond)
}
