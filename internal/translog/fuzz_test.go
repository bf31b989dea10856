package translog

import (
	"bytes"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func FuzzDecodeLeaf(f *testing.F) {
	f.Add(leafBytes(f, testSalt(f), "alice", 1))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLeaf(b)
		if err != nil {
			return
		}
		again, err := l.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a leaf does not re-encode to its bytes: %x", b)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	key := testkit.Key(f, "bootstrap")
	for _, size := range []uint64{0, 1, 1 << 40} {
		root := hasher.EmptyRoot()
		if size > 0 {
			root = bytes.Repeat([]byte{byte(size)}, HashSize)
		}
		b, err := SignCheckpoint(key, size, root)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	id := key.ID()
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := ParseCheckpoint(b, id)
		if err != nil {
			return
		}
		if !bytes.Equal(cp.Signed(), b) {
			t.Fatal("the kept bytes differ")
		}
		again, err := SignCheckpoint(key, cp.Size, cp.Root[:])
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a checkpoint does not re-sign to its bytes: %q", b)
		}
		if g, err := ParseGossipedCheckpoint(b); err != nil || g.Size != cp.Size {
			t.Fatal("gossip parsing disagrees")
		}
	})
}

func FuzzDecodeFork(f *testing.F) {
	key := testkit.Key(f, "bootstrap")
	a, _ := SignCheckpoint(key, 3, bytes.Repeat([]byte{1}, HashSize))
	b, _ := SignCheckpoint(key, 3, bytes.Repeat([]byte{2}, HashSize))
	c, _ := SignCheckpoint(key, 5, bytes.Repeat([]byte{3}, HashSize))
	for _, pair := range [][2][]byte{{a, b}, {a, c}} {
		first, _ := ParseCheckpoint(pair[0], key.ID())
		second, _ := ParseCheckpoint(pair[1], key.ID())
		fk := &Fork{Kind: ForkSameSize, First: first, Second: second}
		if first.Size != second.Size {
			fk.Kind, fk.Proof = ForkInconsistent, [][]byte{make([]byte, HashSize)}
		}
		enc, err := fk.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fk, err := DecodeFork(b)
		if err != nil {
			return
		}
		again, err := fk.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("evidence does not re-encode to its bytes: %x", b)
		}
	})
}

func FuzzDecodeProof(f *testing.F) {
	p, _ := EncodeProof([][]byte{make([]byte, HashSize), bytes.Repeat([]byte{7}, HashSize)})
	f.Add(p)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProof(b)
		if err != nil {
			return
		}
		again, err := EncodeProof(p)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a proof does not re-encode to its bytes: %x", b)
		}
	})
}
