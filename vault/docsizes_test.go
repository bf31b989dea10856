package vault

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// TestDocSizesMatchTheCode: the sizes doc.go gives for the fixed-size
// at-rest values are the code's (they drifted once).
func TestDocSizesMatchTheCode(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for key, size := range map[string]int{"/meta/wrap/password": wrapSize, "/meta/audit-head": headSize, "/meta/index": indexSize} {
		re := regexp.MustCompile(regexp.QuoteMeta(key) + `\s+[^\n(]*\((\d+) bytes`)
		m := re.FindSubmatch(doc)
		if m == nil {
			t.Errorf("doc.go gives no size for %s", key)
			continue
		}
		if string(m[1]) != fmt.Sprint(size) {
			t.Errorf("doc.go says %s is %s bytes; the code writes %d", key, m[1], size)
		}
	}
}
