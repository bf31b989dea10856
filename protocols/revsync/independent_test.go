package revsync

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestIndependentCheckerAgrees runs specs/revsync/check.py, written from
// this package's doc.go, protocols/revgossip's ("Anti-entropy") and
// capability/revocation's, on the committed batch-push and digest vectors.
func TestIndependentCheckerAgrees(t *testing.T) {
	testkit.SpecCheck(t, "specs/revsync/check.py")
}
