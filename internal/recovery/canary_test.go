package recovery

import (
	"fmt"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// TestNoErrorOrPrintOfAnythingHoldsAKeyOrAShare runs every method with
// its failures and checks that no error text, and no %v, %+v or %#v of
// any value the package returns, shows a recovery key, a share's value,
// a private key, an age identity or a phrase.
func TestNoErrorOrPrintOfAnythingHoldsAKeyOrAShare(t *testing.T) {
	secrets, printed, errs := canaryRun(t)
	for _, err := range errs {
		holdsNone(t, "the error", err.Error(), secrets)
	}
	for _, v := range printed {
		for _, f := range []string{"%v", "%+v", "%#v"} {
			holdsNone(t, fmt.Sprintf("%s of a %T", f, v), fmt.Sprintf(f, v), secrets)
		}
	}
}

// TestNoPrintWithAnyVerbHoldsAKeyOrAShare is the same with the verbs
// that print what a pointer points to: fmt's "%!s(*[32]uint8=&[...])".
func TestNoPrintWithAnyVerbHoldsAKeyOrAShare(t *testing.T) {
	secrets, printed, _ := canaryRun(t)
	for _, v := range printed {
		for _, f := range []string{"%s", "%x", "%d", "%q"} {
			holdsNone(t, fmt.Sprintf("%s of a %T", f, v), fmt.Sprintf(f, v), secrets)
		}
	}
}

// canaryRun runs every method and its failures, and returns the
// secrets it used, the values the package returned and its errors.
func canaryRun(t *testing.T) (map[string][]byte, []any, []error) {
	secrets := map[string][]byte{}
	var printed []any
	var errs []error
	fail := func(err error) {
		if err == nil {
			t.Helper()
			t.Error("a failure the canary test expects did not happen")
		}
		errs = append(errs, err)
	}

	// Social.
	s := dealSocial(t, 5, 3)
	secrets["the social recovery key"] = s.dealt.Key[:]
	for i, f := range s.friends {
		var b ShareBody
		wire.UnmarshalCanonical(opened(t, s.dealt.Shares[i]).Body, &b)
		sh, err := group.OpenShare(b.Share, f)
		if err != nil {
			t.Fatal(err)
		}
		enc := sh.Encode()
		secrets[fmt.Sprintf("friend %d's share", i)] = enc[len(enc)-32:]
		sh.Wipe()
	}
	device := testkit.Key(t, "new-laptop")
	secrets["the device's private key"] = device.Seed()
	for i, f := range s.friends {
		secrets[fmt.Sprintf("friend %d's private key", i)] = f.Seed()
	}
	secrets["the owner's private key"] = s.owner.Seed()
	req := s.request(t, device)
	col, _ := NewCollector(s.dealt.Meta, device, req.ID)
	for i := range 2 {
		if err := col.Add(s.release(t, i, req)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := col.Key()
	fail(err)
	thief := testkit.Key(t, "thief")
	stolen := *req
	stolen.Device = thief.ID()
	toThief, _ := Release(s.friends[3], s.held(t, 3), &stolen, s.clk.Now())
	fail(col.Add(opened(t, toThief)))
	fail(col.Add(opened(t, signRelease(t, s.friends[4], s.friends[2], s.held(t, 2), req))))
	_, err = CheckShare(opened(t, s.dealt.Shares[0]), s.friends[1])
	fail(err)
	m, c, _ := ParseSocialMeta(s.dealt.Meta)
	o := opened(t, s.dealt.Shares[0])
	printed = append(printed, s.dealt, *s.dealt, s.held(t, 0), req, col, m, c, o, o.Kind)

	// Escrow.
	e := escrow(t, "owner")
	secrets["the escrowed key"] = e.rk[:]
	secrets["the institution's identity"] = []byte(e.instID.String())
	ereq, identity := e.request(t, vaultA)
	secrets["the one-time identity"] = []byte(identity)
	rel, err := CheckEscrowRelease(e.releaseFor(t, ereq), e.meta, e.owner.ID(), vaultA, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	_, err = EscrowKey(rel, other.String())
	fail(err)
	_, err = EscrowKey(rel, identity[:30])
	fail(err)
	_, err = InstitutionRelease(e.inst, strings.NewReader(other.String()), ereq, e.clk.Now())
	fail(err)
	em, _, _ := ParseEscrowMeta(e.meta)
	printed = append(printed, rel, em)

	// Hardware.
	hid, hr, _ := NewHardwareIdentity()
	hrk, hmeta, err := EnableHardware(hr)
	if err != nil {
		t.Fatal(err)
	}
	secrets["the hardware key"] = hrk[:]
	secrets["the hardware identity"] = []byte(hid)
	_, err = HardwareKey(hmeta, strings.NewReader(other.String()))
	fail(err)
	_, err = HardwareKey(hmeta, strings.NewReader(hid[:len(hid)-2]))
	fail(err)
	hm, _ := ParseHardwareMeta(hmeta)
	printed = append(printed, hm)

	// Phrase.
	p, _ := NewPhrase()
	prk, _ := PhraseKey(p, vaultA)
	secrets["the phrase's key"] = prk[:]
	secrets["the phrase"] = []byte(p)
	w := strings.Fields(p)
	w[0], w[1], w[2] = w[2], w[0], w[1]
	_, err = PhraseKey(strings.Join(w, " "), vaultA)
	if err != nil { // a rotation of three words keeps the checksum once in 256
		errs = append(errs, err)
	}
	_, err = PhraseWordsAt(p, 25)
	fail(err)

	return secrets, printed, errs
}
