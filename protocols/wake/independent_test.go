package wake

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestIndependentDecoderAgrees runs specs/wake/check.py, written from
// doc.go's prose alone, on testdata/requests.json: its decode of every
// request body (steps 2 to 4 of doc.go's order) must be the vector's want,
// and the wake vectors' token must be one a relay passes for the owner
// named.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/wake/check.py") }

// TestVectorsPinEveryRule runs specs/wake/mutants.py: check.py with one
// rule of doc.go misread at a time must disagree with some vector each
// time, and each misreading it lists as not yet pinned must still agree
// with every vector (one a new vector refuses is to be moved to the
// pinned list).
func TestVectorsPinEveryRule(t *testing.T) {
	if testing.Short() {
		t.Skip("the mutants run the checker about thirty times")
	}
	testkit.SpecCheck(t, "specs/wake/mutants.py")
}
