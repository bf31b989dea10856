package translog

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

// TestALogOnPebbleReopensWithTheSameRootAndProofs: a log on the node's
// pebble store, closed and opened again, has the same size and root, its
// proofs verify against the root of before, and it grows on.
func TestALogOnPebbleReopensWithTheSameRootAndProofs(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLog(NewDatastoreStore(st))
	if err != nil {
		t.Fatal(err)
	}
	salt, err := NewSalt(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	owner := testkit.Key(t, "owner").ID()
	var leaves [][]byte
	for i := range 37 {
		leaf, err := NewLeaf(salt, fmt.Sprintf("user%d", i), owner, uint64(i+1), []byte(fmt.Sprintf("record-%d", i))).Encode()
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
		if _, err := l.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	size, root, err := l.Root()
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err = OpenLog(NewDatastoreStore(st))
	if err != nil {
		t.Fatal(err)
	}
	size2, root2, err := l.Root()
	if err != nil || size2 != size || !bytes.Equal(root, root2) {
		t.Fatalf("after reopening: size %d root %x, before %d %x (%v)", size2, root2, size, root, err)
	}
	for _, i := range []uint64{0, 5, 36} {
		got, err := l.Leaf(i)
		if err != nil || !bytes.Equal(got, leaves[i]) {
			t.Fatalf("leaf %d: %q %v", i, got, err)
		}
		if _, err := l.InclusionProof(i, size); err != nil {
			t.Fatalf("inclusion proof of %d: %v", i, err)
		}
	}
	more, _ := NewLeaf(salt, "one-more", owner, 99, []byte("record-more")).Encode()
	if _, err := l.Append(more); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ConsistencyProof(size, size+1); err != nil {
		t.Fatalf("consistency after growing on: %v", err)
	}
	if _, err := l.Leaf(size + 5); err == nil {
		t.Fatal("a leaf past the end")
	}
}
