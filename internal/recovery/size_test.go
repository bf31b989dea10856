package recovery

import (
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// largestSocial deals among MaxFriends friends with handles of
// maxHandleLen characters, an owner handle as long, and a threshold of k.
func largestSocial(t *testing.T, k int) (*Dealt, error) {
	t.Helper()
	owner := testkit.Key(t, "owner")
	var ids []peer.ID
	var hs []string
	for i := range MaxFriends {
		ids = append(ids, testkit.Key(t, fmt.Sprintf("friend-%d", i)).ID())
		hs = append(hs, handleOf(fmt.Sprintf("friend%d", i), maxHandleLen))
	}
	return EnableSocial(owner, strings.Repeat("o", maxHandleLen), ids, hs, k, MaxWait, 0, testkit.Epoch)
}

func TestTheMetaOfTheMostFriendsWithTheLongestHandlesFitsTheVaultsRecord(t *testing.T) {
	if maxMetaBytes != vault.MaxRecoveryMeta {
		t.Fatalf("maxMetaBytes is %d, the vault's MaxRecoveryMeta %d", maxMetaBytes, vault.MaxRecoveryMeta)
	}
	for k := MinFriends; k <= MaxFriends; k++ {
		t.Run(fmt.Sprintf("a threshold of %d", k), func(t *testing.T) {
			d, err := largestSocial(t, k)
			if err != nil {
				t.Fatalf("threshold %d of %d: %v", k, MaxFriends, err)
			}
			t.Logf("a meta of %d bytes, share deliveries of %d", len(d.Meta), len(d.Shares[0]))
			if len(d.Meta) > maxMetaBytes || len(d.Meta) > vault.MaxRecoveryMeta {
				t.Errorf("a meta of %d bytes", len(d.Meta))
			}
			for i, sh := range d.Shares {
				if len(sh) > maxMessageBytes {
					t.Errorf("share delivery %d of %d bytes", i, len(sh))
				}
			}
			if _, _, err := ParseSocialMeta(d.Meta); err != nil {
				t.Errorf("the meta does not parse: %v", err)
			}
		})
	}
}
