package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestAResplitLeavesOldSharesUseless(t *testing.T) {
	f := deal(t, "board", 2, 3)
	oldKey, err := Recover(f.d.Commitments, f.d.Shares[:2])
	if err != nil {
		t.Fatal(err)
	}
	// Admin 2 is removed: the remaining two get a new dealing.
	d2, err := Split(rand.Reader, "board", 2, f.ids[:2])
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := Recover(d2.Commitments, d2.Shares)
	if err != nil {
		t.Fatal(err)
	}
	if newKey.Equal(oldKey) {
		t.Fatal("a re-split kept the key")
	}
	removed := f.d.Shares[2]
	err = VerifyShare(d2.Commitments, removed)
	testkit.Sentence(t, "the removed admin's old share", err, "from another dealing", ErrBadShare)
	// Even relabelled with the new dealing's ID, an old share is refused.
	for _, s := range []*Share{f.d.Shares[0], removed} {
		re := *s
		re.Dealing = d2.Commitments.ID()
		if err := VerifyShare(d2.Commitments, &re); !errors.Is(err, ErrBadShare) {
			t.Fatalf("an old share relabelled: %v", err)
		}
	}
	// Mixing one old and one new share recovers nothing.
	if _, err := Recover(d2.Commitments, []*Share{d2.Shares[0], f.d.Shares[1]}); !errors.Is(err, ErrBadShare) {
		t.Fatalf("old and new shares mixed: %v", err)
	}
	// The removed admin's approval opens nothing.
	l := NewLock(d2.Commitments, LockConfig{Now: f.clk.Now})
	a, s := f.approval(t, 2, time.Hour)
	_, err = l.Offer(a, s)
	testkit.Sentence(t, "the removed admin's approval", err, "is not an admin", ErrNotAdmin)
}

func TestSplitRefusesImpossibleGroups(t *testing.T) {
	var ids []peer.ID
	for i := range MaxAdmins + 1 {
		ids = append(ids, testkit.Key(t, fmt.Sprintf("admin-%d", i)).ID())
	}
	for _, c := range []struct {
		name   string
		k      int
		admins []peer.ID
		want   string
	}{
		{"board", 1, ids[:3], "a threshold of 1"},
		{"board", 4, ids[:3], "at least 4"},
		{"board", 2, ids, "17 admins, at most 16"},
		{"board", 2, []peer.ID{ids[0], ids[1], ids[0]}, "is listed twice"},
		{"board", 2, []peer.ID{ids[0], "nope"}, "is not a peer ID"},
		{"", 2, ids[:2], "1 to 64 characters"},
		{"Board", 2, ids[:2], "starts with a letter"},
		{"bo ard", 2, ids[:2], "only a to z"},
	} {
		_, err := Split(rand.Reader, c.name, c.k, c.admins)
		testkit.Sentence(t, fmt.Sprintf("Split(%q, %d, %d admins)", c.name, c.k, len(c.admins)), err, c.want, ErrBadDealing)
	}
	if _, err := Split(rand.Reader, "board", MaxAdmins, ids[:MaxAdmins]); err != nil {
		t.Fatal(err)
	}
}

func TestEncodingsRoundTrip(t *testing.T) {
	f := deal(t, "board", 2, 3)
	c := f.d.Commitments
	back, err := ParseCommitments(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != c.ID() || back.Group != c.Group || back.Threshold != 2 || !slices.Equal(back.Admins, c.Admins) {
		t.Fatal("the commitments changed through their encoding")
	}
	for i, s := range f.d.Shares {
		got, err := ParseShare(s.Encode())
		if err != nil || *got != *s {
			t.Fatalf("share %d changed through its encoding: %v", i, err)
		}
		if err := VerifyShare(back, got); err != nil {
			t.Fatal(err)
		}
		sealed, err := SealShare(s, f.ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenShare(sealed, f.keys[(i+1)%3]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("another admin opened share %d: %v", i, err)
		}
		opened, err := OpenShare(sealed, f.keys[i])
		if err != nil || *opened != *s {
			t.Fatalf("admin %d cannot open their share: %v", i, err)
		}
	}
	a, _ := f.approval(t, 0, time.Hour)
	enc, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseApproval(enc)
	if err != nil || again.Time != a.Time || again.Nonce != a.Nonce || again.Sig != a.Sig {
		t.Fatalf("the approval changed through its encoding: %v", err)
	}
}

func TestNonceSetIsBoundedAndForgets(t *testing.T) {
	clk := testkit.NewClock(testkit.Epoch)
	ns := NewNonceSet(2)
	n := func(b byte) (x [NonceSize]byte) { x[0] = b; return }
	for i := range 2 {
		if err := ns.Use("board", n(byte(i)), clk.Now(), clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	err := ns.Use("board", n(9), clk.Now(), clk.Now())
	testkit.Sentence(t, "a full nonce set", err, "try again later", ErrTooMany)
	if err := ns.Use("other", n(9), clk.Now(), clk.Now()); err != nil {
		t.Fatal("one group's nonces filled another's")
	}
	clk.Advance(MaxApprovalAge + time.Second)
	if err := ns.Use("board", n(9), clk.Now(), clk.Now()); err != nil {
		t.Fatalf("stale nonces were not forgotten: %v", err)
	}
}

// TestTheKeyNeverShows is the canary: the key, the master scalar and the
// share values appear in no error and in no encoding that leaves a node
// in the clear (commitments, approvals).
func TestTheKeyNeverShows(t *testing.T) {
	f := deal(t, "board", 2, 3)
	l := f.lock()
	var secrets [][]byte
	for _, s := range f.d.Shares {
		secrets = append(secrets, bytes.Clone(s.value[:]))
	}
	var errs []error
	var encs [][]byte
	encs = append(encs, f.d.Commitments.Encode())
	bad := *f.d.Shares[1]
	bad.value[3] ^= 0x40
	_, err := Recover(f.d.Commitments, []*Share{f.d.Shares[0], &bad})
	errs = append(errs, err)
	for i := range 3 {
		a, s := f.approval(t, i, time.Hour)
		enc, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		encs = append(encs, enc)
		if i == 1 {
			_, err := l.Offer(a, &bad)
			errs = append(errs, err)
		}
		_, err = l.Offer(a, s)
		errs = append(errs, err)
	}
	k, err := l.Key()
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, bytes.Clone(k.Bytes()))
	if !strings.Contains(fmt.Sprint(k, *k, f.d.Shares[0], *f.d.Shares[0]), "<secret>") || strings.Contains(fmt.Sprintf("%#v %v", *k, *f.d.Shares[0]), hex.EncodeToString(k.Bytes())) {
		t.Fatal("a key or share prints its bytes")
	}
	for _, sec := range secrets {
		h := hex.EncodeToString(sec)
		for _, e := range errs {
			if e != nil && (strings.Contains(e.Error(), h) || strings.Contains(e.Error(), string(sec))) {
				t.Fatalf("an error shows a secret: %v", e)
			}
		}
		for _, b := range encs {
			if bytes.Contains(b, sec) || bytes.Contains(b, sec[:8]) {
				t.Fatal("an encoding holds a secret in the clear")
			}
		}
	}
	if len(errs) < 3 || errs[0] == nil {
		t.Fatal("the canary collected no errors")
	}
}

func TestSignRefusesImpossibleApprovals(t *testing.T) {
	f := deal(t, "board", 2, 3)
	sealed, err := SealShare(f.d.Shares[0], f.vault.ID())
	if err != nil {
		t.Fatal(err)
	}
	ok := Approval{Group: "board", Window: time.Hour, Time: f.clk.Now(), Share: sealed}
	for _, c := range []struct {
		what string
		edit func(a *Approval)
		want string
	}{
		{"a short window", func(a *Approval) { a.Window = 59 * time.Second }, "outside 1m0s to 24h0m0s"},
		{"a long window", func(a *Approval) { a.Window = MaxWindow + time.Second }, "outside 1m0s to 24h0m0s"},
		{"no group", func(a *Approval) { a.Group = "" }, "names no valid group"},
		{"no share", func(a *Approval) { a.Share = nil }, "carries no sealed share"},
		{"a time before 1970", func(a *Approval) { a.Time = time.Time{} }, "impossible time"},
	} {
		a := ok
		c.edit(&a)
		_, err := Sign(f.keys[0], a)
		testkit.Sentence(t, c.what, err, c.want, ErrMalformed)
	}
	if _, err := Sign(f.keys[0], ok); err != nil {
		t.Fatal(err)
	}
	_, err = ParseCommitments(f.d.Shares[0].Encode())
	testkit.Sentence(t, "a share parsed as commitments", err, "group commitments do not decode", ErrMalformed)
	_, err = ParseShare(f.d.Commitments.Encode())
	testkit.Sentence(t, "commitments parsed as a share", err, "the share does not decode", ErrMalformed)
}
