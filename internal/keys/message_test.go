package keys

import (
	"bytes"
	"strings"
	"testing"
)

func TestLabelsAreDistinctAndVersioned(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range Labels() {
		if seen[l] {
			t.Fatalf("label %q is listed twice", l)
		}
		seen[l] = true
		if !strings.HasPrefix(l, "ocmt-mesh/") || !strings.HasSuffix(l, "/v1") || strings.ContainsRune(l, 0) {
			t.Fatalf("label %q is not of the form ocmt-mesh/NAME/v1", l)
		}
	}
}

func TestGroupMessagesAreLabelZeroBody(t *testing.T) {
	body := []byte("body")
	for _, c := range []struct {
		m     Message
		label string
	}{
		{GroupApprovalMessage(body), "ocmt-mesh/group-approval/v1"},
		{GroupAuditMessage(body), "ocmt-mesh/group-audit/v1"},
	} {
		if c.m.Label() != c.label || !bytes.Equal(c.m.bytes(), append([]byte(c.label+"\x00"), body...)) {
			t.Fatalf("%s: signed bytes %q", c.label, c.m.bytes())
		}
	}
}

// TestNoSignatureVerifiesUnderAnotherLabel signs the same body under every
// constructor and checks each signature verifies only under its own label.
func TestNoSignatureVerifiesUnderAnotherLabel(t *testing.T) {
	k := GeneratePeerKey()
	body := []byte("payload")
	all := []Message{TokenMessage(body), RevocationMessage(body), DirectoryMessage(body), ApprovalMessage(body),
		ManifestMessage(body), GroupApprovalMessage(body), GroupAuditMessage(body)}
	for i, m := range all {
		sig := k.Sign(m)
		for j, o := range all {
			if got := k.Public().Verify(o, sig[:]); got != (i == j) {
				t.Fatalf("a %s signature verifies as %s: %v", m.Label(), o.Label(), got)
			}
		}
	}
}
