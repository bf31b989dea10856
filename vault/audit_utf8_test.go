package vault

import (
	"context"
	"testing"
)

// TestAuditRecordOfInvalidUTF8Verifies: a record whose entry holds bytes
// that are not UTF-8 (a peer's name, a resource path) is written so that
// its tag verifies: the texts are made valid first.
func TestAuditRecordOfInvalidUTF8Verifies(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, _ := newTestVault(t, store, "pw")
	if err := v.Audit(ctx, AuditEntry{Actor: "peer\xff\xfe", Op: "share.refused", Target: "files/\xc3", Outcome: OutcomeDenied, Detail: "a\x80b"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
