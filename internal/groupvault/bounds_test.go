package groupvault

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// TestThrowawayIdentitiesCannotTakeMoreThanTheirShareOfGroups: 300
// fresh peers, each trying one group more than a creator may keep, at
// once: each keeps at most DefaultMaxGroupsPerCreator, the vault at most
// DefaultMaxGroups, the rest are refused TooLarge having written nothing,
// and the memory kept is bounded.
func TestThrowawayIdentitiesCannotTakeMoreThanTheirShareOfGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("about 560 dealings; -short skips it")
	}
	const peers = 300
	f := newFixture(t)
	witness := newAdmin(t, "witness") // every group's second admin
	ids := make([]*admin, peers)
	for i := range ids {
		ids[i] = throwaway()
	}
	runtime.GC()
	heap0 := testkit.HeapBytes()

	var mu sync.Mutex
	kept := map[string]int{}
	var refusedPerCreator, refusedFull atomic.Int64
	testkit.Each(t, 4, peers, func(i int) error {
		p := ids[i]
		for j := range DefaultMaxGroupsPerCreator + 1 {
			name := fmt.Sprintf("g%d-%d", i, j)
			req, err := buildCreate(name, 2, time.Hour, "", p, witness)
			if err != nil {
				return err
			}
			_, err = f.s.Handle(f.ctx, p.id, &req)
			switch {
			case err == nil:
				mu.Lock()
				kept[p.id.String()]++
				mu.Unlock()
				continue
			case wire.StatusOf(err) != wire.TooLarge:
				return fmt.Errorf("creating %s: %v", name, err)
			}
			if j == DefaultMaxGroupsPerCreator {
				refusedPerCreator.Add(1)
			} else {
				refusedFull.Add(1)
			}
			return nil // a refused peer stops trying
		}
		return fmt.Errorf("peer %d kept %d groups", i, DefaultMaxGroupsPerCreator+1)
	})
	total := 0
	for id, n := range kept {
		if n > DefaultMaxGroupsPerCreator {
			t.Fatalf("%s keeps %d groups", id, n)
		}
		total += n
	}
	if total != DefaultMaxGroups {
		t.Fatalf("the vault keeps %d groups, want exactly its most, %d", total, DefaultMaxGroups)
	}
	if refusedFull.Load() == 0 || refusedPerCreator.Load()+refusedFull.Load() != peers {
		t.Fatalf("refusals: %d at a creator's most, %d at the vault's", refusedPerCreator.Load(), refusedFull.Load())
	}
	f.s.mu.Lock()
	inMemory := len(f.s.groups)
	f.s.mu.Unlock()
	if inMemory != DefaultMaxGroups {
		t.Fatalf("%d groups in memory", inMemory)
	}
	// on disk: per group its record, the chain's head and one record; a
	// refusal wrote nothing
	res, err := f.store.Query(f.ctx, query.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3*DefaultMaxGroups {
		t.Fatalf("%d keys on disk for %d groups", len(entries), DefaultMaxGroups)
	}
	runtime.GC()
	if grew := int64(testkit.HeapBytes()) - int64(heap0); grew > 32<<20 {
		t.Fatalf("the vault's heap grew by %d MiB for %d groups", grew>>20, DefaultMaxGroups)
	}
	// one more, by the witness (an admin of every group, creator of none)
	_, err = f.do(witness.id, createRequest(t, "late", 2, time.Hour, "", witness, ids[0]))
	statusIs(t, "a group beyond the vault's most", err, wire.TooLarge)
	says(t, "a group beyond the vault's most", err, "256 groups")
}

func TestACreatorIsRefusedItsNinthGroup(t *testing.T) {
	f := newFixture(t)
	p, witness := throwaway(), newAdmin(t, "witness")
	for j := range DefaultMaxGroupsPerCreator {
		f.must(p.id, createRequest(t, fmt.Sprintf("g%d", j), 2, time.Hour, "", p, witness))
	}
	_, err := f.do(p.id, createRequest(t, "g-more", 2, time.Hour, "", p, witness))
	statusIs(t, "a creator's ninth group", err, wire.TooLarge)
	says(t, "a creator's ninth group", err, "8 groups here, the most one peer may")
	// the count holds across a restart (it is the groups' creator field)
	f.reopen()
	_, err = f.do(p.id, createRequest(t, "g-more", 2, time.Hour, "", p, witness))
	statusIs(t, "a creator's ninth group after a restart", err, wire.TooLarge)
	// the witness, an admin of all eight, may still create its own
	f.must(witness.id, createRequest(t, "witness-own", 2, time.Hour, "", witness, p))
}

func TestAGroupTakesAtMostMaxMembersInvitations(t *testing.T) {
	f := newFixture(t)
	g, alice, _, _ := smiths(f)
	for range groupwire.MaxMembers {
		f.must(alice.id, groupwire.Request{Op: groupwire.OpInvite, Group: "smiths", Member: []byte(throwaway().id), Role: groupwire.RoleRead})
	}
	err := f.refused("an invitation beyond MaxMembers", alice.id,
		groupwire.Request{Op: groupwire.OpInvite, Group: "smiths", Member: []byte(throwaway().id), Role: groupwire.RoleRead}, wire.TooLarge)
	says(t, "an invitation beyond MaxMembers", err, "256 members and invitations, its most")
	ms := f.must(alice.id, groupwire.Request{Op: groupwire.OpMembers, Group: "smiths"}).(*groupwire.Members)
	if len(ms.Members) != groupwire.MaxMembers {
		t.Fatalf("%d members listed", len(ms.Members))
	}

	// the invitations expire unaccepted: they leave the list, and must
	// leave room for new ones
	f.clock.Advance(InviteTTL + time.Second)
	ms = f.must(alice.id, groupwire.Request{Op: groupwire.OpMembers, Group: "smiths"}).(*groupwire.Members)
	if len(ms.Members) != 0 {
		t.Fatalf("%d expired invitations listed", len(ms.Members))
	}
	_, err = f.do(alice.id, groupwire.Request{Op: groupwire.OpInvite, Group: "smiths", Member: []byte(throwaway().id), Role: groupwire.RoleRead})
	if err != nil {
		t.Fatalf("%d invitations that expired unaccepted, no longer listed by members (so no admin can see them "+
			"to expel), still fill the group's MaxMembers: a new invitation is refused (%v). members.go invite counts "+
			"len(g.members), which keeps expired pending invitations forever. Fix: in invite, drop (delete, audited "+
			"or not) the pending invitations pendingExpired says are over before counting, or count only those that are not.",
			groupwire.MaxMembers, err)
	}
	_ = g
}

func TestAGroupKeepsAtMostMaxSecrets(t *testing.T) {
	const most = 16
	f := newFixture(t, func(c *Config) { c.MaxSecrets = most })
	g, alice, bob, _ := smiths(f)
	g.unlock(time.Hour, alice, bob)
	for i := range most {
		g.put(alice, fmt.Sprintf("s%02d", i), "v", time.Time{})
	}
	put := groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "one-more", Value: []byte("v")}
	err := f.refused("a secret beyond the most", alice.id, put, wire.TooLarge)
	says(t, "a secret beyond the most", err, "16 secrets, its most")
	g.put(bob, "s00", "overwritten", time.Time{}) // a write over an existing one takes no room
	if in := g.info(alice); in.Secrets != most {
		t.Fatalf("%d secrets", in.Secrets)
	}
	f.must(alice.id, groupwire.Request{Op: groupwire.OpRemove, Group: "smiths", Name: "s01"})
	f.must(alice.id, put)
	f.refused("a secret beyond the most again", alice.id, groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "two-more", Value: []byte("v")}, wire.TooLarge)
	// the count is the store's after a restart
	f.reopen()
	g.unlock(time.Hour, alice, bob)
	if in := g.info(alice); in.Secrets != most {
		t.Fatalf("%d secrets after a restart", in.Secrets)
	}
	f.refused("a secret beyond the most after a restart", alice.id, groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "two-more", Value: []byte("v")}, wire.TooLarge)
	names := f.must(alice.id, groupwire.Request{Op: groupwire.OpList, Group: "smiths"}).(*groupwire.List).Names
	if len(names) != most {
		t.Fatalf("%d names listed", len(names))
	}
}

func TestOnlyNamedCreatorsCreateWhenTheOperatorNamesThem(t *testing.T) {
	alice, bob := newAdmin(t, "alice"), newAdmin(t, "bob")
	f := newFixture(t, func(c *Config) { c.Creators = []peer.ID{alice.id} })
	err := f.refused("a group by a peer the operator did not name", bob.id, createRequest(t, "bobs", 2, time.Hour, "", bob, alice), wire.Forbidden)
	says(t, "a group by a peer the operator did not name", err, "only named peers")
	f.must(alice.id, createRequest(t, "alices", 2, time.Hour, "", alice, bob))
	// a creator creates only groups it is an admin of
	err = f.refused("a group its creator is not an admin of", alice.id, createRequest(t, "others", 2, time.Hour, "", bob, throwaway()), wire.Forbidden)
	says(t, "a group its creator is not an admin of", err, "created by one of its admins")
}

func TestListPagesThroughEveryName(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	g.unlock(time.Hour, alice, bob)
	const n = groupwire.MaxListNames + 88
	for i := range n {
		g.put(alice, fmt.Sprintf("n/%04d", i), "v", time.Time{})
	}
	f.must(alice.id, groupwire.Request{Op: groupwire.OpRelock, Group: "smiths"})
	var all []string
	after := ""
	for {
		l := f.must(bob.id, groupwire.Request{Op: groupwire.OpList, Group: "smiths", Name: after}).(*groupwire.List)
		all = append(all, l.Names...)
		if len(l.Names) < groupwire.MaxListNames {
			break
		}
		after = l.Names[len(l.Names)-1]
	}
	if len(all) != n || all[0] != "n/0000" || all[n-1] != fmt.Sprintf("n/%04d", n-1) {
		t.Fatalf("listed %d names", len(all))
	}
}
