package resume

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

const canary = "sk-resume-canary-7f3a"

// node is a home node's home: a pebble store on disk holding its vault,
// the resume file's path and its peer key.
type node struct {
	t    *testing.T
	dir  string
	st   *store.Store
	v    *vault.Vault
	self *keys.PeerKey
	path string
	logs *syncBuf
}

func newNode(t *testing.T, name string) *node {
	t.Helper()
	n := &node{t: t, dir: t.TempDir(), self: testkit.Key(t, name), logs: &syncBuf{}}
	n.path = filepath.Join(n.dir, "resume")
	n.open()
	v, err := vault.Create(context.Background(), n.cfg(), []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	n.v = v
	if err := v.PutSecret(context.Background(), vault.Secret{Name: "api", Type: vault.TypeAPIKey, Value: []byte(canary)}, "test"); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) cfg() vault.Config {
	return vault.Config{Store: n.st, Logger: slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func (n *node) open() {
	st, err := store.Open(filepath.Join(n.dir, "store"))
	if err != nil {
		n.t.Fatal(err)
	}
	n.st = st
	n.t.Cleanup(func() { st.Close() })
}

// hibernate ends the process: the vault is dropped from memory and the
// store closed; wake opens both again, the vault locked.
func (n *node) hibernate() {
	n.t.Helper()
	n.v.Close()
	if err := n.st.Close(); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) wake() {
	n.t.Helper()
	n.open()
	v, err := vault.Open(context.Background(), n.cfg())
	if err != nil {
		n.t.Fatal(err)
	}
	n.v = v
	if !v.Locked() {
		n.t.Fatal("a woken vault is unlocked before the resume")
	}
}

func (n *node) prepare(window time.Duration) []byte {
	n.t.Helper()
	half, err := Prepare(context.Background(), n.v, n.self, n.path, time.Now().Add(window))
	if err != nil {
		n.t.Fatal(err)
	}
	return half
}

func (n *node) resume(half []byte, now time.Time) error {
	return Resume(context.Background(), n.v, n.self, n.path, half, now)
}

func (n *node) readSecret() error {
	s, err := n.v.GetSecret(context.Background(), "api", "test")
	if err == nil && string(s.Value) != canary {
		n.t.Fatalf("secret = %q", s.Value)
	}
	return err
}

func (n *node) fileExists() bool {
	_, err := os.Stat(n.path)
	return err == nil
}

func (n *node) file() *file {
	n.t.Helper()
	f, err := readFile(n.path)
	if err != nil {
		n.t.Fatal(err)
	}
	return f
}

func (n *node) audit() []vault.AuditRecord {
	n.t.Helper()
	recs, err := vault.ReadAudit(context.Background(), n.st)
	if err != nil {
		n.t.Fatal(err)
	}
	return recs
}

// wakerHalf opens the sealed half with the node's key: what an attacker
// holding the relay's store and the node's peer key would have.
func wakerHalf(t *testing.T, self *keys.PeerKey, sealed []byte) []byte {
	t.Helper()
	pt, err := peerseal.Open(self, sealed)
	if err != nil || len(pt) != HalfPlaintextSize {
		t.Fatalf("opening the half: %v", err)
	}
	return pt[1+HibernationIDSize:]
}

func TestResumeRoundTrip(t *testing.T) {
	n := newNode(t, "alice")
	start := time.Now()
	until := start.Add(DefaultWindow)
	half, err := Prepare(context.Background(), n.v, n.self, n.path, until)
	if err != nil {
		t.Fatal(err)
	}
	if len(half) != 249 || len(half) > MaxSealedHalf {
		t.Errorf("the sealed half is %d bytes, want 249 (at most %d)", len(half), MaxSealedHalf)
	}
	fi, err := os.Stat(n.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != int64(FileSize) {
		t.Errorf("resume file: mode %v, %d bytes; want 0600, %d", fi.Mode().Perm(), fi.Size(), FileSize)
	}
	if got, ok := Pending(n.path); !ok || !got.Equal(time.Unix(0, until.UnixNano())) {
		t.Errorf("Pending = %v, %v; want %v, true", got, ok, until)
	}
	if recs := n.audit(); recs[len(recs)-1].Op != vault.OpResumePrepare || recs[len(recs)-1].Actor != ActorHibernate {
		t.Errorf("the hibernation was not audited: %+v", recs[len(recs)-1])
	}
	leftovers, _ := filepath.Glob(filepath.Join(n.dir, ".tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	n.hibernate()
	n.wake()
	if err := n.resume(half, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n.v.Locked() {
		t.Fatal("locked after a resume")
	}
	if err := n.readSecret(); err != nil {
		t.Fatal(err)
	}
	if n.fileExists() {
		t.Error("the resume file outlived its use")
	}
	if _, ok := Pending(n.path); ok {
		t.Error("a used resume is still pending")
	}
	recs := n.audit()
	if r := recs[len(recs)-2]; r.Op != vault.OpResume || r.Target != vault.ResumeTarget || r.Actor != ActorWake || r.Outcome != vault.OutcomeOK {
		t.Errorf("resume record = %+v", r)
	}

	// Single use: the same half again, after a lock, opens nothing.
	if err := n.v.Lock(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if err := n.resume(half, start.Add(time.Hour)); !errors.Is(err, ErrNoResume) {
		t.Fatalf("a second resume with the same half = %v, want ErrNoResume", err)
	}
	if !n.v.Locked() {
		t.Fatal("a used half unlocked the vault again")
	}
}

// The relay keeps the sealed half in its own store. With all of that
// store, and even with the half opened (the node's peer key stolen too),
// it opens nothing without the node's home: the half is not the resume
// key, and the wrap it would open is only in the home.
func TestTheRelaysViewOpensNothingWithoutTheHome(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, "alice")
	sealed := n.prepare(time.Hour)
	relayKey := testkit.Key(t, "relay")
	rs, err := store.OpenFor(t.TempDir(), store.Relay)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if err := rs.Put(ctx, ds.NewKey("/wake/"+n.self.ID().String()), sealed); err != nil {
		t.Fatal(err)
	}
	relayStore := dumpStore(t, rs)

	// The relay's own key does not open the half it keeps.
	for _, b := range relayStore {
		if _, err := peerseal.Open(relayKey, b); !errors.Is(err, peerseal.ErrNotRecipient) {
			t.Fatalf("the relay opened the half it keeps: %v", err)
		}
	}
	// Opened anyway, the half is not R: as the resume key it does not
	// open the wrap (taken from the home, which the relay does not have).
	f := n.file()
	w := wakerHalf(t, n.self, sealed)
	var asKey [KeySize]byte
	copy(asKey[:], w)
	n.hibernate()
	n.wake()
	if err := n.v.UnlockResumed(ctx, f.wrap, &asKey, time.Now(), "relay"); !errors.Is(err, vault.ErrResumeKey) {
		t.Fatalf("the waker's half as the resume key: %v, want ErrResumeKey", err)
	}
	// And nothing the relay holds is any of the keys.
	var r [KeySize]byte
	for i := range r {
		r[i] = f.half[i] ^ w[i]
	}
	for name, b := range relayStore {
		for _, secret := range [][]byte{r[:], f.half[:], w, []byte(canary)} {
			if leaks(string(b), secret) || leaks(name, secret) {
				t.Fatalf("the relay's store holds a key or a secret under %s", name)
			}
		}
	}
	// Without the home file, the half has nothing to combine with.
	if err := Discard(n.path); err != nil {
		t.Fatal(err)
	}
	if err := n.resume(sealed, time.Now()); !errors.Is(err, ErrNoResume) || !n.v.Locked() {
		t.Fatalf("a half without its home file: %v", err)
	}
}

// The home (the vault's store and the resume file) without the waker's
// half opens nothing: the home half is not the resume key, and a half
// anyone else seals to the node's public peer ID does not fit.
func TestTheHomeWithoutTheHalfOpensNothing(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, "alice")
	sealed := n.prepare(time.Hour)
	f := n.file()
	n.hibernate()
	n.wake()
	var h [KeySize]byte
	copy(h[:], f.half[:])
	if err := n.v.UnlockResumed(ctx, f.wrap, &h, time.Now(), "thief"); !errors.Is(err, vault.ErrResumeKey) {
		t.Fatalf("the home half as the resume key: %v, want ErrResumeKey", err)
	}
	// A forger knows the node's peer ID, so can seal to it, but not the
	// hibernation ID.
	forged := []byte{halfVersion}
	forged = append(forged, make([]byte, HibernationIDSize+KeySize)...)
	fake, err := peerseal.Seal([]peer.ID{n.self.ID()}, forged)
	if err != nil {
		t.Fatal(err)
	}
	err = n.resume(fake, time.Now())
	testkit.Sentence(t, "a forged half", err, "from another hibernation", ErrOtherHibernation)
	for _, junk := range [][]byte{nil, []byte("junk"), bytes.Repeat([]byte{1}, MaxSealedHalf+1)} {
		testkit.Sentence(t, "junk as the half", n.resume(junk, time.Now()), "not sealed to this node", ErrBadHalf)
	}
	other, err := peerseal.Seal([]peer.ID{testkit.Key(t, "mallory").ID()}, wakerHalfPlain(t, n.self, sealed))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Sentence(t, "a half sealed to another node", n.resume(other, time.Now()), "not sealed to this node", ErrBadHalf)
	short, _ := peerseal.Seal([]peer.ID{n.self.ID()}, []byte{halfVersion, 1, 2})
	testkit.Sentence(t, "a short half", n.resume(short, time.Now()), "not a half of a resume key", ErrBadHalf)
	if !n.v.Locked() {
		t.Fatal("unlocked without the half")
	}
	// The file is kept through all of that, for the right half.
	if !n.fileExists() {
		t.Fatal("a wrong half deleted the resume file")
	}
	if err := n.resume(sealed, time.Now()); err != nil {
		t.Fatalf("the right half after wrong ones: %v", err)
	}
}

func wakerHalfPlain(t *testing.T, self *keys.PeerKey, sealed []byte) []byte {
	t.Helper()
	pt, err := peerseal.Open(self, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestAHalfFromAnotherHibernationDoesNotFit(t *testing.T) {
	n := newNode(t, "alice")
	first := n.prepare(time.Hour)
	second := n.prepare(time.Hour) // replaces the first file
	n.hibernate()
	n.wake()
	err := n.resume(first, time.Now())
	testkit.Sentence(t, "the first hibernation's half", err, "from another hibernation", ErrOtherHibernation)
	if !n.v.Locked() || !n.fileExists() {
		t.Fatal("the old half unlocked the vault or removed the file")
	}
	// Nor does a half from another node's hibernation.
	m := newNode(t, "bob")
	theirs := m.prepare(time.Hour)
	testkit.Sentence(t, "another node's half", n.resume(theirs, time.Now()), "not sealed to this node", ErrBadHalf)
	if err := n.resume(second, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestAnExpiredWindowComesUpLocked(t *testing.T) {
	n := newNode(t, "alice")
	until := time.Now().Add(time.Hour)
	half, err := Prepare(context.Background(), n.v, n.self, n.path, until)
	if err != nil {
		t.Fatal(err)
	}
	n.hibernate()
	n.wake()
	err = n.resume(half, until)
	testkit.Sentence(t, "at the window's end", err, "the resume window has ended", vault.ErrResumeExpired)
	if !n.v.Locked() {
		t.Fatal("unlocked after the window")
	}
	if n.fileExists() {
		t.Fatal("the resume file outlived its window")
	}
	if err := n.resume(half, time.Now()); !errors.Is(err, ErrNoResume) {
		t.Fatalf("after expiry the half = %v, want ErrNoResume", err)
	}
	if err := n.v.Unlock(context.Background(), []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
}

func TestATamperedFileIsRefusedClearly(t *testing.T) {
	cases := []struct {
		name string
		at   int // byte flipped; -1: truncated
		is   error
		want string
		kept bool
	}{
		{"magic", 0, ErrDamaged, "not a resume file", false},
		{"format version", len(magic) - 1, ErrFormat, "format this node does not read", true},
		{"window's end", len(magic) + vaultIDSize + 7, ErrDamaged, "wrap does not match", false},
		{"home half", len(magic) + vaultIDSize + 8 + HibernationIDSize, ErrDamaged, "tag does not verify", false},
		{"wrapped master key", FileSize - TagSize - 1, ErrDamaged, "tag does not verify", false},
		{"tag", FileSize - 1, ErrDamaged, "tag does not verify", false},
		{"hibernation ID", len(magic) + vaultIDSize + 8, ErrOtherHibernation, "another hibernation", true},
		{"truncated", -1, ErrDamaged, "is 219 bytes, not 220", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "alice")
			half := n.prepare(time.Hour)
			b, err := os.ReadFile(n.path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.at < 0 {
				b = b[:len(b)-1]
			} else {
				b[tc.at] ^= 0x01
			}
			if err := os.WriteFile(n.path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			n.hibernate()
			n.wake()
			err = n.resume(half, time.Now())
			testkit.Sentence(t, tc.name, err, tc.want, tc.is)
			if !n.v.Locked() {
				t.Fatal("a tampered file unlocked the vault")
			}
			if n.fileExists() != tc.kept {
				t.Errorf("file kept = %v, want %v", n.fileExists(), tc.kept)
			}
		})
	}
}

func TestAnotherVaultsFileIsRefused(t *testing.T) {
	a, b := newNode(t, "alice"), newNode(t, "bob")
	half := a.prepare(time.Hour)
	if err := b.v.Lock(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	err := Resume(context.Background(), b.v, a.self, a.path, half, time.Now())
	testkit.Sentence(t, "another vault's file", err, "another vault", vault.ErrResumeOtherVault)
	if !b.v.Locked() {
		t.Fatal("another vault's resume file unlocked this vault")
	}
	if !a.fileExists() {
		t.Fatal("another vault's resume removed the file")
	}
}

func TestPrepareRefuses(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, "alice")
	for _, tc := range []struct {
		name  string
		self  *keys.PeerKey
		until time.Time
		want  string
	}{
		{"a window in the past", n.self, time.Now().Add(-time.Second), "would end before it starts"},
		{"a window too long", n.self, time.Now().Add(MaxWindow + time.Minute), "at most 7 days"},
		{"no peer key", nil, time.Now().Add(time.Hour), "no peer key"},
		{"a zero peer key", &keys.PeerKey{}, time.Now().Add(time.Hour), "no peer key"},
	} {
		if _, err := Prepare(ctx, n.v, tc.self, n.path, tc.until); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
	}
	if err := n.v.Lock(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(ctx, n.v, n.self, n.path, time.Now().Add(time.Hour)); !errors.Is(err, vault.ErrLocked) {
		t.Errorf("a locked vault: %v, want ErrLocked", err)
	}
	if n.fileExists() {
		t.Error("a refused Prepare wrote a resume file")
	}
}

func TestDiscardAndPending(t *testing.T) {
	n := newNode(t, "alice")
	half := n.prepare(time.Hour)
	if _, ok := Pending(n.path); !ok {
		t.Fatal("not pending after Prepare")
	}
	if err := Discard(n.path); err != nil {
		t.Fatal(err)
	}
	if _, ok := Pending(n.path); ok || n.fileExists() {
		t.Fatal("pending after Discard")
	}
	if err := Discard(n.path); err != nil {
		t.Fatalf("a second Discard: %v", err)
	}
	n.hibernate()
	n.wake()
	testkit.Sentence(t, "after Discard", n.resume(half, time.Now()), "no resume is pending", ErrNoResume)
	if err := os.WriteFile(n.path, []byte("not a resume file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := Pending(n.path); ok {
		t.Fatal("a file that is not a resume file is pending")
	}
}

// Canary: R, its halves and the vault's secret never show in an error,
// a log line, an audit record, the vault's store or the relay's half.
func TestKeysNeverLeak(t *testing.T) {
	n := newNode(t, "alice")
	sealed := n.prepare(time.Hour)
	f := n.file()
	w := wakerHalf(t, n.self, sealed)
	var r [KeySize]byte
	for i := range r {
		r[i] = f.half[i] ^ w[i]
	}
	home := append([]byte(nil), f.half[:]...)
	n.hibernate()
	n.wake()
	var errs []string
	other := n.prepareElsewhere(t)
	for _, try := range []struct {
		half []byte
		now  time.Time
	}{{[]byte("junk"), time.Now()}, {other, time.Now()}, {sealed, time.Now()}} {
		if err := n.resume(try.half, try.now); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if n.v.Locked() {
		t.Fatal("the resume did not unlock")
	}
	if err := n.v.Lock(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 {
		t.Fatalf("refusals: %q", errs)
	}
	var hay []string
	hay = append(hay, errs...)
	hay = append(hay, n.logs.String(), string(sealed))
	for _, rec := range n.audit() {
		hay = append(hay, rec.Actor+rec.Op+rec.Target+rec.Detail)
	}
	for k, v := range dumpStore(t, n.st) {
		hay = append(hay, k, string(v))
	}
	for _, h := range hay {
		for _, secret := range [][]byte{r[:], home, w} {
			if leaks(h, secret) {
				t.Fatalf("a key shows in %.200q", h)
			}
		}
		if strings.Contains(h, canary) {
			t.Fatalf("the secret shows in %.200q", h)
		}
	}
}

// prepareElsewhere makes a half of another hibernation of the same node,
// without touching this node's file: a second home on the same key.
func (n *node) prepareElsewhere(t *testing.T) []byte {
	t.Helper()
	m := newNode(t, "alice")
	return m.prepare(time.Hour)
}

func leaks(h string, secret []byte) bool {
	for _, form := range []string{string(secret), hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)), base64.StdEncoding.EncodeToString(secret), base64.RawStdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret)} {
		if strings.Contains(h, form) {
			return true
		}
	}
	return false
}

func dumpStore(t *testing.T, s ds.Datastore) map[string][]byte {
	t.Helper()
	res, err := s.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range es {
		m[e.Key] = e.Value
	}
	return m
}

// syncBuf is a log sink safe for concurrent use.
type syncBuf = testkit.Buffer
