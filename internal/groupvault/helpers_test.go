package groupvault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// Every test here calls Service.Handle as the server would: the request
// is encoded and parsed by groupwire.ParseRequest first (a request the
// parser refuses never reaches the service), on an injected clock, with
// admins whose nodes sign approvals as internal/groupclient does.

// canary is a secret's value that must never appear on disk, in an audit
// record or in an error.
const canary = "GVCANARY-correct-horse-battery-3f9a"

// fixture is one vault peer: its key, store, clock and what it
// published and revoked.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	key   *keys.PeerKey
	clock *testkit.Clock
	store ds.Batching
	cfg   Config
	s     *Service

	mu      sync.Mutex
	pub     [][]byte // every record handed to Publish, in order
	revoked []*revocation.Revocation
	revs    *capability.MemoryRevocations
}

// newFixture opens a vault on an in-memory store; edit may change the
// config first.
func newFixture(t testing.TB, edit ...func(*Config)) *fixture {
	t.Helper()
	return openFixture(t, dssync.MutexWrap(ds.NewMapDatastore()), edit...)
}

// pebbleStore opens a real store in dir (closed at the test's end unless
// closed before).
func pebbleStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openFixture(t testing.TB, st ds.Batching, edit ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), key: testkit.Key(t, "group-vault"), clock: testkit.NewClock(testkit.Epoch),
		store: st, revs: capability.NewMemoryRevocations()}
	f.cfg = Config{Key: f.key, Store: st, Now: f.clock.Now, Revocations: f.revs,
		Publish: func(g string, rec []byte) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.pub = append(f.pub, rec)
		},
		Revoke: func(_ context.Context, r *revocation.Revocation) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.revoked = append(f.revoked, r)
			f.revs.Revoke(r.ID())
			return nil
		}}
	for _, e := range edit {
		e(&f.cfg)
	}
	f.reopen()
	return f
}

// reopen opens the service again on the same store (a restart).
func (f *fixture) reopen() {
	f.t.Helper()
	if f.s != nil {
		f.s.Close()
	}
	s, err := Open(f.ctx, f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.s = s
	f.t.Cleanup(func() { s.Close() })
}

// do is one request as the server hands it to the service: encoded,
// parsed, then handled.
func (f *fixture) do(remote peer.ID, req groupwire.Request) (any, error) {
	f.t.Helper()
	b, err := wire.Marshal(req)
	if err != nil {
		f.t.Fatal(err)
	}
	parsed, err := groupwire.ParseRequest(b)
	if err != nil {
		return nil, err
	}
	return f.s.Handle(f.ctx, remote, parsed)
}

// must is do, failing the test on a refusal.
func (f *fixture) must(remote peer.ID, req groupwire.Request) any {
	f.t.Helper()
	out, err := f.do(remote, req)
	if err != nil {
		f.t.Fatalf("%s %s by %s: %v", req.Op, req.Group, short(remote), err)
	}
	return out
}

// refused checks that a request is refused with want.
func (f *fixture) refused(what string, remote peer.ID, req groupwire.Request, want wire.Status) error {
	f.t.Helper()
	_, err := f.do(remote, req)
	if err == nil {
		f.t.Fatalf("%s: served, want %s", what, want)
	}
	if got := wire.StatusOf(err); got != want {
		f.t.Fatalf("%s: %v (%s), want %s", what, err, got, want)
	}
	return err
}

func (f *fixture) published() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.pub...)
}

// last returns the last record published.
func (f *fixture) last() *group.Record {
	f.t.Helper()
	p := f.published()
	if len(p) == 0 {
		f.t.Fatal("nothing was published")
	}
	r, err := group.ParseRecord(p[len(p)-1])
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// records returns the published records of group g.
func (f *fixture) records(g string) []*group.Record {
	f.t.Helper()
	var out []*group.Record
	for _, b := range f.published() {
		r, err := group.ParseRecord(b)
		if err != nil {
			f.t.Fatal(err)
		}
		if r.Group == g {
			out = append(out, r)
		}
	}
	return out
}

func short(id peer.ID) string {
	s := id.String()
	return s[max(0, len(s)-6):]
}

// admin is a group admin's node: its key and the share it keeps, sealed
// to itself.
type admin struct {
	name string
	key  *keys.PeerKey
	id   peer.ID
}

func newAdmin(t testing.TB, name string) *admin {
	k := testkit.Key(t, name)
	return &admin{name: name, key: k, id: k.ID()}
}

// throwaway is a fresh identity, as free to make as any stranger's.
func throwaway() *admin {
	k := keys.GeneratePeerKey()
	return &admin{name: "throwaway", key: &k, id: k.ID()}
}

// grp is a group kept by a fixture.
type grp struct {
	f      *fixture
	name   string
	admins []*admin
}

// create deals a group among admins as the first admin's node does
// (groupclient's create) and asks the vault to keep it.
func (f *fixture) create(name string, k int, window time.Duration, schedule string, admins ...*admin) *grp {
	f.t.Helper()
	req := createRequest(f.t, name, k, window, schedule, admins...)
	f.must(admins[0].id, req)
	return &grp{f: f, name: name, admins: admins}
}

func createRequest(t testing.TB, name string, k int, window time.Duration, schedule string, admins ...*admin) groupwire.Request {
	t.Helper()
	req, err := buildCreate(name, k, window, schedule, admins...)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// buildCreate is createRequest for goroutines other than the test's.
func buildCreate(name string, k int, window time.Duration, schedule string, admins ...*admin) (groupwire.Request, error) {
	ids := make([]peer.ID, len(admins))
	for i, a := range admins {
		ids[i] = a.id
	}
	d, err := group.Split(rand.Reader, name, k, ids)
	if err != nil {
		return groupwire.Request{}, err
	}
	sealed := make([][]byte, len(d.Shares))
	for i, sh := range d.Shares {
		if sealed[i], err = group.SealShare(sh, ids[i]); err != nil {
			return groupwire.Request{}, err
		}
		sh.Wipe()
	}
	return groupwire.Request{Op: groupwire.OpCreate, Group: name, Commitments: d.Commitments.Encode(), Shares: sealed,
		Window: int64(window / time.Second), Schedule: schedule}, nil
}

func (g *grp) info(a *admin) *groupwire.Info {
	g.f.t.Helper()
	return g.f.must(a.id, groupwire.Request{Op: groupwire.OpInfo, Group: g.name}).(*groupwire.Info)
}

// share is the admin's current share, fetched from the vault and opened
// with the admin's key, as groupclient's takeShare does.
func (g *grp) share(a *admin) *group.Share {
	g.f.t.Helper()
	sealed := g.f.must(a.id, groupwire.Request{Op: groupwire.OpShare, Group: g.name}).(*groupwire.ShareReply).Sealed
	sh, err := group.OpenShare(sealed, a.key)
	if err != nil {
		g.f.t.Fatal(err)
	}
	return sh
}

// approval is what a's node signs (groupclient's approval): its share
// sealed to the vault, a fresh nonce, the vault's time now; change is
// nil for an unlock.
func (g *grp) approval(a *admin, window time.Duration, change []byte) []byte {
	g.f.t.Helper()
	sh := g.share(a)
	defer sh.Wipe()
	return g.approvalWith(a, sh, g.f.clock.Now(), window, change)
}

// approvalWith signs with a's key an approval carrying sh (a's or not),
// dated at.
func (g *grp) approvalWith(a *admin, sh *group.Share, at time.Time, window time.Duration, change []byte) []byte {
	g.f.t.Helper()
	toVault, err := group.SealShare(sh, g.f.key.ID())
	if err != nil {
		g.f.t.Fatal(err)
	}
	ap := group.Approval{Group: g.name, Window: window, Time: at, Admin: a.id, Share: toVault, Change: change}
	if _, err := rand.Read(ap.Nonce[:]); err != nil {
		g.f.t.Fatal(err)
	}
	raw, err := group.Sign(a.key, ap)
	if err != nil {
		g.f.t.Fatal(err)
	}
	return raw
}

func (g *grp) approve(a *admin, raw []byte) (*groupwire.Info, error) {
	g.f.t.Helper()
	out, err := g.f.do(a.id, groupwire.Request{Op: groupwire.OpApprove, Group: g.name, Approval: raw})
	if err != nil {
		return nil, err
	}
	return out.(*groupwire.Info), nil
}

// unlock has each admin approve window; the group must be open after.
func (g *grp) unlock(window time.Duration, admins ...*admin) *groupwire.Info {
	g.f.t.Helper()
	var in *groupwire.Info
	for _, a := range admins {
		var err error
		if in, err = g.approve(a, g.approval(a, window, nil)); err != nil {
			g.f.t.Fatalf("%s's approval: %v", a.name, err)
		}
	}
	if !in.Unlocked {
		g.f.t.Fatalf("not open after %d approvals: %+v", len(admins), in)
	}
	return in
}

func (g *grp) put(a *admin, name, value string, release time.Time) {
	g.f.t.Helper()
	req := groupwire.Request{Op: groupwire.OpPut, Group: g.name, Name: name, Value: []byte(value)}
	if !release.IsZero() {
		req.Release = release.Unix()
	}
	g.f.must(a.id, req)
}

func (g *grp) get(id peer.ID, name string, token []byte) (string, error) {
	g.f.t.Helper()
	out, err := g.f.do(id, groupwire.Request{Op: groupwire.OpGet, Group: g.name, Name: name, Token: token})
	if err != nil {
		return "", err
	}
	return string(out.(*groupwire.Secret).Value), nil
}

// change is a membership change's encoding (field 12) and digest for the
// group's current dealing, as groupclient's change computes them.
func (g *grp) change(k int, window time.Duration, admins ...*admin) (enc []byte, digest [group.ChangeDigestSize]byte) {
	g.f.t.Helper()
	ids := make([]peer.ID, len(admins))
	raw := make([][]byte, len(admins))
	for i, a := range admins {
		ids[i], raw[i] = a.id, []byte(a.id)
	}
	ch := group.Change{Admins: ids, Threshold: k, Window: window}
	if err := ch.Check(); err != nil {
		g.f.t.Fatal(err)
	}
	enc, err := wire.Marshal(groupwire.Change{Admins: raw, Threshold: uint64(k), Window: int64(window / time.Second)})
	if err != nil {
		g.f.t.Fatal(err)
	}
	c, err := group.ParseCommitments(g.info(g.admins[0]).Commitments)
	if err != nil {
		g.f.t.Fatal(err)
	}
	return enc, ch.Digest(g.name, c.ID())
}

func (g *grp) offerChange(a *admin, approval, enc []byte) (*groupwire.Info, error) {
	g.f.t.Helper()
	out, err := g.f.do(a.id, groupwire.Request{Op: groupwire.OpChange, Group: g.name, Approval: approval, Change: enc})
	if err != nil {
		return nil, err
	}
	return out.(*groupwire.Info), nil
}

// audit reads the whole chain with the audit op, page by page.
func (g *grp) audit(a *admin) (raw [][]byte, pages int) {
	g.f.t.Helper()
	from := uint64(1)
	for {
		p := g.f.must(a.id, groupwire.Request{Op: groupwire.OpAudit, Group: g.name, From: from}).(*groupwire.AuditPage)
		pages++
		if len(p.Records) > groupwire.MaxAuditPage {
			g.f.t.Fatalf("an audit page of %d records", len(p.Records))
		}
		raw = append(raw, p.Records...)
		from += uint64(len(p.Records))
		if !p.More {
			return raw, pages
		}
		if len(p.Records) == 0 {
			g.f.t.Fatal("an empty audit page says more follow")
		}
	}
}

// verifyChain checks records as an admin's node does: each signed by the
// vault and following the one before, from the first.
func verifyChain(t testing.TB, vault peer.ID, name string, raw [][]byte) []*group.Record {
	t.Helper()
	c := group.NewChain(vault, name)
	var prev *group.Record
	out := make([]*group.Record, 0, len(raw))
	for i, b := range raw {
		r, err := group.ParseRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if err := group.Follows(prev, r); err != nil {
			t.Fatalf("record %d does not follow record %d: %v", r.Height, i, err)
		}
		if o, err := c.Add(r); err != nil || o != group.Appended {
			t.Fatalf("record %d: %v %v", r.Height, o, err)
		}
		prev = r
		out = append(out, r)
	}
	return out
}

// kinds lists the records' kinds.
func kinds(rs []*group.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Kind
	}
	return out
}

// noCanary fails the test if err's text holds the canary.
func noCanary(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Fatalf("%s: the error holds the secret: %v", what, err)
	}
}

// statusIs checks err's wire status.
func statusIs(t testing.TB, what string, err error, want wire.Status) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, want)
	}
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != want {
		t.Fatalf("%s: %v, want %s", what, err, want)
	}
}

var _ = fmt.Sprintf

// says checks that err is a wire refusal whose message is a sentence for
// a user (testkit.Sentence) saying each of wants.
func says(t testing.TB, what string, err error, wants ...string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("%s: %v is not a refusal of the protocol", what, err)
	}
	for _, w := range wants {
		testkit.Sentence(t, what, errors.New(we.Message), w)
	}
}
