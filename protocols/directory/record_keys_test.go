package directory

import (
	"encoding/hex"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// Small-order public keys: no one holds their private half, and anyone
// can make signatures crypto/ed25519 accepts under them.
var (
	identityKey = mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	order8Key   = mustHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// rawPeerID wraps 32 key bytes in the canonical Ed25519 peer ID form,
// bypassing every check.
func rawPeerID(key []byte) peer.ID {
	return peer.ID(append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, key...))
}

// forgedRecord is a record for the small-order key's peer ID with a
// signature crypto/ed25519 accepts.
func forgedRecord(t testing.TB, key []byte) *SignedRecord {
	t.Helper()
	p := payload{V: RecordVersion, Handle: "alice", Peer: []byte(rawPeerID(key)), Seq: 1, Issued: issued.Unix()}
	b, err := wire.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &SignedRecord{Payload: b, Sig: testkit.ForgeSmallOrder(t, key, append([]byte(keys.LabelDirectory+"\x00"), b...))}
}

// smallOrderVectors are records that would claim a handle for a peer
// anyone can sign for, or point at a relay anyone can impersonate.
func smallOrderVectors(t *testing.T, k *keys.PeerKey) []vector {
	enc := func(sr *SignedRecord) string { b, _ := wire.Marshal(sr); return hex.EncodeToString(b) }
	relay := ma.StringCast("/ip4/203.0.113.7/tcp/4001/p2p/" + rawPeerID(identityKey).String() + "/p2p-circuit")
	badRelay := signRaw(t, k, payload{V: RecordVersion, Handle: "alice", Peer: []byte(k.ID()), Relays: [][]byte{relay.Bytes()},
		Seq: 1, Issued: issued.Unix()})
	return []vector{
		{Name: "peer is the small-order identity key, signature forged", Hex: enc(forgedRecord(t, identityKey))},
		{Name: "peer is an order-8 key, signature forged", Hex: enc(forgedRecord(t, order8Key))},
		{Name: "relay peer ID is a small-order key", Hex: enc(badRelay)},
	}
}

func TestRecordsForSmallOrderKeysAreRefused(t *testing.T) {
	for _, v := range smallOrderVectors(t, seedKey(t, 1)) {
		t.Run(v.Name, func(t *testing.T) {
			raw, _ := hex.DecodeString(v.Hex)
			if _, _, err := ParseSignedRecord(raw); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
