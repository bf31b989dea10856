package resume

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants, and the format's labels and sizes are the
// code's.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"Version":           Version,
		"KeySize":           KeySize,
		"HibernationIDSize": HibernationIDSize,
		"TagSize":           TagSize,
		"FileSize":          int64(FileSize),
		"HalfPlaintextSize": HalfPlaintextSize,
		"MaxSealedHalf":     MaxSealedHalf,
		"DefaultWindow":     testkit.Seconds(DefaultWindow),
		"MaxWindow":         testkit.Seconds(MaxWindow),
	})
	testkit.DocSays(t, doc,
		`magic "OCMTRSM\x01" (8) || vault ID (16) || until unix-nano i64 (8)`,
		`|| hibernation ID (16) || home half H (32) || resume wrap (108) || tag (32)`,
		`K_file = HKDF-SHA256(IKM R, salt vault ID, info "`+labelFile+`")`,
		`tag    = HMAC-SHA256(K_file, "`+labelFile+`" || 0x00 || every byte before the tag)`,
		"vault.ResumeWrapSize, 108",
		"0x01 (1) || hibernation ID (16) || W (32)",
		"249 bytes", "(12 h)", "(7 days)",
	)
	if magic != "OCMTRSM\x01" || magic[len(magic)-1] != Version || vaultIDSize != 16 || vault.ResumeWrapSize != 108 || halfVersion != 1 {
		t.Error("the format's magic, version or sizes changed")
	}
}
