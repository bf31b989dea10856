package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/mod/sumdb/note"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

var (
	peerOnce sync.Once
	peerIDs  []peer.ID
)

// testPeers returns a few fixed peer IDs for leaves.
func testPeers(t testing.TB) []peer.ID {
	peerOnce.Do(func() {
		for i := range 4 {
			peerIDs = append(peerIDs, testkit.Key(t, fmt.Sprintf("translog peer %d", i)).ID())
		}
	})
	return peerIDs
}

func testSalt(t testing.TB) *Salt {
	s, err := NewSalt(testkit.NewRand("translog salt"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// leafBytes is the encoded leaf of record i of handle.
func leafBytes(t testing.TB, salt *Salt, handle string, i int) []byte {
	t.Helper()
	ps := testPeers(t)
	b, err := NewLeaf(salt, handle, ps[i%len(ps)], uint64(i), fmt.Appendf(nil, "record %s %d", handle, i)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newLog returns a log of n leaves, handles "user0", "user1", ....
func newLog(t testing.TB, salt *Salt, n int) *Log {
	t.Helper()
	l, err := OpenLog(NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		appendLeaf(t, l, leafBytes(t, salt, fmt.Sprintf("user%d", i), i))
	}
	return l
}

func appendLeaf(t testing.TB, l *Log, leaf []byte) uint64 {
	t.Helper()
	i, err := l.Append(leaf)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// checkpoint signs and parses the checkpoint of l at size.
func checkpoint(t testing.TB, key *keys.PeerKey, l *Log, size uint64) *Checkpoint {
	t.Helper()
	root, err := l.RootAt(size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignCheckpoint(key, size, root)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ParseCheckpoint(b, key.ID())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestAppendingAndProvingInclusionWorksForManySizes(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	salt := testSalt(t)
	const n = 40
	l := newLog(t, salt, n)
	for size := uint64(1); size <= n; size++ {
		cp := checkpoint(t, key, l, size)
		for i := range size {
			leaf, err := l.Leaf(i)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(cp, leaf, i, p); err != nil {
				t.Fatalf("leaf %d in size %d: %v", i, size, err)
			}
		}
	}
	if _, err := l.InclusionProof(n, n); !errors.Is(err, ErrRange) {
		t.Fatalf("a proof past the end: %v", err)
	}
	size, root, err := l.Root()
	if err != nil || size != n {
		t.Fatal(size, err)
	}
	if at, _ := l.RootAt(n); !bytes.Equal(at, root) {
		t.Fatal("Root and RootAt disagree")
	}
}

func TestAnEmptyLogHasTheEmptyRoot(t *testing.T) {
	l := newLog(t, testSalt(t), 0)
	_, root, err := l.Root()
	if err != nil || !bytes.Equal(root, hasher.EmptyRoot()) {
		t.Fatalf("root %x, %v", root, err)
	}
	cp := checkpoint(t, testkit.Key(t, "bootstrap"), l, 0)
	if cp.Size != 0 {
		t.Fatal(cp.Size)
	}
}

func TestConsistencyHoldsBetweenAnyTwoSizes(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	const n = 33
	l := newLog(t, testSalt(t), n)
	cps := make([]*Checkpoint, n+1)
	for s := range cps {
		cps[s] = checkpoint(t, key, l, uint64(s))
	}
	for old := range cps {
		for size := old; size <= n; size++ {
			p, err := l.ConsistencyProof(uint64(old), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(cps[old], cps[size], p); err != nil {
				t.Fatalf("%d to %d: %v", old, size, err)
			}
			if old > 0 && old < size {
				if VerifyConsistency(cps[old], cps[size], p[1:]) == nil {
					t.Fatalf("%d to %d: a truncated proof verified", old, size)
				}
			}
		}
	}
}

func TestALogReopenedFromItsStoreHasTheSameRoot(t *testing.T) {
	salt := testSalt(t)
	st := NewMemStore()
	l, err := OpenLog(st)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 13 {
		appendLeaf(t, l, leafBytes(t, salt, "u", i))
	}
	_, root, _ := l.Root()
	again, err := OpenLog(st)
	if err != nil {
		t.Fatal(err)
	}
	_, root2, _ := again.Root()
	if !bytes.Equal(root, root2) {
		t.Fatal("the reopened log has another root")
	}
	appendLeaf(t, again, leafBytes(t, salt, "u", 13))
	if _, err := again.InclusionProof(13, 14); err != nil {
		t.Fatal(err)
	}
}

func TestAMalformedLeafIsNotAppended(t *testing.T) {
	l := newLog(t, testSalt(t), 2)
	if _, err := l.Append([]byte("not a leaf")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	if l.Size() != 2 {
		t.Fatal("the log grew")
	}
}

func TestAForgedInclusionProofIsRefused(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	salt := testSalt(t)
	l := newLog(t, salt, 21)
	cp := checkpoint(t, key, l, 21)
	leaf, _ := l.Leaf(7)
	p, err := l.InclusionProof(7, 21)
	if err != nil || VerifyInclusion(cp, leaf, 7, p) != nil {
		t.Fatal("the honest proof does not verify")
	}
	flipped := clone(p)
	flipped[2][0] ^= 1
	other := leafBytes(t, salt, "mallory", 7)
	cases := []struct {
		name  string
		leaf  []byte
		index uint64
		proof [][]byte
	}{
		{"a flipped bit in a hash", leaf, 7, flipped},
		{"another leaf at the index", other, 7, p},
		{"the leaf at another index", leaf, 6, p},
		{"a proof with a hash missing", leaf, 7, p[:len(p)-1]},
		{"a proof with a hash too many", leaf, 7, append(clone(p), p[0])},
		{"a proof with a short hash", leaf, 7, append(clone(p)[:len(p)-1], p[len(p)-1][:31])},
		{"no proof", leaf, 7, nil},
		{"an index past the tree", leaf, 21, p},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := VerifyInclusion(cp, c.leaf, c.index, c.proof); !errors.Is(err, ErrProof) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if err := VerifyInclusion(&Checkpoint{Bootstrap: key.ID(), Size: 21, Root: cp.Root}, leaf, 7, p); !errors.Is(err, ErrProof) {
		t.Fatalf("a hand-built checkpoint: %v", err)
	}
}

func clone(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i]...)
	}
	return out
}

func TestACheckpointSignedByAnotherKeyIsRefused(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	mallory := testkit.Key(t, "mallory")
	l := newLog(t, testSalt(t), 5)
	_, root, _ := l.Root()
	good, err := SignCheckpoint(key, 5, root)
	if err != nil {
		t.Fatal(err)
	}
	byMallory, _ := SignCheckpoint(mallory, 5, root)

	// Mallory's key under the bootstrap's origin and key name.
	v, _ := verifierFor(key.ID())
	seed := mallory.Seed()
	forged, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n5\n%s\n", Origin(key.ID()), base64.StdEncoding.EncodeToString(root))},
		&noteSigner{name: v.Name(), hash: v.KeyHash(), priv: edKey(seed)})
	if err != nil {
		t.Fatal(err)
	}
	text, sigLine, _ := strings.Cut(string(good), "\n\n")
	cases := []struct {
		name string
		b    []byte
	}{
		{"a checkpoint of mallory's log", byMallory},
		{"mallory's signature under the bootstrap's name", forged},
		{"another size under the same signature", []byte(strings.Replace(text, "\n5\n", "\n6\n", 1) + "\n\n" + sigLine)},
		{"an extension line", []byte(text + "\nextra\n\n" + sigLine)},
		{"a second signature line", append(append([]byte(nil), good...), []byte("— "+Origin(mallory.ID())+" "+strings.Fields(string(byMallory[strings.LastIndex(string(byMallory), "— "):]))[2]+"\n")...)},
		{"trailing bytes", append(append([]byte(nil), good...), ' ')},
		{"nothing", nil},
		{"too many bytes", bytes.Repeat([]byte("a"), MaxCheckpointBytes+1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseCheckpoint(c.b, key.ID()); !errors.Is(err, ErrBadCheckpoint) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if cp, err := ParseGossipedCheckpoint(good); err != nil || cp.Bootstrap != key.ID() {
		t.Fatalf("the gossiped checkpoint: %v", err)
	}
	if s := fmt.Sprint(key, mallory); strings.Contains(s, hex.EncodeToString(seed)) {
		t.Fatal("a seed was printed")
	}
}

func TestACheckpointSignatureIsNoOtherSignature(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	b, err := SignCheckpoint(key, 1, make([]byte, HashSize))
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(b), "\n\n")
	if strings.ContainsRune(text, 0) {
		t.Fatal("the signed text has a NUL byte")
	}
	for _, label := range keys.Labels() {
		if strings.HasPrefix(text+"\n", label+"\x00") {
			t.Fatalf("the signed text can be read as a %s message", label)
		}
	}
}

func TestTheLeafDoesNotContainTheHandle(t *testing.T) {
	salt := testSalt(t)
	const handle = "canary-handle-5e1f"
	leaf := leafBytes(t, salt, handle, 3)
	secret := salt.Bytes()
	for _, needle := range [][]byte{
		[]byte(handle), []byte(strings.ToUpper(handle)), []byte("5e1f"),
		secret, []byte(hex.EncodeToString(secret)), []byte(base64.StdEncoding.EncodeToString(secret)),
	} {
		if bytes.Contains(leaf, needle) {
			t.Fatalf("the leaf contains %q", needle)
		}
	}
	for _, s := range []string{salt.String(), fmt.Sprintf("%v %+v %#v", salt, salt, salt)} {
		if strings.Contains(s, hex.EncodeToString(secret)) || strings.Contains(s, base64.StdEncoding.EncodeToString(secret)) {
			t.Fatalf("the salt printed itself: %s", s)
		}
	}
	other, _ := NewSalt(testkit.NewRand("another log"))
	if salt.Commit(handle).Equal(other.Commit(handle)) {
		t.Fatal("two salts commit a handle the same way")
	}
	if salt.Commit(handle).Equal(salt.Commit(handle + "x")) {
		t.Fatal("two handles commit the same way")
	}
}

func TestALookupAnswerMatchesItsLeafAndNothingElse(t *testing.T) {
	salt := testSalt(t)
	ps := testPeers(t)
	rec := []byte("signed record of bob")
	b, err := NewLeaf(salt, "bob", ps[1], 9, rec).Encode()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := DecodeLeaf(b)
	if err != nil {
		t.Fatal(err)
	}
	c := salt.Commit("bob")
	if err := leaf.Matches(c, ps[1], 9, rec); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"another handle": leaf.Matches(salt.Commit("mallory"), ps[1], 9, rec),
		"another peer":   leaf.Matches(c, ps[2], 9, rec),
		"another seq":    leaf.Matches(c, ps[1], 10, rec),
		"another record": leaf.Matches(c, ps[1], 9, []byte("signed record of mallory")),
	} {
		if !errors.Is(err, ErrLeafMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSaltsRoundTripAndRefuseWrongSizes(t *testing.T) {
	s := testSalt(t)
	again, err := SaltFromBytes(s.Bytes())
	if err != nil || !again.Commit("a").Equal(s.Commit("a")) {
		t.Fatal(err)
	}
	if _, err := SaltFromBytes(make([]byte, SaltSize-1)); err == nil {
		t.Fatal("a short salt was accepted")
	}
	again.Wipe()
	if again.Commit("a").Equal(s.Commit("a")) {
		t.Fatal("a wiped salt still commits")
	}
}

func edKey(seed []byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed) }
