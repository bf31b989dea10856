package recovery

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// vaultA and vaultB are two vaults' IDs (16 bytes, as the vault's).
var (
	vaultA = bytes.Repeat([]byte{0xa1}, 16)
	vaultB = bytes.Repeat([]byte{0xb2}, 16)
)

// opened opens a signed message the test expects to verify.
func opened(t testing.TB, b []byte) *Opened {
	t.Helper()
	o, err := Open(b)
	if err != nil {
		t.Fatalf("a message the package signed does not open: %v", err)
	}
	return o
}

// handleOf is a friend's handle of n characters.
func handleOf(name string, n int) string {
	h := name
	for len(h) < n {
		h += "x"
	}
	return h[:n]
}

// social is an owner who dealt a recovery key among friends.
type social struct {
	owner   *keys.PeerKey
	friends []*keys.PeerKey
	ids     []peer.ID
	handles []string
	dealt   *Dealt
	clk     *testkit.Clock
}

// dealSocial deals a recovery key k-of-n among n fixed friends at
// testkit.Epoch, with the default waiting period.
func dealSocial(t testing.TB, n, k int) *social {
	t.Helper()
	s := &social{owner: testkit.Key(t, "owner"), clk: testkit.NewClock(testkit.Epoch)}
	for i := range n {
		f := testkit.Key(t, fmt.Sprintf("friend-%d", i))
		s.friends = append(s.friends, f)
		s.ids = append(s.ids, f.ID())
		s.handles = append(s.handles, fmt.Sprintf("friend%d", i))
	}
	d, err := EnableSocial(s.owner, "owner", s.ids, s.handles, k, DefaultWait, 0, s.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.dealt = d
	return s
}

// held is friend i's checked share delivery.
func (s *social) held(t testing.TB, i int) *HeldShare {
	t.Helper()
	h, err := CheckShare(opened(t, s.dealt.Shares[i]), s.friends[i])
	if err != nil {
		t.Fatalf("friend %d's share: %v", i, err)
	}
	return h
}

// request is a checked recovery request of device for the owner's vault.
func (s *social) request(t testing.TB, device *keys.PeerKey) *Request {
	t.Helper()
	b, err := NewRequest(device, s.owner.ID(), "owner", s.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := CheckRequest(opened(t, b), s.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// release is friend i's release for req.
func (s *social) release(t testing.TB, i int, req *Request) *Opened {
	t.Helper()
	b, err := Release(s.friends[i], s.held(t, i), req, s.clk.Now())
	if err != nil {
		t.Fatalf("friend %d's release: %v", i, err)
	}
	return opened(t, b)
}

// escrowed is an owner whose vault's recovery key is sealed to an
// institution.
type escrowed struct {
	owner, inst *keys.PeerKey
	instID      *age.X25519Identity
	rk          *[32]byte
	meta        []byte
	clk         *testkit.Clock
}

func escrow(t testing.TB, owner string) *escrowed {
	t.Helper()
	e := &escrowed{owner: testkit.Key(t, owner), inst: testkit.Key(t, "institution"), clk: testkit.NewClock(testkit.Epoch)}
	var err error
	if e.instID, err = age.GenerateX25519Identity(); err != nil {
		t.Fatal(err)
	}
	e.rk, e.meta, err = EnableEscrow(e.owner.ID(), e.instID.Recipient().String(), e.inst.ID(), DefaultWait, 0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// request is the owner's signed escrow request for vault and the
// one-time identity that opens its answer.
func (e *escrowed) request(t testing.TB, vault []byte) ([]byte, string) {
	t.Helper()
	req, id, err := NewEscrowRequest(e.owner, vault, e.meta, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req, id
}

// releaseFor is the institution's release of req, now.
func (e *escrowed) releaseFor(t testing.TB, req []byte) []byte {
	t.Helper()
	rel, err := InstitutionRelease(e.inst, strings.NewReader(e.instID.String()), req, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// secretForms are the ways a secret's bytes could show in a text: raw,
// hex, base64, and fmt's %v of a byte array or slice (a prefix of it, so
// that a truncated print counts too).
func secretForms(b []byte) []string {
	out := []string{string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
	if len(b) >= 8 {
		dec := fmt.Sprint(b[:8])
		out = append(out, dec[:len(dec)-1])
	}
	return out
}

// holdsNone fails the test when text holds any form of any secret.
func holdsNone(t testing.TB, what, text string, secrets map[string][]byte) {
	t.Helper()
	for name, s := range secrets {
		for _, f := range secretForms(s) {
			if f != "" && strings.Contains(text, f) {
				t.Errorf("%s shows %s: %q", what, name, text)
			}
		}
	}
}

// at is a fixed time in the tests' vectors' era.
func at(d time.Duration) time.Time { return testkit.Epoch.Add(d) }
