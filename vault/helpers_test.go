package vault

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// attackerHash is the chain value someone without a key can compute: the
// format-1 SHA-256.
func attackerHash(r AuditRecord) string { return v1Hash(r) }

// forgeHead rewrites the head to name record seq with chain value hash,
// keeping whatever else the stored head holds (its tag cannot be
// recomputed without the key).
func forgeHead(t *testing.T, s ds.Batching, seq uint64, hash string) {
	t.Helper()
	ctx := context.Background()
	b, _ := s.Get(ctx, auditHeadKey)
	h, err := parseHead(b)
	if err != nil {
		h = auditHead{format: 2}
	}
	c, ok := parseChain(hash)
	if !ok {
		t.Fatalf("bad chain value %q", hash)
	}
	h.seq, h.chain = seq, c
	if err := s.Put(ctx, auditHeadKey, h.marshal()); err != nil {
		t.Fatal(err)
	}
}
