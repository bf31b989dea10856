package group

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

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
		"recordVersion": recordVersion, "maxUnix": maxUnix, "ChangeDigestSize": ChangeDigestSize,
		"MaxChainMemory": MaxChainMemory, "MaxKindLen": MaxKindLen, "MaxDetailLen": MaxDetailLen,
		"maxRecordBytes": maxRecordBytes, "MaxSecretBytes": MaxSecretBytes, "MaxSecretNameLen": MaxSecretNameLen,
		"secretNonceSize": secretNonceSize, "maxSealedSecretBytes": maxSealedSecretBytes,
		"maxScheduleLen": maxScheduleLen, "maxScheduleRules": maxScheduleRules, "maxUTCOffset": s(maxUTCOffset),
	})
	testkit.DocSays(t, doc, "(15 minutes)", "(24 hours)", `"`+ApprovalLabel+`" || 0x00 || payload`,
		`info = "`+KeyLabel+`"`, "9999-12-31T23:59:59Z", `"`+ChangeLabel+`" || 0x00 || change`,
		`"`+AuditLabel+`" || 0x00 || payload`, `info = "`+SecretLabel+`"`, `"`+SecretLabel+`" || 0x00 || bound`,
		"(64 KiB)", "(14 hours)", "(MaxSecretBytes + 256)")
	if MaxSecretBytes != 64*1024 || maxUTCOffset != 14*3600*1e9 || maxSealedSecretBytes != MaxSecretBytes+256 {
		t.Fatal("a number doc.go spells out no longer holds")
	}
	if secretNonceSize != chacha20poly1305.NonceSizeX || ChangeDigestSize != sha256.Size {
		t.Fatal("a size doc.go gives is not the primitive's")
	}
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
	a, _ := f.signed(t, f.keys[MaxAdmins-1], s, f.clk.Now(), MaxWindow, make([]byte, ChangeDigestSize))
	enc, err := a.Encode()
	if err != nil || len(enc) > maxApprovalBytes {
		t.Fatalf("the largest approval takes %d bytes: %v", len(enc), err)
	}
	r, enc, err := SignRecord(f.vault, Record{Group: name, Height: 1 << 62, Prev: [32]byte{1}, Time: time.Unix(maxUnix, 0),
		Kind: strings.Repeat("k", MaxKindLen), Actor: f.ids[0], Detail: strings.Repeat("€", MaxDetailLen/3)})
	if err != nil || len(enc) > maxRecordBytes {
		t.Fatalf("the largest audit record takes %d bytes: %v", len(enc), err)
	}
	if _, err := ParseRecord(enc); err != nil || r.Hash() == [32]byte{} {
		t.Fatalf("the largest audit record does not parse: %v", err)
	}
}
