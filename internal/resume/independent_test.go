package resume

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// resumeVector is one resume: the home file and the waker's half given to
// Resume, and what Resume makes of them (testdata/README.md).
type resumeVector struct {
	Name      string `json:"name"`
	File      string `json:"file,omitempty"`   // hex of the home file
	NoFile    bool   `json:"nofile,omitempty"` // no file at all
	Half      string `json:"half,omitempty"`   // hex of the sealed half
	Seed      string `json:"seed"`             // the node's Ed25519 seed
	VaultID   string `json:"vault_id"`         // the resuming vault's ID
	Now       int64  `json:"now"`              // unix nanoseconds
	Want      string `json:"want"`             // ok or an error name
	Kept      bool   `json:"kept"`             // the file is still there after
	ResumeKey string `json:"resume_key,omitempty"`
}

// resumeErrName is the error's name in the vectors.
func resumeErrName(err error) string {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"NoResume", ErrNoResume}, {"Damaged", ErrDamaged}, {"Format", ErrFormat}, {"BadHalf", ErrBadHalf},
		{"OtherHibernation", ErrOtherHibernation}, {"OtherVault", vault.ErrResumeOtherVault}, {"Expired", vault.ErrResumeExpired},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other: " + err.Error()
}

// vecHibernation is one hibernation's home file and waker's half, built
// as Prepare builds them but at a fixed clock, so the vectors are the same
// on every run.
type vecHibernation struct {
	file []byte
	r    [KeySize]byte
	hib  [HibernationIDSize]byte
	w    [KeySize]byte
}

func vecHibernate(t *testing.T, v *vault.Vault, until time.Time) *vecHibernation {
	t.Helper()
	h := &vecHibernation{}
	f := &file{until: until.UnixNano()}
	copy(f.vaultID[:], v.ID())
	rand.Read(h.r[:])
	rand.Read(h.hib[:])
	rand.Read(f.half[:])
	f.hibID = h.hib
	for i := range h.w {
		h.w[i] = h.r[i] ^ f.half[i]
	}
	var err error
	if f.wrap, err = v.WrapForResume(context.Background(), &h.r, until, ActorHibernate); err != nil {
		t.Fatal(err)
	}
	f.tag = f.tagFor(&h.r)
	h.file = f.marshal()
	return h
}

// halfOf seals plaintext to the peer key k, as Prepare seals the waker's half.
func halfOf(t *testing.T, k *keys.PeerKey, pt []byte) []byte {
	t.Helper()
	b, err := peerseal.Seal([]peer.ID{k.ID()}, pt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func plaintext(version byte, hib [HibernationIDSize]byte, w [KeySize]byte) []byte {
	return append(append([]byte{version}, hib[:]...), w[:]...)
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func buildResumeVectors(t *testing.T) []resumeVector {
	cryptotest.SetGlobalRandom(t, 2026)
	ctx := context.Background()
	now := testkit.Epoch
	newVault := func() *vault.Vault {
		v, err := vault.Create(ctx, vault.Config{Store: dssync.MutexWrap(ds.NewMapDatastore()), Now: func() time.Time { return now }},
			[]byte("pw"), vault.TestKDF(), "test")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	va, vb := newVault(), newVault()
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	seed := sha256.Sum256([]byte("ocmt-mesh test key alice"))
	until := now.Add(time.Hour)
	h := *vecHibernate(t, va, until)
	other := vecHibernate(t, va, until) // a later hibernation: its half is not h's
	good := halfOf(t, alice, plaintext(halfVersion, h.hib, h.w))
	if len(good) != 249 {
		t.Fatalf("a sealed half is %d bytes; doc.go says Prepare's are 249", len(good))
	}
	var w2 [KeySize]byte
	copy(w2[:], h.w[:])
	w2[0] ^= 1
	format2 := bytes.Clone(h.file)
	format2[7] = 2

	type c struct {
		name  string
		file  []byte
		none  bool
		half  []byte
		v     *vault.Vault
		at    time.Time
		isKey bool
	}
	cases := []c{
		{name: "a resume", file: h.file, half: good, v: va, at: now.Add(time.Minute), isKey: true},
		{name: "a resume one nanosecond before until", file: h.file, half: good, v: va, at: until.Add(-1), isKey: true},
		{name: "no file", none: true, half: good, v: va, at: now},
		{name: "at until", file: h.file, half: good, v: va, at: until},
		{name: "another vault", file: h.file, half: good, v: vb, at: now},
		{name: "another vault, and expired: the vault first", file: h.file, half: good, v: vb, at: until},
		{name: "expired, and a half sealed to another peer: the window first", file: h.file, half: halfOf(t, bob, plaintext(halfVersion, h.hib, h.w)), v: va, at: until},
		{name: "not a resume file (magic)", file: flip(h.file, 0), half: good, v: va, at: now},
		{name: "an empty file", file: []byte{}, half: good, v: va, at: now},
		{name: "the magic without its version", file: []byte("OCMTRSM"), half: good, v: va, at: now},
		{name: "format 2", file: format2, half: good, v: va, at: now},
		{name: "format 2, of another length", file: format2[:100], half: good, v: va, at: now},
		{name: "format 0", file: append([]byte("OCMTRSM\x00"), h.file[8:]...), half: good, v: va, at: now},
		{name: "one byte short", file: h.file[:FileSize-1], half: good, v: va, at: now},
		{name: "one byte too many", file: append(bytes.Clone(h.file), 0), half: good, v: va, at: now},
		{name: "the home half altered", file: flip(h.file, 8+16+8+16), half: good, v: va, at: now},
		{name: "the hibernation ID altered", file: flip(h.file, 8+16+8), half: good, v: va, at: now},
		{name: "the wrap's last byte altered", file: flip(h.file, FileSize-TagSize-1), half: good, v: va, at: now},
		{name: "the tag altered", file: flip(h.file, FileSize-1), half: good, v: va, at: now},
		{name: "a half sealed to another peer", file: h.file, half: halfOf(t, bob, plaintext(halfVersion, h.hib, h.w)), v: va, at: now},
		{name: "a half of another hibernation", file: h.file, half: halfOf(t, alice, plaintext(halfVersion, other.hib, other.w)), v: va, at: now},
		{name: "a half of version 2", file: h.file, half: halfOf(t, alice, plaintext(2, h.hib, h.w)), v: va, at: now},
		{name: "a half of 48 bytes", file: h.file, half: halfOf(t, alice, plaintext(halfVersion, h.hib, h.w)[:HalfPlaintextSize-1]), v: va, at: now},
		{name: "a half of 50 bytes", file: h.file, half: halfOf(t, alice, append(plaintext(halfVersion, h.hib, h.w), 0)), v: va, at: now},
		{name: "a half whose W is altered", file: h.file, half: halfOf(t, alice, plaintext(halfVersion, h.hib, w2)), v: va, at: now},
		{name: "a half cut by a byte", file: h.file, half: good[:len(good)-1], v: va, at: now},
		{name: "a half with a byte altered", file: h.file, half: flip(good, len(good)-1), v: va, at: now},
		{name: "no half", file: h.file, v: va, at: now},
		{name: "a half of 257 bytes", file: h.file, half: append(bytes.Clone(good), make([]byte, MaxSealedHalf+1-len(good))...), v: va, at: now},
		{name: "the other hibernation's own half", file: other.file, half: halfOf(t, alice, plaintext(halfVersion, other.hib, other.w)), v: va, at: now, isKey: true},
	}
	dir := t.TempDir()
	var out []resumeVector
	for _, cs := range cases {
		path := filepath.Join(dir, "resume")
		os.Remove(path)
		if !cs.none {
			if err := os.WriteFile(path, cs.file, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if !cs.v.Locked() {
			if err := cs.v.Lock(ctx, "test"); err != nil {
				t.Fatal(err)
			}
		}
		err := Resume(ctx, cs.v, alice, path, cs.half, cs.at)
		_, serr := os.Stat(path)
		v := resumeVector{Name: cs.name, NoFile: cs.none, Half: hex.EncodeToString(cs.half), Seed: hex.EncodeToString(seed[:]),
			VaultID: hex.EncodeToString(cs.v.ID()), Now: cs.at.UnixNano(), Want: resumeErrName(err), Kept: serr == nil}
		if !cs.none {
			v.File = hex.EncodeToString(cs.file)
		}
		if cs.isKey {
			if err != nil || cs.v.Locked() {
				t.Fatalf("%s: %v: the vector's resume must unlock the vault", cs.name, err)
			}
			src := h
			if cs.file != nil && bytes.Equal(cs.file, other.file) {
				src = *other
			}
			v.ResumeKey = hex.EncodeToString(src.r[:])
		}
		out = append(out, v)
	}
	return out
}

// TestResumeVectors writes (with -update) and checks testdata/vectors.json:
// every vector is what Resume makes of its file and half, on every run.
func TestResumeVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/vectors.json", *update, func() []resumeVector { return buildResumeVectors(t) })
	want := map[string]string{
		"a resume": "ok", "no file": "NoResume", "at until": "Expired", "another vault": "OtherVault",
		"format 2": "Format", "one byte short": "Damaged", "a half of another hibernation": "OtherHibernation",
		"a half sealed to another peer": "BadHalf", "the tag altered": "Damaged",
	}
	for _, v := range vs {
		if w, ok := want[v.Name]; ok && v.Want != w {
			t.Errorf("%s: %s, want %s", v.Name, v.Want, w)
		}
		if len(v.Want) > 6 && v.Want[:6] == "other:" {
			t.Errorf("%s: %s", v.Name, v.Want)
		}
	}
}

// TestIndependentResumeCheckerAgrees runs specs/resume/check.py, written
// from doc.go, on testdata/vectors.json: its outcome, whether the file is
// kept, and the resume key, for every vector.
func TestIndependentResumeCheckerAgrees(t *testing.T) {
	testkit.SpecCheck(t, "specs/resume/check.py")
}

// TestResumeVectorsPinEveryRule runs specs/resume/mutants.py: check.py with
// one rule of doc.go misread at a time must disagree with some vector each
// time.
func TestResumeVectorsPinEveryRule(t *testing.T) {
	if testing.Short() {
		t.Skip("the mutants run the checker about thirty times")
	}
	testkit.SpecCheck(t, "specs/resume/mutants.py")
}
