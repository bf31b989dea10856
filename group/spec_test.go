package group

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"MinThreshold": MinThreshold, "MaxAdmins": MaxAdmins, "KeySize": KeySize, "ScalarSize": ScalarSize,
		"PointSize": PointSize, "DealingIDSize": DealingIDSize, "MaxGroupNameLen": MaxGroupNameLen,
		"NonceSize": NonceSize, "MaxApprovalAge": s(MaxApprovalAge), "MaxClockSkew": s(MaxClockSkew),
		"MinWindow": s(MinWindow), "MaxWindow": s(MaxWindow), "DefaultMaxNonces": DefaultMaxNonces,
		"maxCommitmentsBytes": maxCommitmentsBytes, "maxShareBytes": maxShareBytes,
		"maxSealedShareBytes": maxSealedShareBytes, "maxApprovalBytes": maxApprovalBytes,
		"recordVersion": recordVersion, "maxUnix": maxUnix,
	})
	testkit.DocSays(t, doc, "(15 minutes)", "(24 hours)", `"`+ApprovalLabel+`" || 0x00 || payload`,
		`info = "`+KeyLabel+`"`, "9999-12-31T23:59:59Z")
	if MaxApprovalAge != 15*60*1e9 || MaxWindow != 24*3600*1e9 {
		t.Fatal("a duration doc.go spells out no longer holds")
	}
	if g.Params().ScalarLength != ScalarSize || g.Params().CompressedElementLength != PointSize {
		t.Fatal("Ristretto255's sizes are not the ones doc.go gives")
	}
}

// TestTheBoundsHoldTheLargestRecords checks the byte bounds against the
// largest records the package writes.
func TestTheBoundsHoldTheLargestRecords(t *testing.T) {
	name := "g"
	for len(name) < MaxGroupNameLen {
		name += "x"
	}
	f := deal(t, name, MaxAdmins, MaxAdmins)
	if n := len(f.d.Commitments.Encode()); n > maxCommitmentsBytes {
		t.Fatalf("the largest commitments take %d bytes", n)
	}
	s := f.d.Shares[MaxAdmins-1]
	if n := len(s.Encode()); n > maxShareBytes {
		t.Fatalf("a share takes %d bytes", n)
	}
	sealed, err := SealShare(s, f.vault.ID())
	if err != nil || len(sealed) > maxSealedShareBytes {
		t.Fatalf("a sealed share takes %d bytes: %v", len(sealed), err)
	}
	a, _ := f.approval(t, MaxAdmins-1, MaxWindow)
	enc, err := a.Encode()
	if err != nil || len(enc) > maxApprovalBytes {
		t.Fatalf("the largest approval takes %d bytes: %v", len(enc), err)
	}
}
