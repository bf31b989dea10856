package recovery

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

func TestEachOfFiveFriendsChecksTheShareDealtToThem(t *testing.T) {
	s := dealSocial(t, 5, 3)
	if len(s.dealt.Shares) != 5 {
		t.Fatalf("%d share deliveries for 5 friends", len(s.dealt.Shares))
	}
	m, c, err := ParseSocialMeta(s.dealt.Meta)
	if err != nil || c.Threshold != 3 || len(c.Admins) != 5 || c.Group != "recovery" || strings.Join(m.Handles, " ") != strings.Join(s.handles, " ") ||
		m.OwnerHandle != "owner" || peer.ID(m.Owner) != s.owner.ID() || m.Wait != int64(DefaultWait/time.Second) {
		t.Fatalf("the meta: %+v %v", m, err)
	}
	for i := range s.friends {
		o := opened(t, s.dealt.Shares[i])
		if o.Kind != KindShare || o.Signer != s.owner.ID() {
			t.Fatalf("delivery %d: a %s signed by %s", i, o.Kind, o.Signer)
		}
		h, err := CheckShare(o, s.friends[i])
		if err != nil {
			t.Fatalf("friend %d: %v", i, err)
		}
		if h.Owner != s.owner.ID() || h.Body.OwnerHandle != "owner" || string(h.Commitments.Encode()) != string(m.Commitments) || c.Admins[i] != s.ids[i] {
			t.Fatalf("friend %d holds %+v", i, h)
		}
		// Another friend's delivery does not open with this friend's key.
		j := (i + 1) % len(s.friends)
		if _, err := CheckShare(opened(t, s.dealt.Shares[j]), s.friends[i]); err == nil || !strings.Contains(err.Error(), "does not open with your key") {
			t.Fatalf("friend %d checking friend %d's share: %v", i, j, err)
		}
	}
}

func TestASharesDeliveryThatIsNotTheOwnersForThisFriendIsRefused(t *testing.T) {
	s := dealSocial(t, 3, 2)
	o := opened(t, s.dealt.Shares[0])
	var body ShareBody
	if err := wire.UnmarshalCanonical(o.Body, &body); err != nil {
		t.Fatal(err)
	}
	byOther, _ := sign(testkit.Key(t, "impostor"), KindShare, body)
	other := dealSocial(t, 3, 2) // another dealing among the same friends
	otherDealing := body
	var ob ShareBody
	wire.UnmarshalCanonical(opened(t, other.dealt.Shares[0]).Body, &ob)
	otherDealing.Share = ob.Share // a share of another dealing, with these commitments
	mixed, _ := sign(s.owner, KindShare, otherDealing)
	notRecovery := body
	d, _ := group.Split(testkit.NewRand("g"), "family", 2, s.ids)
	notRecovery.Commitments = d.Commitments.Encode()
	wrongGroup, _ := sign(s.owner, KindShare, notRecovery)
	longHandle := body
	longHandle.OwnerHandle = strings.Repeat("h", maxHandleLen+1)
	long, _ := sign(s.owner, KindShare, longHandle)
	req, _ := NewRequest(s.friends[0], s.owner.ID(), "owner", s.clk.Now())
	for _, c := range []struct {
		name string
		msg  []byte
		self int // -1: a stranger
		want string
		is   error
	}{
		{"signed by another peer than the owner it names", byOther, 0, "another peer than its owner", ErrBadSignature},
		{"for a stranger", s.dealt.Shares[0], -1, "does not name you", ErrMalformed},
		{"a share of another dealing", mixed, 0, "does not match the dealing", group.ErrBadShare},
		{"a dealing of a group, not of recovery", wrongGroup, 0, "does not name you", ErrMalformed},
		{"an owner handle too long", long, 0, "share body", ErrMalformed},
		{"a request, not a share", req, 0, "not a share", ErrMalformed},
	} {
		self := testkit.Key(t, "stranger")
		if c.self >= 0 {
			self = s.friends[c.self]
		}
		_, err := CheckShare(opened(t, c.msg), self)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %q (%v)", c.name, err, c.want, c.is)
		}
	}
}

func TestARequestsCodeIsTheSameForEveryFriendAndEveryRead(t *testing.T) {
	s := dealSocial(t, 5, 3)
	device := testkit.Key(t, "new-laptop")
	b, err := NewRequest(device, s.owner.ID(), "owner", s.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for i := range s.friends {
		s.clk.Advance(time.Minute) // each friend reads it later
		r, err := CheckRequest(opened(t, b), s.clk.Now())
		if err != nil {
			t.Fatalf("friend %d: %v", i, err)
		}
		if r.Owner != s.owner.ID() || r.Device != device.ID() || r.Handle != "owner" || !r.Time.Equal(testkit.Epoch) || len(r.Nonce) != NonceSize {
			t.Fatalf("the request as friend %d reads it: %+v", i, r)
		}
		codes = append(codes, r.Code(), r.Code())
	}
	for _, c := range codes {
		if c != codes[0] {
			t.Fatalf("codes differ: %v", codes)
		}
	}
	if len(codes[0]) != 23 || strings.Count(codes[0], " ") != 3 || strings.Trim(codes[0], "0123456789 ") != "" {
		t.Fatalf("the code %q is not four groups of five digits", codes[0])
	}
	b2, _ := NewRequest(device, s.owner.ID(), "owner", s.clk.Now())
	r2, _ := CheckRequest(opened(t, b2), s.clk.Now())
	if r2.Code() == codes[0] {
		t.Fatal("two requests of one device have one code")
	}
}

func TestARequestNotSignedByItsDeviceOrNotFreshIsRefused(t *testing.T) {
	s := dealSocial(t, 3, 2)
	device := testkit.Key(t, "new-laptop")
	b, _ := NewRequest(device, s.owner.ID(), "owner", s.clk.Now())
	var body RequestBody
	wire.UnmarshalCanonical(opened(t, b).Body, &body)
	byOther, _ := sign(testkit.Key(t, "impostor"), KindRequest, body)
	noNonce := body
	noNonce.Nonce = nil
	badNonce, _ := sign(device, KindRequest, noNonce)
	zero := body
	zero.Time = 0
	zeroTime, _ := sign(device, KindRequest, zero)
	share := s.dealt.Shares[0]
	now := s.clk.Now()
	for _, c := range []struct {
		name string
		msg  []byte
		now  time.Time
		want error
	}{
		{"signed by another key than its device", byOther, now, ErrBadSignature},
		{"older than MaxRequestAge", b, now.Add(MaxRequestAge + time.Second), ErrStale},
		{"more than MaxClockSkew ahead", b, now.Add(-MaxClockSkew - time.Second), ErrStale},
		{"without its nonce", badNonce, now, ErrMalformed},
		{"at time zero", zeroTime, now, ErrMalformed},
		{"a share, not a request", share, now, ErrMalformed},
	} {
		if _, err := CheckRequest(opened(t, c.msg), c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, d := range []time.Duration{MaxRequestAge, -MaxClockSkew} {
		if _, err := CheckRequest(opened(t, b), now.Add(d)); err != nil {
			t.Errorf("a request read %s after: %v", d, err)
		}
	}
}

func TestThreeOfFiveFriendsReleasingGiveTheDealtKey(t *testing.T) {
	s := dealSocial(t, 5, 3)
	device := testkit.Key(t, "new-laptop")
	req := s.request(t, device)
	col, err := NewCollector(s.dealt.Meta, device, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ids, handles := col.Friends(); col.Threshold() != 3 || len(ids) != 5 || handles[4] != "friend4" || ids[4] != s.ids[4] {
		t.Fatalf("the collector: %d of %v %v", col.Threshold(), ids, handles)
	}
	for n, i := range []int{4, 1} {
		s.clk.Advance(DefaultWait)
		if err := col.Add(s.release(t, i, req)); err != nil {
			t.Fatalf("friend %d: %v", i, err)
		}
		if col.Have() != n+1 {
			t.Fatalf("%d shares held after %d releases", col.Have(), n+1)
		}
	}
	// The same friend twice counts once.
	if err := col.Add(s.release(t, 1, req)); err != nil || col.Have() != 2 {
		t.Fatalf("a second release from friend 1: %v, %d held", err, col.Have())
	}
	_, err = col.Key()
	testkit.Sentence(t, "two of three releases", err, "2 of the 3 friends needed")
	if err := col.Add(s.release(t, 2, req)); err != nil {
		t.Fatal(err)
	}
	rk, err := col.Key()
	if err != nil || *rk != *s.dealt.Key {
		t.Fatalf("three releases: %v", err)
	}
	col.Wipe()
	if col.Have() != 0 {
		t.Fatal("Wipe kept shares")
	}
	if _, err := col.Key(); err == nil {
		t.Fatal("a wiped collector still gives the key")
	}
}

func TestTheRecoveryKeyIsTheGroupKeyOfTheDealing(t *testing.T) {
	s := dealSocial(t, 3, 2)
	_, c, _ := ParseSocialMeta(s.dealt.Meta)
	var shares []*group.Share
	for i, f := range s.friends[:2] {
		var b ShareBody
		wire.UnmarshalCanonical(opened(t, s.dealt.Shares[i]).Body, &b)
		sh, err := group.OpenShare(b.Share, f)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, sh)
	}
	k, err := group.Recover(c, shares)
	if err != nil || string(k.Bytes()) != string(s.dealt.Key[:]) {
		t.Fatalf("package group's Recover of two shares: %v", err)
	}
}

func TestAReleaseThatIsNotAFriendsShareForThisRequestAndDeviceIsRefusedNamingThePeer(t *testing.T) {
	s := dealSocial(t, 5, 3)
	device := testkit.Key(t, "new-laptop")
	req := s.request(t, device)
	other := s.request(t, device) // another request of the same device
	thief := testkit.Key(t, "thief")
	stolen := *req
	stolen.Device = thief.ID() // the share re-sealed to another device
	stranger := testkit.Key(t, "stranger")

	// A stranger who learnt friend 0's share re-seals and signs it.
	held0 := s.held(t, 0)
	if _, err := Release(stranger, held0, req, s.clk.Now()); err == nil {
		t.Fatal("a stranger opened friend 0's share")
	}
	fromStranger := signRelease(t, stranger, s.friends[0], held0, req)
	// Friend 1 releases friend 0's share (which it learnt) as its own.
	asOther := signRelease(t, s.friends[1], s.friends[0], held0, req)
	toOtherRequest, _ := Release(s.friends[2], s.held(t, 2), other, s.clk.Now())
	toThief, _ := Release(s.friends[3], s.held(t, 3), &stolen, s.clk.Now())
	good, _ := Release(s.friends[4], s.held(t, 4), req, s.clk.Now())
	forged := forgeSigner(t, good, s.ids[0]) // friend 4's release claiming to be friend 0's

	col, _ := NewCollector(s.dealt.Meta, device, req.ID)
	for _, c := range []struct {
		name string
		msg  []byte
		peer peer.ID
		want string
	}{
		{"a release from a stranger", fromStranger, stranger.ID(), "not one of the owner's friends"},
		{"a friend releasing another friend's share", asOther, s.ids[1], "released another friend's share"},
		{"a release for another request", toOtherRequest, s.ids[2], "answers another request"},
		{"a share sealed to another device", toThief, s.ids[3], "does not open with this device's key"},
	} {
		err := col.Add(opened(t, c.msg))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.peer.String()) {
			t.Errorf("%s: %v, want %q naming %s", c.name, err, c.want, c.peer)
		}
	}
	if _, err := Open(forged); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), s.ids[0].String()) {
		t.Errorf("a forged signature: %v", err)
	}
	if col.Have() != 0 {
		t.Fatalf("refused releases were counted: %d", col.Have())
	}
	if _, err := Release(s.friends[0], held0, s.request(t, device), s.clk.Now()); err != nil {
		t.Fatal(err)
	}
	veto, _ := NewVeto(s.owner, req.ID, s.clk.Now())
	if err := col.Add(opened(t, veto)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a veto offered as a release: %v", err)
	}
	// A request for another owner is not answered with this owner's share.
	x := dealSocial(t, 2, 2)
	x.owner = testkit.Key(t, "other-owner")
	xreq := x.request(t, device)
	if _, err := Release(s.friends[0], held0, xreq, s.clk.Now()); err == nil {
		t.Error("a share released for another owner's request")
	}
}

// signRelease is signer's release of holder's share (opened with
// holder's key) for req.
func signRelease(t *testing.T, signer, holder *keys.PeerKey, held *HeldShare, req *Request) []byte {
	t.Helper()
	sh, err := group.OpenShare(held.Body.Share, holder)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := group.SealShare(sh, req.Device)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign(signer, KindRelease, ReleaseBody{Request: req.ID[:], Owner: []byte(held.Owner), Share: sealed, Time: testkit.Epoch.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forgeSigner re-encodes a signed message naming another signer, with
// the first signer's signature.
func forgeSigner(t *testing.T, b []byte, signer peer.ID) []byte {
	t.Helper()
	var s signedWire
	if err := wire.UnmarshalCanonical(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Signer = []byte(signer)
	out, err := wire.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOnlyTheOwnersVetoOfThatRequestCounts(t *testing.T) {
	s := dealSocial(t, 3, 2)
	device := testkit.Key(t, "new-laptop")
	req := s.request(t, device)
	other := s.request(t, device)
	veto, err := NewVeto(s.owner, req.ID, s.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckVeto(opened(t, veto), req); err != nil {
		t.Fatalf("the owner's veto: %v", err)
	}
	if err := CheckVeto(opened(t, veto), other); err == nil || !strings.Contains(err.Error(), "another request") {
		t.Errorf("the veto of another request: %v", err)
	}
	byFriend, _ := NewVeto(s.friends[0], req.ID, s.clk.Now())
	if err := CheckVeto(opened(t, byFriend), req); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a veto by a friend: %v", err)
	}
	byDevice, _ := NewVeto(device, req.ID, s.clk.Now())
	if err := CheckVeto(opened(t, byDevice), req); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a veto by the requesting device: %v", err)
	}
	if err := CheckVeto(opened(t, s.dealt.Shares[0]), req); !errors.Is(err, ErrMalformed) {
		t.Errorf("a share offered as a veto: %v", err)
	}
	if _, err := Open(forgeSigner(t, byFriend, s.owner.ID())); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a friend's veto relabelled as the owner's: %v", err)
	}
}

func TestSocialRecoveryTakesTwoToSevenFriendsNotTheOwner(t *testing.T) {
	owner := testkit.Key(t, "owner")
	ids := func(n int) ([]peer.ID, []string) {
		var out []peer.ID
		var hs []string
		for i := range n {
			out = append(out, testkit.Key(t, fmt.Sprintf("friend-%d", i)).ID())
			hs = append(hs, fmt.Sprintf("f%d", i))
		}
		return out, hs
	}
	now := testkit.Epoch
	for _, n := range []int{MinFriends - 1, MaxFriends + 1} {
		f, h := ids(n)
		if _, err := EnableSocial(owner, "owner", f, h, 2, DefaultWait, 0, now); err == nil {
			t.Errorf("%d friends: no error", n)
		}
	}
	f, h := ids(3)
	for name, call := range map[string]func() error{
		"the owner among the friends": func() error {
			_, err := EnableSocial(owner, "owner", append(f[:2:2], owner.ID()), h, 2, DefaultWait, 0, now)
			return err
		},
		"fewer handles than friends": func() error { _, err := EnableSocial(owner, "owner", f, h[:2], 2, DefaultWait, 0, now); return err },
		"a threshold of one":         func() error { _, err := EnableSocial(owner, "owner", f, h, 1, DefaultWait, 0, now); return err },
		"a threshold above N":        func() error { _, err := EnableSocial(owner, "owner", f, h, 4, DefaultWait, 0, now); return err },
		"a friend twice": func() error {
			_, err := EnableSocial(owner, "owner", []peer.ID{f[0], f[0], f[1]}, h, 2, DefaultWait, 0, now)
			return err
		},
		"a wait below MinWait": func() error { _, err := EnableSocial(owner, "owner", f, h, 2, MinWait-1, 0, now); return err },
		"a wait above MaxWait": func() error { _, err := EnableSocial(owner, "owner", f, h, 2, MaxWait+1, 0, now); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWhatEnableSocialDealsEveryFriendAccepts(t *testing.T) {
	owner := testkit.Key(t, "owner")
	f := []peer.ID{testkit.Key(t, "friend-0").ID(), testkit.Key(t, "friend-1").ID()}
	d, err := EnableSocial(owner, strings.Repeat("o", maxHandleLen+1), f, []string{"a", "b"}, 2, DefaultWait, 0, testkit.Epoch)
	if err != nil {
		return // refused: fine
	}
	if _, err := CheckShare(opened(t, d.Shares[0]), testkit.Key(t, "friend-0")); err != nil {
		t.Fatalf("EnableSocial dealt a share its friend refuses: %v", err)
	}
}
