package legacy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/vault"
)

// opened is n sample secrets through a real export (sealed, parsed, opened).
func opened(t *testing.T, n int) []Plain {
	t.Helper()
	ps, err := parse(t, makeExport(t, n, lowPBKDF2)).Open([]byte(pwCanary))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { WipeAll(ps) })
	return ps
}

// holdsAll checks that v holds every secret of ps under its name.
func holdsAll(t *testing.T, v *vault.Vault, ps []Plain) {
	t.Helper()
	ctx := context.Background()
	for i := range ps {
		got, err := v.GetSecret(ctx, ps[i].Name, "test")
		if err != nil {
			t.Fatalf("%s: %v", ps[i].Name, err)
		}
		want := ps[i].Secret()
		if !equalSecret(&got, &want) {
			t.Fatalf("%s differs from the export", ps[i].Name)
		}
		got.Wipe()
	}
}

func TestAnImportWritesEverySecretAndARerunNothing(t *testing.T) {
	ctx := context.Background()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	v := newVault(t, store)
	ps := opened(t, 30)
	var seen []int
	rep, err := Import(ctx, vaultTarget{v}, ps, Options{Progress: func(r Report) { seen = append(seen, r.Done) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 30 || rep.Already != 0 || rep.Skipped != 0 || rep.Total != 30 || rep.Done != 30 {
		t.Fatalf("report %+v", rep)
	}
	if len(seen) != 30 || seen[29] != 30 {
		t.Fatalf("progress calls %v", seen)
	}
	holdsAll(t, v, ps)
	again, err := Import(ctx, vaultTarget{v}, ps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Imported != 0 || again.Already != 30 {
		t.Fatalf("a re-run: %+v, want everything already there", again)
	}
	// Nothing in the store is the value in the clear.
	res, err := store.Query(ctx, dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := res.Rest()
	for _, e := range all {
		if bytes.Contains(e.Value, []byte(valueCanary)) {
			t.Fatalf("%s holds a value in the clear", e.Key)
		}
	}
}

func TestADryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, nil)
	ps := opened(t, 12)
	if err := v.PutSecret(ctx, vault.Secret{Name: ps[0].Name, Type: vault.TypeNote, Value: []byte("mine")}, "test"); err != nil {
		t.Fatal(err)
	}
	before, _, err := v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Import(ctx, vaultTarget{v}, ps, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 12 || rep.Renamed != 1 || rep.RenamedNames[0] != ps[0].Name+RenameSuffix {
		t.Fatalf("dry run report %+v", rep)
	}
	list, _ := v.ListSecrets(ctx)
	if len(list) != 1 {
		t.Fatalf("the vault holds %d secrets after a dry run, want the 1 it had", len(list))
	}
	after, _, _ := v.VerifyAudit(ctx)
	for _, r := range after[len(before):] {
		if r.Op == vault.OpSecretWrite {
			t.Fatalf("a dry run wrote: %+v", r)
		}
	}
}

func TestANameConflictIsNeverOverwrittenSilently(t *testing.T) {
	ctx := context.Background()
	mine := []byte("the node's own value")
	setup := func(t *testing.T) (*vault.Vault, []Plain) {
		v := newVault(t, nil)
		ps := opened(t, 5)
		if err := v.PutSecret(ctx, vault.Secret{Name: ps[1].Name, Type: ps[1].Type, Provider: ps[1].Provider, Value: mine}, "test"); err != nil {
			t.Fatal(err)
		}
		return v, ps
	}
	value := func(v *vault.Vault, name string) []byte {
		s, err := v.GetSecret(ctx, name, "test")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s.Value
	}
	t.Run("by default the legacy one is imported as NAME.legacy, once", func(t *testing.T) {
		v, ps := setup(t)
		rep, err := Import(ctx, vaultTarget{v}, ps, Options{})
		if err != nil {
			t.Fatal(err)
		}
		alt := ps[1].Name + RenameSuffix
		if rep.Imported != 5 || rep.Renamed != 1 || rep.RenamedNames[0] != alt {
			t.Fatalf("report %+v", rep)
		}
		if !bytes.Equal(value(v, ps[1].Name), mine) || !bytes.Equal(value(v, alt), ps[1].Value) {
			t.Fatal("the node's secret was changed, or the legacy one not kept under the new name")
		}
		again, err := Import(ctx, vaultTarget{v}, ps, Options{})
		if err != nil || again.Already != 5 || again.Imported != 0 {
			t.Fatalf("re-run: %+v, %v", again, err)
		}
	})
	t.Run("skip keeps the node's and imports the rest", func(t *testing.T) {
		v, ps := setup(t)
		rep, err := Import(ctx, vaultTarget{v}, ps, Options{OnConflict: Skip})
		if err != nil || rep.Imported != 4 || rep.Skipped != 1 || rep.SkippedNames[0] != ps[1].Name {
			t.Fatalf("report %+v, %v", rep, err)
		}
		if !bytes.Equal(value(v, ps[1].Name), mine) {
			t.Fatal("skip changed the node's secret")
		}
	})
	t.Run("overwrite replaces it, only when asked", func(t *testing.T) {
		v, ps := setup(t)
		rep, err := Import(ctx, vaultTarget{v}, ps, Options{OnConflict: Overwrite})
		if err != nil || rep.Imported != 5 || rep.Overwritten != 1 {
			t.Fatalf("report %+v, %v", rep, err)
		}
		if !bytes.Equal(value(v, ps[1].Name), ps[1].Value) {
			t.Fatal("overwrite did not replace it")
		}
	})
	t.Run("a rename whose name is taken too is skipped", func(t *testing.T) {
		v, ps := setup(t)
		if err := v.PutSecret(ctx, vault.Secret{Name: ps[1].Name + RenameSuffix, Type: vault.TypeNote, Value: []byte("other")}, "test"); err != nil {
			t.Fatal(err)
		}
		rep, err := Import(ctx, vaultTarget{v}, ps, Options{})
		if err != nil || rep.Imported != 4 || rep.Skipped != 1 {
			t.Fatalf("report %+v, %v", rep, err)
		}
	})
	t.Run("a rename never takes another record's name, so a re-run decides the same", func(t *testing.T) {
		v, ps := setup(t)
		ps[2].Name = ps[1].Name + RenameSuffix
		for range 2 {
			rep, err := Import(ctx, vaultTarget{v}, ps, Options{})
			if err != nil || rep.Skipped != 1 || rep.SkippedNames[0] != ps[1].Name || rep.Imported+rep.Already != 4 {
				t.Fatalf("report %+v, %v", rep, err)
			}
		}
	})
}

// crashingTarget fails every write after the first n, as a killed
// process stops writing.
type crashingTarget struct {
	vaultTarget
	n int
}

var errCrash = errors.New("the process died")

func (c *crashingTarget) SecretSet(ctx context.Context, s vault.Secret) error {
	if c.n == 0 {
		return errCrash
	}
	c.n--
	return c.vaultTarget.SecretSet(ctx, s)
}

func TestAnInterruptedImportResumes(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, nil)
	ps := opened(t, 25)
	rep, err := Import(ctx, &crashingTarget{vaultTarget{v}, 10}, ps, Options{})
	if !errors.Is(err, errCrash) || rep.Imported != 10 {
		t.Fatalf("interrupted: %+v, %v", rep, err)
	}
	rep, err = Import(ctx, vaultTarget{v}, ps, Options{})
	if err != nil || rep.Already != 10 || rep.Imported != 15 {
		t.Fatalf("resumed: %+v, %v", rep, err)
	}
	holdsAll(t, v, ps)
}

// lyingTarget returns another value than was written.
type lyingTarget struct{ vaultTarget }

func (l lyingTarget) SecretGet(ctx context.Context, name string) (vault.Secret, error) {
	s, err := l.vaultTarget.SecretGet(ctx, name)
	if err == nil {
		s.Value[0] ^= 1
	}
	return s, err
}

func TestAWriteThatDoesNotReadBackStopsTheImport(t *testing.T) {
	v := newVault(t, nil)
	ps := opened(t, 3)
	rep, err := Import(context.Background(), lyingTarget{vaultTarget{v}}, ps, Options{})
	if !errors.Is(err, ErrVerify) || rep.Imported != 0 || strings.Contains(err.Error(), valueCanary) {
		t.Fatalf("Import = %+v, %v", rep, err)
	}
}

func TestACancelledImportStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	v := newVault(t, nil)
	ps := opened(t, 5)
	rep, err := Import(ctx, vaultTarget{v}, ps, Options{Progress: func(r Report) {
		if r.Done == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || rep.Imported != 2 {
		t.Fatalf("Import = %+v, %v", rep, err)
	}
}

func TestParseOnConflict(t *testing.T) {
	for s, want := range map[string]OnConflict{"rename": Rename, "skip": Skip, "overwrite": Overwrite} {
		if got, err := ParseOnConflict(s); err != nil || got != want {
			t.Fatalf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseOnConflict("merge"); err == nil {
		t.Fatal("merge accepted")
	}
}
