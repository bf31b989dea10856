package recoveryhost

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// TestTheKeyFriendsReleaseSetsANewPasswordThroughTheVaultsWrap is
// social recovery end to end on package recovery and the vault, without
// the network: the largest meta that fits (MaxFriends friends with 32-byte
// handles, a threshold of 5) is taken by the vault, and the key that
// five friends' releases give back opens it.
func TestTheKeyFriendsReleaseSetsANewPasswordThroughTheVaultsWrap(t *testing.T) {
	h := newHome(t)
	var friends []*keys.PeerKey
	var ids []peer.ID
	var handles []string
	for i := range recovery.MaxFriends {
		f := testkit.Key(t, fmt.Sprintf("friend-%d", i))
		friends, ids = append(friends, f), append(ids, f.ID())
		handles = append(handles, fmt.Sprintf("friend%d-%024d", i, 0))
	}
	ownerHandle := fmt.Sprintf("owner-%026d", 0)
	if len(handles[len(handles)-1]) != 32 || len(ownerHandle) != 32 {
		t.Fatal("the handles are not the longest the directory allows")
	}
	d, err := recovery.EnableSocial(h.owner, ownerHandle, ids, handles, recovery.MaxFriends, recovery.DefaultWait, 0, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Meta) > vault.MaxRecoveryMeta {
		t.Fatalf("a meta of %d bytes", len(d.Meta))
	}
	if err := h.v.EnableRecovery(h.ctx, recovery.Social, d.Key, d.Meta, "test"); err != nil {
		t.Fatalf("the vault refuses the largest social meta: %v", err)
	}
	h.lock()
	h.reopen()

	// A new device reads the meta from the vault (or a backup) and asks.
	r, err := h.v.Recovery(h.ctx, recovery.Social)
	if err != nil {
		t.Fatal(err)
	}
	device := testkit.Key(t, "new-laptop")
	reqMsg, err := recovery.NewRequest(device, h.owner.ID(), "owner", h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	col, err := recovery.NewCollector(r.Meta, device, mustOpen(t, reqMsg).ID)
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(recovery.DefaultWait)
	for _, i := range []int{5, 0, 3, 2, 4, 1} {
		held, err := recovery.CheckShare(mustOpen(t, d.Shares[i]), friends[i])
		if err != nil {
			t.Fatal(err)
		}
		req, err := recovery.CheckRequest(mustOpen(t, reqMsg), h.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		rel, err := recovery.Release(friends[i], held, req, h.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := col.Add(mustOpen(t, rel)); err != nil {
			t.Fatal(err)
		}
	}
	rk, err := col.Key()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.v.Recover(h.ctx, recovery.Social, rk, []byte("friends helped"), vault.TestKDF(), "test"); err != nil {
		t.Fatalf("the friends' key: %v", err)
	}
	h.lock()
	if h.unlocksWith(oldPassword) || !h.unlocksWith("friends helped") {
		t.Fatal("the passwords after the recovery")
	}
}

func mustOpen(t *testing.T, b []byte) *recovery.Opened {
	t.Helper()
	o, err := recovery.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
