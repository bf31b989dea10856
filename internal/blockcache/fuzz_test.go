package blockcache

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// FuzzDecodeMeta: the accounting read back from disk at Open either is
// refused (the entry is then deleted) or decodes to an entry that encodes
// back to the same bytes.
func FuzzDecodeMeta(f *testing.F) {
	id := cidOf([]byte("x"))
	e := &entry{key: string(id.Bytes()), size: 100, seq: 7, pusher: testkit.Key(f, "alice").ID()}
	f.Add(metaKey(id).String(), encodeMeta(e))
	f.Add("/a/bafkqaaa", []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, key string, v []byte) {
		e, err := decodeMeta(key, v)
		if err != nil {
			return
		}
		if e.size > MaxBlockBytes {
			t.Fatalf("size %d", e.size)
		}
		if string(encodeMeta(e)) != string(v) {
			t.Fatal("an entry does not encode back")
		}
	})
}
