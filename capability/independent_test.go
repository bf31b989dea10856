package capability

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestIndependentVerifierAgrees runs specs/tokens/verify.py, a verifier
// written in Python from doc.go alone, on the committed vectors: a vector
// on which it and this package disagree is a gap in the spec or a bug on
// one side. Skipped, saying so, without python3; specs/README.md says how
// to run it by hand.
func TestIndependentVerifierAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/tokens/verify.py") }

// TestVectorsPinEveryRule runs specs/tokens/mutants.py: verify.py with one
// rule of doc.go dropped or misread at a time (the text cap counted in
// characters, cofactored verification, the depth check after the parent,
// …) must disagree with some vector, or no vector pins that rule.
func TestVectorsPinEveryRule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the mutants take a few seconds")
	}
	testkit.SpecCheck(t, "specs/tokens/mutants.py")
}
