package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/presence"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/node/localapi"
)

const wifiCanary = "WIFICANARY-correct-horse-7b3f"

// startGroupVault starts a group vault peer claiming handle, on clock.
func (m *testMesh) startGroupVault(t *testing.T, handle string, now func() time.Time) (*infra.Peer, Home) {
	t.Helper()
	h := shortDir(t, handle)
	p, err := infra.StartGroupVault(context.Background(), infra.GroupVaultConfig{
		Config: infra.Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger(handle), Now: now,
			Revocations: testTimings.Revocations},
		Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}, Handle: handle, Mesh: testTimings.Mesh,
		Presence: presence.Timings{Mailbox: testTimings.Mailbox, PublishRetryMax: testTimings.PublishRetryMax}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	// it marks itself reachable once its handle is claimed and it holds a
	// relay slot (mesh addrs --reachable): a lookup before that would find
	// the directory's decoy for the handle
	waitFor(t, handle+" is in the directory", func() bool { _, err := os.Stat(h.ReachablePath()); return err == nil })
	return p, h
}

func groupDo(t *testing.T, n *Node, req localapi.GroupRequest) localapi.GroupReply {
	t.Helper()
	out, err := n.Group(context.Background(), req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Op, req.Group, err)
	}
	return out
}

// TestAGroupOpensOnlyWithTwoOfThreeAdminsAndRelocksAtTheWindowsEnd is
// the group vault end to end, on real hosts: alice creates smiths at the
// vault peer; alice alone cannot unlock; alice and bob do; carol reads the
// Wi-Fi password; the window ends on the vault's clock and it re-locks;
// every admin's node holds the same verified audit chain; and the vault
// peer's disk never holds the secret.
func TestAGroupOpensOnlyWithTwoOfThreeAdminsAndRelocksAtTheWindowsEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("a mesh of six peers; -short skips it")
	}
	ctx := context.Background()
	m := startInfra(t)
	clock := testkit.NewClock(time.Now())
	vault, vaultHome := m.startGroupVault(t, "smiths-vault", clock.Now)
	alice, bob, carol := m.startNode(t, "alice", "pw-a"), m.startNode(t, "bob", "pw-b"), m.startNode(t, "carol", "pw-c")

	st := groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupCreate, Group: "smiths", Vault: "smiths-vault",
		Admins: []string{"alice", "bob", "carol"}, Threshold: 2, Window: 8 * time.Hour}).Status
	if st.Unlocked || st.Threshold != 2 || len(st.Admins) != 3 {
		t.Fatalf("created: %+v", st)
	}
	for _, n := range []*Node{bob, carol} {
		groupDo(t, n, localapi.GroupRequest{Op: localapi.GroupJoin, Group: "smiths", Vault: "smiths-vault"})
	}

	// alice alone cannot unlock: her approval waits, and nothing reads
	st = groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "smiths"}).Status
	if st.Unlocked || len(st.Pending) != 1 {
		t.Fatalf("after one approval: %+v", st)
	}
	if _, err := carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupGet, Group: "smiths", Name: "wifi"}); err == nil ||
		!strings.Contains(err.Error(), "locked") {
		t.Fatalf("a read with one approval: %v, want locked", err)
	}
	// alice and bob unlock it
	st = groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "smiths", Window: time.Hour}).Status
	if !st.Unlocked || len(st.Approvers) != 2 || !st.Until.Equal(clock.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("after two approvals: %+v", st)
	}
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupSet, Group: "smiths", Name: "wifi", Value: []byte(wifiCanary)})
	got := groupDo(t, carol, localapi.GroupRequest{Op: localapi.GroupGet, Group: "smiths", Name: "wifi"})
	if string(got.Value) != wifiCanary {
		t.Fatalf("carol read %q", got.Value)
	}

	// the window ends on the vault's clock: the vault re-locks by itself
	clock.Advance(time.Hour + time.Second)
	vault.Groups().Sweep(ctx)
	if _, err := carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupGet, Group: "smiths", Name: "wifi"}); err == nil ||
		!strings.Contains(err.Error(), "locked") {
		t.Fatalf("a read after the window: %v, want locked", err)
	}

	// every admin holds the same verified chain
	var heads []string
	for _, n := range []*Node{alice, bob, carol} {
		ch := groupDo(t, n, localapi.GroupRequest{Op: localapi.GroupAudit, Group: "smiths"}).Chain
		if !ch.Verified || ch.Problem != "" {
			t.Fatalf("chain: %+v", ch)
		}
		heads = append(heads, ch.Head)
		kinds := map[string]int{}
		for _, r := range ch.Records {
			kinds[r.Kind]++
			if strings.Contains(r.Detail, wifiCanary) {
				t.Fatal("the audit chain holds the secret")
			}
		}
		for _, k := range []string{"group.create", "unlock.approve", "group.open", "secret.write", "secret.read", "group.relock"} {
			if kinds[k] == 0 {
				t.Fatalf("the chain has no %s record: %v", k, kinds)
			}
		}
	}
	if heads[0] != heads[1] || heads[1] != heads[2] {
		t.Fatalf("admins see different heads: %v", heads)
	}

	// the vault peer's disk never held the secret
	filepath.Walk(string(vaultHome), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			if bytes.Contains(b, []byte(wifiCanary)) {
				t.Errorf("%s holds the secret", path)
			}
		}
		return nil
	})
}

// TestAMemberJoinsByAcceptingAnInvitationAndIsRefusedOnceRemoved: an
// invitation is pending until accepted; a member reads while the group is
// open and not while it is locked; writes need write; a removed member's
// capability is revoked and refused.
func TestAMemberJoinsByAcceptingAnInvitationAndIsRefusedOnceRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("a mesh of six peers; -short skips it")
	}
	ctx := context.Background()
	m := startInfra(t)
	m.startGroupVault(t, "fam-vault", nil)
	alice, bob, dave := m.startNode(t, "alice", "pw-a"), m.startNode(t, "bob", "pw-b"), m.startNode(t, "dave", "pw-d")
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupCreate, Group: "fam", Vault: "fam-vault", Admins: []string{"alice", "bob"}, Threshold: 2})
	groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupJoin, Group: "fam", Vault: "fam-vault"})

	out := groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupInvite, Group: "fam", Name: "dave"})
	if !strings.Contains(out.Text, "mailbox") {
		t.Fatalf("invite said %q", out.Text)
	}
	// before accepting, dave is nobody to the group
	var invs []localapi.GroupInvitation
	waitFor(t, "dave holds the invitation", func() bool {
		invs = groupDo(t, dave, localapi.GroupRequest{Op: localapi.GroupInvites}).Invitations
		return len(invs) == 1
	})
	if invs[0].Group != "fam" || invs[0].Role != "read" {
		t.Fatalf("invitation: %+v", invs[0])
	}
	mem := groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupMembers, Group: "fam"}).Members
	if len(mem) != 1 || !mem[0].Pending || mem[0].Name != "dave" {
		t.Fatalf("members before accepting: %+v", mem)
	}
	st := groupDo(t, dave, localapi.GroupRequest{Op: localapi.GroupAccept, Name: invs[0].ID[:10]}).Status
	if st.Role != "read" {
		t.Fatalf("accepted: %+v", st)
	}

	// locked: dave reads nothing; open: dave reads, but cannot write
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "fam"})
	groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "fam"})
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupSet, Group: "fam", Name: "wifi", Value: []byte(wifiCanary)})
	if got := groupDo(t, dave, localapi.GroupRequest{Op: localapi.GroupGet, Group: "fam", Name: "wifi"}); string(got.Value) != wifiCanary {
		t.Fatalf("dave read %q", got.Value)
	}
	if _, err := dave.Group(ctx, localapi.GroupRequest{Op: localapi.GroupSet, Group: "fam", Name: "wifi", Value: []byte("x")}); err == nil {
		t.Fatal("a reader wrote")
	}
	if _, err := dave.Group(ctx, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "fam"}); err == nil {
		t.Fatal("a member approved an unlock")
	}

	// removed: refused at once, and the record says who read and who removed
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupExpel, Group: "fam", Name: "dave"})
	if _, err := dave.Group(ctx, localapi.GroupRequest{Op: localapi.GroupGet, Group: "fam", Name: "wifi"}); err == nil {
		t.Fatal("a removed member read")
	}
	ch := groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupAudit, Group: "fam"}).Chain
	var saw []string
	for _, r := range ch.Records {
		if r.Kind == "secret.read" || strings.HasPrefix(r.Kind, "member.") {
			saw = append(saw, r.Kind+" by "+r.Actor)
		}
	}
	want := []string{"member.invite by alice", "member.accept by dave", "secret.read by dave", "member.expel by alice"}
	if strings.Join(saw, "; ") != strings.Join(want, "; ") {
		t.Fatalf("the chain shows %v, want %v", saw, want)
	}
}

// TestAChangeOfAdminsReDealsTheKeyAndARemovedAdminOpensNothing: two of
// three admins approve removing the third; the vault re-deals the key and
// re-seals the secrets; the remaining admins take their new shares on
// their next unlock and read the old secrets; the removed admin's share
// opens nothing.
func TestAChangeOfAdminsReDealsTheKeyAndARemovedAdminOpensNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a mesh of six peers; -short skips it")
	}
	ctx := context.Background()
	m := startInfra(t)
	m.startGroupVault(t, "team-vault", nil)
	alice, bob, carol := m.startNode(t, "alice", "pw-a"), m.startNode(t, "bob", "pw-b"), m.startNode(t, "carol", "pw-c")
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupCreate, Group: "team", Vault: "team-vault", Admins: []string{"alice", "bob", "carol"}, Threshold: 2})
	groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupJoin, Group: "team", Vault: "team-vault"})
	groupDo(t, carol, localapi.GroupRequest{Op: localapi.GroupJoin, Group: "team", Vault: "team-vault"})
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "team"})
	groupDo(t, carol, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "team"})
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupSet, Group: "team", Name: "bank", Value: []byte(secretCanary)})

	change := localapi.GroupRequest{Op: localapi.GroupChange, Group: "team", Admins: []string{"alice", "bob"}, Threshold: 2}
	if st := groupDo(t, alice, change).Status; len(st.Admins) != 3 {
		t.Fatalf("one approval changed the admins: %+v", st)
	}
	st := groupDo(t, bob, change).Status
	if len(st.Admins) != 2 || st.Unlocked {
		t.Fatalf("after two approvals of the change: %+v", st)
	}
	// carol's share is of the old dealing: her approval is refused
	if _, err := carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "team"}); err == nil {
		t.Fatal("a removed admin approved an unlock")
	}
	groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "team"})
	if st := groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "team"}).Status; !st.Unlocked {
		t.Fatalf("the new admins did not unlock: %+v", st)
	}
	if got := groupDo(t, bob, localapi.GroupRequest{Op: localapi.GroupGet, Group: "team", Name: "bank"}); string(got.Value) != secretCanary {
		t.Fatalf("the re-sealed secret reads %q", got.Value)
	}
	ch := groupDo(t, alice, localapi.GroupRequest{Op: localapi.GroupAudit, Group: "team"}).Chain
	if !ch.Verified {
		t.Fatalf("chain: %+v", ch)
	}
	var kinds []string
	for _, r := range ch.Records {
		kinds = append(kinds, r.Kind)
	}
	if !strings.Contains(strings.Join(kinds, " "), "change.approve change.approve group.change") {
		t.Fatalf("the chain shows %v", kinds)
	}
}
