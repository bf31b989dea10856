package socialrecovery

import (
	"testing"

	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"DefaultMaxPerOwner": DefaultMaxPerOwner, "DefaultMaxRequests": DefaultMaxRequests, "DefaultMaxHeld": DefaultMaxHeld,
		"DefaultMaxOutbox": DefaultMaxOutbox, "Keep": testkit.Seconds(Keep), "DefaultRetryEvery": testkit.Seconds(DefaultRetryEvery),
		"liveTimeout": testkit.Seconds(liveTimeout), "minIDPrefix": minIDPrefix,
	})
	testkit.DocSays(t, doc, "(MaxRequestAge + MaxWait)", `namespace "recovery"`)
	if Keep != recovery.MaxRequestAge+recovery.MaxWait || NS != "recovery" {
		t.Fatal("doc.go's sums no longer hold")
	}
}
