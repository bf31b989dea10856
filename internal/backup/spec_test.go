package backup

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"Version":           Version,
		"MaxHeaderSize":     MaxHeaderSize,
		"minHeaderSize":     fixedHeader + minWrap,
		"MaxWraps":          MaxWraps,
		"MaxWrapKind":       MaxWrapKind,
		"MaxWrapSize":       MaxWrapSize,
		"MinChunkLog":       MinChunkLog,
		"MaxChunkLog":       MaxChunkLog,
		"DefaultChunkLog":   DefaultChunkLog,
		"BackupSaltSize":    vault.BackupSaltSize,
		"vaultIDSize":       vaultIDSize,
		"seedSize":          seedSize,
		"MaxKeySize":        MaxKeySize,
		"MaxValueSize":      MaxValueSize,
		"MaxKDFMemoryKiB":   vault.MaxKDFMemoryKiB,
		"MaxKDFTime":        vault.MaxKDFTime,
		"MaxKDFThreads":     vault.MaxKDFThreads,
		"valueStep":         valueStep,
		"restoreBatchBytes": int64(restoreBatchBytes),
	})
	if fixedHeader != 68 || minWrap != 5 {
		t.Errorf("the fixed header is %d bytes and the least wrap %d; doc.go says 68 and 5", fixedHeader, minWrap)
	}
	testkit.DocSays(t, doc, `magic "OCMTBAK"`, `info = "ocmt-mesh/backup/v1"`, `info = "ocmt-mesh/vault-kek/v1"`,
		`AAD = "ocmt-mesh/wrap/v2" || vault ID || the wrap's first 38 bytes`, "password wrap, 110 bytes")
	if magicPrefix != "OCMTBAK" {
		t.Error("the magic changed")
	}
}

// TestIndependentReaderAgrees runs specs/backup/check.py, written from
// doc.go and vault/doc.go alone, on the committed vectors.
func TestIndependentReaderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/backup/check.py") }

// TestVectorsPinEveryRule runs specs/backup/mutants.py: check.py with one
// rule misread at a time must disagree with some vector each time.
func TestVectorsPinEveryRule(t *testing.T) {
	if testing.Short() {
		t.Skip("the mutants run the checker about fifty times")
	}
	testkit.SpecCheck(t, "specs/backup/mutants.py")
}
