package keys

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestLibp2pKeySurvivesWipe(t *testing.T) {
	k := GeneratePeerKey()
	want := k.ID()
	sk := k.Libp2pPrivKey()
	k.Wipe()
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil || id != want {
		t.Fatalf("libp2p key changed after wiping the PeerKey: %s, %v (want %s)", id, err, want)
	}
}

func TestSignaturesAreDomainSeparated(t *testing.T) {
	k := GeneratePeerKey()
	body := []byte("payload")
	sig := k.Sign(TokenMessage(body))
	if !k.Public().Verify(TokenMessage(body), sig[:]) {
		t.Fatal("own token signature does not verify")
	}
	for _, m := range []Message{RevocationMessage(body), DirectoryMessage(body), ApprovalMessage(body), ManifestMessage(body)} {
		if k.Public().Verify(m, sig[:]) {
			t.Fatalf("a token signature verifies as %s", m.Label())
		}
	}
}

func TestKeysNeverPrintTheirBytes(t *testing.T) {
	k := GeneratePeerKey()
	m := GenerateMasterKey()
	for _, s := range []string{k.String(), k.GoString(), m.String(), m.GoString()} {
		if len(s) > 80 && s[len(s)-9:] != "<private>" {
			t.Fatalf("suspicious key rendering %q", s)
		}
	}
	if got := m.String(); got != "masterkey:<secret>" {
		t.Fatalf("master key prints as %q", got)
	}
}
