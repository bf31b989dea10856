package group

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// fixture is a dealt group, its admins' keys and the vault's.
type fixture struct {
	d      *Dealing
	keys   []*keys.PeerKey
	ids    []peer.ID
	vault  *keys.PeerKey
	clk    *testkit.Clock
	nonces int
}

func deal(t testing.TB, name string, k, n int) *fixture {
	t.Helper()
	f := &fixture{vault: testkit.Key(t, "vault"), clk: testkit.NewClock(testkit.Epoch)}
	for i := range n {
		key := testkit.Key(t, fmt.Sprintf("admin-%d", i))
		f.keys = append(f.keys, key)
		f.ids = append(f.ids, key.ID())
	}
	d, err := Split(rand.Reader, name, k, f.ids)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return f
}

// approval has admin i approve at the clock's time with window w: its
// share is sealed to the vault, the approval signed, encoded, parsed,
// and the share opened by the vault, as a node would.
func (f *fixture) approval(t testing.TB, i int, w time.Duration) (*Approval, *Share) {
	t.Helper()
	return f.approvalOf(t, f.keys[i], f.d.Shares[i], f.clk.Now(), w)
}

func (f *fixture) approvalOf(t testing.TB, k *keys.PeerKey, s *Share, at time.Time, w time.Duration) (*Approval, *Share) {
	t.Helper()
	return f.signed(t, k, s, at, w, nil)
}

// changeApproval has admin i approve the change with the given digest at
// the clock's time.
func (f *fixture) changeApproval(t testing.TB, i int, digest [ChangeDigestSize]byte) *Approval {
	t.Helper()
	a, _ := f.signed(t, f.keys[i], f.d.Shares[i], f.clk.Now(), MinWindow, digest[:])
	return a
}

func (f *fixture) signed(t testing.TB, k *keys.PeerKey, s *Share, at time.Time, w time.Duration, change []byte) (*Approval, *Share) {
	t.Helper()
	sealed, err := SealShare(s, f.vault.ID())
	if err != nil {
		t.Fatal(err)
	}
	f.nonces++
	a := Approval{Group: f.d.Commitments.Group, Window: w, Time: at, Share: sealed, Change: change}
	copy(a.Nonce[:], fmt.Appendf(nil, "nonce-%d", f.nonces))
	b, err := Sign(k, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseApproval(b)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenShare(got.Share, f.vault)
	if err != nil {
		t.Fatal(err)
	}
	return got, opened
}

func (f *fixture) lock() *Lock {
	return NewLock(f.d.Commitments, LockConfig{Now: f.clk.Now})
}
