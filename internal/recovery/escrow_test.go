package recovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

func TestAnEscrowedKeyComesBackThroughTheInstitutionsRelease(t *testing.T) {
	e := escrow(t, "owner")
	m, inst, err := ParseEscrowMeta(e.meta)
	if err != nil || inst != e.inst.ID() || m.Wait != int64(DefaultWait/time.Second) || string(m.Owner) != string(e.owner.ID()) {
		t.Fatalf("the meta: %+v %v", m, err)
	}
	req, identity := e.request(t, vaultA)
	e.clk.Advance(time.Hour) // the institution checks the owner's identity first
	rel := e.releaseFor(t, req)
	e.clk.Advance(time.Minute)
	r, err := CheckEscrowRelease(rel, e.meta, e.owner.ID(), vaultA, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Time.Equal(at(time.Hour)) || r.ID != opened(t, rel).ID {
		t.Fatalf("the checked release: time %s", r.Time)
	}
	var b EscrowReleaseBody
	if err := wire.UnmarshalCanonical(opened(t, rel).Body, &b); err != nil || string(b.Request) != string(opened(t, req).ID[:]) {
		t.Fatalf("the release does not name the request it answers: %v", err)
	}
	got, err := EscrowKey(r, "\n"+identity+"\n")
	if err != nil || *got != *e.rk {
		t.Fatalf("the released key: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	if _, err := EscrowKey(r, other.String()); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another identity: %v", err)
	}
	if _, err := EscrowKey(r, "not an identity"); err == nil || strings.Contains(err.Error(), identity) {
		t.Fatalf("no identity: %v", err)
	}
}

func TestAReleaseThatIsNotTheInstitutionsForThisVaultIsRefused(t *testing.T) {
	e := escrow(t, "owner")
	req, _ := e.request(t, vaultA)
	good := e.releaseFor(t, req)

	// Another institution, same age identity: a key the vault did not name.
	forger := &escrowed{owner: e.owner, inst: testkit.Key(t, "forger"), instID: e.instID, meta: e.meta, clk: e.clk}
	forged := forger.releaseFor(t, req)

	// Another owner who escrowed with the same institution.
	x := escrow(t, "someone-else")
	x.instID, x.clk = e.instID, e.clk
	var err error
	x.rk, x.meta, err = EnableEscrow(x.owner.ID(), e.instID.Recipient().String(), e.inst.ID(), DefaultWait, 0)
	if err != nil {
		t.Fatal(err)
	}
	xreq, _ := x.request(t, vaultA)
	theirs := x.releaseFor(t, xreq)

	cases := []struct {
		name    string
		release []byte
		vault   []byte
		now     time.Time
		want    error
	}{
		{"signed by another key than the institution's", forged, vaultA, e.clk.Now(), ErrNotReleased},
		{"for another owner", theirs, vaultA, e.clk.Now(), ErrNotReleased},
		{"for another vault", good, vaultB, e.clk.Now(), ErrNotReleased},
		{"stale", good, vaultA, e.clk.Now().Add(MaxRequestAge + time.Second), ErrStale},
		{"dated ahead of this clock", good, vaultA, e.clk.Now().Add(-MaxClockSkew - time.Second), ErrStale},
		{"the request, not a release", req, vaultA, e.clk.Now(), ErrMalformed},
		{"nothing", nil, vaultA, e.clk.Now(), ErrMalformed},
	}
	for _, c := range cases {
		_, err := CheckEscrowRelease(c.release, e.meta, e.owner.ID(), c.vault, c.now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := CheckEscrowRelease(good, e.meta, e.owner.ID(), vaultA, e.clk.Now().Add(MaxRequestAge)); err != nil {
		t.Errorf("a release MaxRequestAge old: %v", err)
	}
	if _, err := CheckEscrowRelease(good, e.meta, e.owner.ID(), vaultA, e.clk.Now().Add(-MaxClockSkew)); err != nil {
		t.Errorf("a release MaxClockSkew ahead: %v", err)
	}
	// The meta of another owner does not take this owner's release.
	if _, err := CheckEscrowRelease(theirs, x.meta, e.owner.ID(), vaultA, e.clk.Now()); !errors.Is(err, ErrNotReleased) {
		t.Errorf("another owner's meta: %v", err)
	}
}

func TestTheInstitutionReleasesOnlyAFreshRequestSignedByItsOwner(t *testing.T) {
	e := escrow(t, "owner")
	req, _ := e.request(t, vaultA)
	var body EscrowRequestBody
	if err := wire.UnmarshalCanonical(opened(t, req).Body, &body); err != nil {
		t.Fatal(err)
	}
	byOther, err := sign(testkit.Key(t, "impostor"), KindEscrowRequest, body)
	if err != nil {
		t.Fatal(err)
	}
	short := body
	short.Vault = vaultA[:8]
	shortReq, _ := sign(e.owner, KindEscrowRequest, short)
	veto, _ := NewVeto(e.owner, [32]byte{1}, e.clk.Now())
	tampered := append([]byte(nil), req...)
	tampered[len(tampered)-1] ^= 1
	ids := e.instID.String()
	other, _ := age.GenerateX25519Identity()
	cases := []struct {
		name       string
		req        []byte
		identities string
		now        time.Time
		want       error
	}{
		{"a request signed by someone else than its owner", byOther, ids, e.clk.Now(), ErrBadSignature},
		{"a request whose signature was altered", tampered, ids, e.clk.Now(), ErrBadSignature},
		{"a stale request", req, ids, e.clk.Now().Add(MaxRequestAge + time.Second), ErrStale},
		{"a request from the future", req, ids, e.clk.Now().Add(-MaxClockSkew - time.Second), ErrStale},
		{"a veto, not a request", veto, ids, e.clk.Now(), ErrMalformed},
		{"a request for a short vault ID", shortReq, ids, e.clk.Now(), ErrMalformed},
		{"another institution's identity", req, other.String(), e.clk.Now(), ErrWrongKey},
	}
	for _, c := range cases {
		_, err := InstitutionRelease(e.inst, strings.NewReader(c.identities), c.req, c.now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := InstitutionRelease(e.inst, strings.NewReader(""), req, e.clk.Now()); err == nil {
		t.Error("no identity file: no error")
	}
}

func TestEscrowTakesAnInstitutionsPeerIDAndAWaitInItsBounds(t *testing.T) {
	owner := testkit.Key(t, "owner")
	inst := testkit.Key(t, "institution")
	id, _ := age.GenerateX25519Identity()
	r := id.Recipient().String()
	for name, c := range map[string]struct {
		wait, min time.Duration
		ok        bool
	}{
		"the default wait":           {DefaultWait, 0, true},
		"MinWait":                    {MinWait, 0, true},
		"MaxWait":                    {MaxWait, 0, true},
		"below MinWait":              {MinWait - time.Second, 0, false},
		"above MaxWait":              {MaxWait + time.Second, 0, false},
		"an hour, the operator's":    {time.Hour, time.Hour, true},
		"below the operator's floor": {time.Hour - time.Second, time.Hour, false},
	} {
		_, _, err := EnableEscrow(owner.ID(), r, inst.ID(), c.wait, c.min)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := EnableEscrow(owner.ID(), "age1nope", inst.ID(), DefaultWait, 0); err == nil {
		t.Error("a bad recipient: no error")
	}
	if _, _, err := EnableEscrow(owner.ID(), r, "not a peer", DefaultWait, 0); err == nil {
		t.Error("a bad institution: no error")
	}
}

func TestAnEscrowMetaWithAnythingWrongIsMalformed(t *testing.T) {
	e := escrow(t, "owner")
	var m EscrowMeta
	if err := wire.UnmarshalCanonical(e.meta, &m); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*EscrowMeta){
		"another version":        func(m *EscrowMeta) { m.Version = 0 },
		"no sealed key":          func(m *EscrowMeta) { m.Sealed = nil },
		"a huge sealed key":      func(m *EscrowMeta) { m.Sealed = make([]byte, maxSealedBytes+1) },
		"no wait":                func(m *EscrowMeta) { m.Wait = 0 },
		"a negative wait":        func(m *EscrowMeta) { m.Wait = -1 },
		"a wait above MaxWait":   func(m *EscrowMeta) { m.Wait = int64(MaxWait/time.Second) + 1 },
		"an institution of junk": func(m *EscrowMeta) { m.Institution = []byte("junk") },
		"an owner of junk":       func(m *EscrowMeta) { m.Owner = []byte{0, 1, 2} },
	} {
		c := m
		edit(&c)
		b, err := wire.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ParseEscrowMeta(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if _, _, err := NewEscrowRequest(e.owner, vaultA, b, e.clk.Now()); !errors.Is(err, ErrMalformed) {
			t.Errorf("a request for %s: %v", name, err)
		}
	}
}
