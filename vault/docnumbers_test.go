package vault

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants, and the audit log's labels and sizes are
// the code's.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxAuditRecordSize": MaxAuditRecordSize,
		"MaxKDFMemoryKiB":    MaxKDFMemoryKiB,
		"MaxKDFTime":         MaxKDFTime,
		"MaxKDFThreads":      MaxKDFThreads,
		"MaxRecordSize":      MaxRecordSize,
		"MaxSecretBytes":     MaxSecretBytes,
		"MaxRecoveryMeta":    MaxRecoveryMeta,
		"MaxRecoveryMethods": MaxRecoveryMethods,
		"maxHistory":         maxHistory,
		"maxOwed":            maxOwed,
	})
	testkit.DocSays(t, doc,
		`SHA-256("`+labelAudit+`" || 0x00 || J)`,
		`MAC(K_audit of gen, "`+labelAudit+`", J)`,
		`MAC(K_s, "`+labelAuditLocked+`", J)`,
		`"OCMTAHD\x02" (8) || seq u64`,
		`tag = MAC(K, "`+labelAuditHead+`", vault ID || seq u64 || chain value || index tag)`,
		`info = "`+labelAuditSession+`"`,
		`x_audit   = HKDF(K_audit, vault ID, "`+labelAuditX25519+`")`,
		"format 2 (112 bytes)", "format 1 (40 bytes)", "104 bytes",
	)
	if headMagic != "OCMTAHD\x02" || headSize != 112 || headSizeV1 != 40 || xcrypto.SealedToSize+32 != 104 {
		t.Error("the head's or the session's size changed")
	}
}

// TestIndependentVerifierAgrees runs specs/vaultaudit/check.py, written
// from doc.go alone, on the committed audit vectors.
func TestIndependentVerifierAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/vaultaudit/check.py") }

// TestAuditVectorsPinEveryRule runs specs/vaultaudit/mutants.py: check.py
// with one rule misread at a time must disagree with some vector each
// time.
func TestAuditVectorsPinEveryRule(t *testing.T) {
	if testing.Short() {
		t.Skip("the mutants run the checker about sixty times")
	}
	testkit.SpecCheck(t, "specs/vaultaudit/mutants.py")
}
