package resume

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// seedFile is a real home file, made by Prepare on an in-memory vault.
func seedFile(t testing.TB) []byte {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Create(ctx, vault.Config{Store: dssync.MutexWrap(ds.NewMapDatastore())}, []byte("pw"), vault.TestKDF(), "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/resume"
	if _, err := Prepare(ctx, v, testkit.Key(t, "alice"), path, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseFile: the home file's decoder either refuses, with ErrDamaged
// or ErrFormat, or gives a file that encodes back to the same bytes.
func FuzzParseFile(f *testing.F) {
	b := seedFile(f)
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte(magic))
	f.Add([]byte("OCMTRSM\x02"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseFile(b)
		if err != nil {
			if got != nil {
				t.Fatal("a refusal returned a file")
			}
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrFormat) {
				t.Fatalf("refusal %v is neither ErrDamaged nor ErrFormat", err)
			}
			return
		}
		if again := got.marshal(); !bytes.Equal(again, b) {
			t.Fatal("a parsed file does not encode back")
		}
	})
}

// FuzzResumeHalf: any bytes as the wake message's half are refused
// without unlocking, and never remove the file (only a used or expired
// resume, or an altered file, does).
func FuzzResumeHalf(f *testing.F) {
	ctx := context.Background()
	v, err := vault.Create(ctx, vault.Config{Store: dssync.MutexWrap(ds.NewMapDatastore())}, []byte("pw"), vault.TestKDF(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	self := testkit.Key(f, "alice")
	path := f.TempDir() + "/resume"
	half, err := Prepare(ctx, v, self, path, time.Now().Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	v.Close()
	f.Add(half[:len(half)-1])
	f.Add(append(bytes.Clone(half[:100]), half[101:]...))
	f.Add([]byte("age-encryption.org/v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Equal(b, half) {
			return
		}
		err := Resume(ctx, v, self, path, b, time.Now())
		if !errors.Is(err, ErrBadHalf) && !errors.Is(err, ErrOtherHibernation) {
			t.Fatalf("Resume with %d fuzzed bytes = %v", len(b), err)
		}
		if !v.Locked() {
			t.Fatal("fuzzed half unlocked the vault")
		}
		if _, ok := Pending(path); !ok {
			t.Fatal("a fuzzed half removed the resume file")
		}
	})
}
