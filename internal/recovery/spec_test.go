package recovery

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"PhraseWords": PhraseWords, "MinFriends": MinFriends, "MaxFriends": MaxFriends,
		"MinWait": s(MinWait), "DefaultWait": s(DefaultWait), "MaxWait": s(MaxWait),
		"MaxRequestAge": s(MaxRequestAge), "MaxClockSkew": s(MaxClockSkew), "NonceSize": NonceSize,
		"maxHandleLen": maxHandleLen, "maxMessageBytes": maxMessageBytes, "maxSealedBytes": maxSealedBytes,
		"maxMetaBytes": maxMetaBytes, "maxUnix": maxUnix, "version": version,
	})
	testkit.DocSays(t, doc, `"`+labelPhrase+`"`, `"`+keys.LabelRecovery+`" || 0x00 || payload`,
		`"`+keys.LabelEscrowRelease+`" || 0x00 || payload`, `"ocmt-mesh/recovery-code/v1" || 0x00`,
		`under the name "`+dealingName+`"`, `info = "`+group.KeyLabel+`"`, "9999-12-31T23:59:59Z", "(a day)", "(two days)", "(30 days)", "(a week)",
		"(five minutes)", "(vault.MaxRecoveryMeta)", `"`+Phrase+`"`, `"`+Social+`"`, `"`+Hardware+`"`, `"`+Escrow+`"`)
	if MinWait != 24*time.Hour || DefaultWait != 48*time.Hour || MaxWait != 30*24*time.Hour || MaxRequestAge != 7*24*time.Hour ||
		MaxClockSkew != 5*time.Minute {
		t.Fatal("a duration doc.go spells out no longer holds")
	}
	if maxUnix != time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix() {
		t.Fatal("maxUnix is not 9999-12-31T23:59:59Z")
	}
	if MaxFriends > group.MaxAdmins || MinFriends < group.MinThreshold {
		t.Fatal("the friends' bounds are not within package group's")
	}
	for k, name := range map[Kind]string{KindShare: "share", KindRequest: "request", KindRelease: "release", KindVeto: "veto",
		KindEscrowRequest: "escrow request", KindEscrowRelease: "escrow release"} {
		testkit.DocSays(t, doc, fmt.Sprintf("%d  %s", k, strings.ReplaceAll(name, " ", "-")))
		if k.String() != name {
			t.Errorf("kind %d is %q", k, k.String())
		}
	}
}

// code is the verification code as doc.go derives it.
func code(owner, device []byte, nonce []byte) string {
	h := sha256.Sum256(append(append(append([]byte("ocmt-mesh/recovery-code/v1\x00"), owner...), device...), nonce...))
	var g []string
	for i := range 4 {
		g = append(g, fmt.Sprintf("%05d", binary.BigEndian.Uint32(h[4*i:])%100000))
	}
	return strings.Join(g, " ")
}

func TestTheVerificationCodeIsDerivedAsDocGoSays(t *testing.T) {
	owner, device := testkit.Key(t, "owner"), testkit.Key(t, "new-laptop")
	nonce := make([]byte, NonceSize)
	for i := range nonce {
		nonce[i] = byte(i)
	}
	r := &Request{Owner: owner.ID(), Device: device.ID(), Nonce: nonce}
	if got, want := r.Code(), code([]byte(owner.ID()), []byte(device.ID()), nonce); got != want {
		t.Fatalf("the code is %q, doc.go's derivation gives %q", got, want)
	}
	if got := r.Code(); got != codeVector {
		t.Fatalf("the code of the fixed request is %q, the vector %q", got, codeVector)
	}
	for range 50 {
		b, _ := NewRequest(device, owner.ID(), "owner", testkit.Epoch)
		r, err := CheckRequest(opened(t, b), testkit.Epoch)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code() != code([]byte(r.Owner), []byte(r.Device), r.Nonce) {
			t.Fatal("a request's code is not doc.go's")
		}
	}
}

// codeVector is the code of owner "owner", device "new-laptop" (testkit
// keys) and the nonce 00 01 … 0f.
const codeVector = "29873 28725 12825 12907"

func TestTheBoundsHoldTheLargestMessages(t *testing.T) {
	e := escrow(t, "owner")
	m, _, _ := ParseEscrowMeta(e.meta)
	if len(m.Sealed) > maxSealedBytes || len(e.meta) > maxMetaBytes {
		t.Fatalf("a sealed key of %d bytes, an escrow meta of %d", len(m.Sealed), len(e.meta))
	}
	req, _ := e.request(t, vaultA)
	rel := e.releaseFor(t, req)
	if len(req) > maxMessageBytes || len(rel) > maxMessageBytes {
		t.Fatalf("an escrow request of %d bytes, a release of %d", len(req), len(rel))
	}
	d, err := largestSocial(t, 5)
	if err != nil {
		t.Fatal(err)
	}
	var largest int
	for _, sh := range d.Shares {
		largest = max(largest, len(sh))
	}
	t.Logf("the largest share delivery: %d bytes; escrow request %d, release %d", largest, len(req), len(rel))
	if largest > maxMessageBytes {
		t.Fatalf("a share delivery of %d bytes", largest)
	}
}

func TestASignatureHoldsForItsKindAndLabelOnly(t *testing.T) {
	e := escrow(t, "owner")
	req, _ := e.request(t, vaultA)
	rel := e.releaseFor(t, req)
	rekind := func(b []byte, k Kind) []byte {
		var s signedWire
		if err := wire.UnmarshalCanonical(b, &s); err != nil {
			t.Fatal(err)
		}
		s.Kind = uint8(k)
		out, _ := wire.Marshal(s)
		return out
	}
	for name, b := range map[string][]byte{
		"a release statement as an escrow request": rekind(rel, KindEscrowRequest),
		"an escrow request as a release statement": rekind(req, KindEscrowRelease),
		"an escrow request as a veto":              rekind(req, KindVeto),
	} {
		if _, err := Open(b); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The signed bytes are the label, a zero byte and the map without key 5.
	var s signedWire
	wire.UnmarshalCanonical(rel, &s)
	sig := s.Sig
	s.Sig = nil
	payload, _ := wire.Marshal(s)
	pub, _ := keys.PeerPublicFromID(e.inst.ID())
	if !pub.Verify(keys.EscrowReleaseMessage(payload), sig) || pub.Verify(keys.RecoveryMessage(payload), sig) {
		t.Fatal("a release statement is not signed under ocmt-mesh/escrow-release/v1 alone")
	}
	wire.UnmarshalCanonical(req, &s)
	sig = s.Sig
	s.Sig = nil
	payload, _ = wire.Marshal(s)
	pub, _ = keys.PeerPublicFromID(e.owner.ID())
	if !pub.Verify(keys.RecoveryMessage(payload), sig) || pub.Verify(keys.EscrowReleaseMessage(payload), sig) {
		t.Fatal("an escrow request is not signed under ocmt-mesh/recovery/v1 alone")
	}
	if o := opened(t, rel); o.ID != sha256.Sum256(rel) {
		t.Fatal("a message's ID is not SHA-256 of its bytes")
	}
}
