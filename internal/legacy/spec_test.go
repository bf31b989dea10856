package legacy

import (
	"os"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxExportBytes": MaxExportBytes, "MaxRecords": MaxRecords, "MaxIDLen": MaxIDLen, "MaxFieldLen": MaxFieldLen,
		"MaxScopes": MaxScopes, "MinSaltLen": MinSaltLen, "MaxSaltLen": MaxSaltLen, "MaxScryptLogN": MaxScryptLogN,
		"MaxScryptR": MaxScryptR, "MaxScryptP": MaxScryptP, "MaxScryptMemory": MaxScryptMemory, "MaxScryptWork": MaxScryptWork,
		"MaxPBKDF2Iterations": MaxPBKDF2Iterations, "ivLen": ivLen, "tagLen": tagLen, "macLen": macLen,
	})
	testkit.DocSays(t, doc, "docs/legacy-vault.md", "(64 MiB)", "(256 MiB)", "(1 GiB)", "N = 2^30", "NAME.legacy")
	if MaxExportBytes != 64<<20 || MaxScryptMemory != 256<<20 || MaxScryptWork != 1<<30 || vault.MaxSecretBytes != 1<<20 {
		t.Fatal("a size doc.go spells out no longer holds")
	}
}

// TestTheSpecNamesWhatTheCodeDoes: docs/legacy-vault.md is the format's
// specification; it must give every label, fixed text and bound the code
// uses, as the code has them.
func TestTheSpecNamesWhatTheCodeDoes(t *testing.T) {
	b, err := os.ReadFile("../../docs/legacy-vault.md")
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Join(strings.Fields(string(b)), " ")
	for _, w := range []string{
		`HKDF-SHA256(IKM, salt, "` + labelEnc + `")`, `HKDF-SHA256(IKM, salt, "` + labelMAC + `")`,
		`HMAC-SHA256(K_mac, "` + labelCheck + `")`, `"` + labelRecord + `" || 0x00 || F(id) || F(name) || F(type) || F(field)`,
		`HMAC-SHA256(K_mac, "` + labelList + `" || 0x00`, "`" + FormatName + "`", "`" + CipherName + "`",
		`"name": "` + KDFScrypt + `"`, `"name": "` + KDFPBKDF2 + `"`, "at most 64 MiB", "at most 100,000 records",
		"2 to 2^20", "`r` 1 to 32", "`p` 1 to 16", "1 to 10,000,000", "16 to 64 bytes", "1 to 128 bytes",
		"`NAME" + RenameSuffix + "`", "12 bytes", "16-byte tag",
	} {
		if !strings.Contains(spec, strings.Join(strings.Fields(w), " ")) {
			t.Errorf("docs/legacy-vault.md does not say %q", w)
		}
	}
}
