package group

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// canary is a secret value that must never show in an error or a string.
const canary = "CANARY-4f1e-do-not-print"

func groupKey(t testing.TB, name string) *Key {
	t.Helper()
	var ids []peer.ID
	for i := range 3 {
		ids = append(ids, testkit.Key(t, fmt.Sprintf("admin-%d", i)).ID())
	}
	_, k, err := Deal(rand.Reader, name, 2, ids)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestASecretOpensOnlyWhereItWasSealed(t *testing.T) {
	k := groupKey(t, "board")
	release := testkit.Epoch.Add(90*24*time.Hour + 500*time.Millisecond)
	sealed, err := SealSecret(k, "board", "bank/login", release, []byte(canary))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(canary)) {
		t.Fatal("the sealed bytes hold the value")
	}
	v, rel, err := OpenSecret(k, "board", "bank/login", sealed)
	if err != nil || string(v) != canary || !rel.Equal(release.Truncate(time.Second)) {
		t.Fatalf("open: %q %v %v", v, rel, err)
	}
	again, _ := SealSecret(k, "board", "bank/login", release, []byte(canary))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are the same bytes")
	}
	none, err := SealSecret(k, "board", "wifi", time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, rel, err := OpenSecret(k, "board", "wifi", none); err != nil || len(v) != 0 || !rel.IsZero() {
		t.Fatalf("an empty secret with no release: %q %v %v", v, rel, err)
	}

	other := groupKey(t, "board") // another dealing of a group of the same name
	var altered sealedWire
	if err := wire.UnmarshalCanonical(sealed, &altered); err != nil {
		t.Fatal(err)
	}
	altered.Release++
	laterRelease, _ := wire.Marshal(altered)
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	var errs []error
	for name, open := range map[string]func() error{
		"another group's key":  func() error { _, _, err := OpenSecret(other, "board", "bank/login", sealed); return err },
		"another group's name": func() error { _, _, err := OpenSecret(k, "family", "bank/login", sealed); return err },
		"another secret name":  func() error { _, _, err := OpenSecret(k, "board", "bank/login2", sealed); return err },
		"an altered release":   func() error { _, _, err := OpenSecret(k, "board", "bank/login", laterRelease); return err },
		"an altered byte":      func() error { _, _, err := OpenSecret(k, "board", "bank/login", flipped); return err },
		"the release removed": func() error {
			altered.Release = 0
			b, _ := wire.Marshal(altered)
			_, _, err := OpenSecret(k, "board", "bank/login", b)
			return err
		},
	} {
		err := open()
		testkit.Sentence(t, name, err, "does not open with group", ErrSealed)
		errs = append(errs, err)
	}
	// One error: the same words whatever was wrong, but for the names
	// the caller gave.
	for _, err := range errs {
		if strings.Contains(err.Error(), canary) || errors.Is(err, ErrMalformed) {
			t.Fatalf("%v", err)
		}
	}
}

func TestSecretErrorsAndStringsNeverHoldTheValue(t *testing.T) {
	k := groupKey(t, "board")
	big := bytes.Repeat([]byte(canary), MaxSecretBytes/len(canary)+1)
	_, err := SealSecret(k, "board", "big", time.Time{}, big)
	testkit.Sentence(t, "a secret over the limit", err, "at most 65536", ErrTooLarge)
	if _, err := SealSecret(k, "board", "big", time.Time{}, big[:MaxSecretBytes]); err != nil {
		t.Fatalf("a secret at the limit: %v", err)
	}
	_, err = SealSecret(k, "board", "bad name", time.Time{}, []byte(canary))
	testkit.Sentence(t, "a bad name", err, "holds only letters", ErrBadName)
	_, err = SealSecret(k, "Board", "x", time.Time{}, []byte(canary))
	testkit.Sentence(t, "a bad group", err, "a group's name", ErrBadDealing)
	_, err = SealSecret(k, "board", "x", time.Unix(-5, 0), []byte(canary))
	testkit.Sentence(t, "a release before 1970", err, "release time", ErrMalformed)
	wiped := *k
	wiped.Wipe()
	_, err = SealSecret(&wiped, "board", "x", time.Time{}, []byte(canary))
	testkit.Sentence(t, "a wiped key", err, "key is not held", ErrLocked)
	_, _, err = OpenSecret(nil, "board", "x", mustSeal(t, k, "x"))
	testkit.Sentence(t, "no key", err, "key is not held", ErrLocked)
	for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%#v", *k), fmt.Sprintf("%+v", *k)} {
		if strings.Contains(s, canary) || strings.Contains(s, fmt.Sprintf("%x", k.Bytes()[:4])) {
			t.Fatalf("the key prints as %q", s)
		}
	}
	for _, b := range [][]byte{nil, {0xa0}, mustSeal(t, k, "x")[:10]} {
		_, _, err := OpenSecret(k, "board", "x", b)
		testkit.Sentence(t, "bytes that are no sealed secret", err, "the sealed secret", ErrMalformed)
	}
}

func mustSeal(t testing.TB, k *Key, name string) []byte {
	t.Helper()
	b, err := SealSecret(k, "board", name, time.Time{}, []byte(canary))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSecretNames(t *testing.T) {
	for _, ok := range []string{"a", "bank/login", "A.b_c-d/e.f", ".env", "x/./y", strings.Repeat("n", MaxSecretNameLen)} {
		if err := CheckSecretName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/root", "dir/", "a//b", "a/../b", "..", "a b", "é", "a\x00", "a\\b", "a:b", strings.Repeat("n", MaxSecretNameLen+1)} {
		testkit.Sentence(t, fmt.Sprintf("%q", bad), CheckSecretName(bad), "a secret's name", ErrBadName)
	}
}

// TestASealedSecretIsTheSpecs opens a sealed secret from doc.go's
// "Secrets" alone: the subkey, the additional data and the map.
func TestASealedSecretIsTheSpecs(t *testing.T) {
	k := groupKey(t, "board")
	release := testkit.Epoch
	sealed := must(SealSecret(k, "board", "db/root", release, []byte(canary)))
	var m map[uint64]any
	if err := wire.Unmarshal(sealed, &m); err != nil || len(m) != 4 || m[1] != uint64(1) || m[2] != uint64(release.Unix()) {
		t.Fatalf("the sealed map: %v %v", m, err)
	}
	sub, _ := hkdf.Key(sha256.New, k.Bytes(), nil, "ocmt-mesh/group-secret/v1", 32)
	aead, _ := chacha20poly1305.NewX(sub)
	bound, _ := wire.Marshal(map[uint64]any{1: "board", 2: "db/root", 3: release.Unix()})
	v, err := aead.Open(nil, m[3].([]byte), m[4].([]byte), append([]byte("ocmt-mesh/group-secret/v1\x00"), bound...))
	if err != nil || string(v) != canary {
		t.Fatalf("doc.go's recipe does not open the secret: %v", err)
	}
	if len(sealed) > maxSealedSecretBytes {
		t.Fatal("a small secret is over the bound")
	}
	largest := must(SealSecret(k, "board", strings.Repeat("n", MaxSecretNameLen), time.Unix(maxUnix, 0), make([]byte, MaxSecretBytes)))
	if len(largest) > maxSealedSecretBytes {
		t.Fatalf("the largest sealed secret takes %d bytes", len(largest))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
