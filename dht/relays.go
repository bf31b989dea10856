package dht

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// relayTopic is the name relays announce themselves under.
const relayTopic = "ocmt-mesh/relay/v1"

// RelayCID is the content ID relays provide in the DHT, so home nodes with
// no relay configured can find one.
func RelayCID() cid.Cid {
	sum, err := mh.Sum([]byte(relayTopic), mh.SHA2_256, -1)
	if err != nil {
		panic(err) // SHA2-256 of a constant cannot fail
	}
	return cid.NewCidV1(cid.Raw, sum)
}

// AnnounceRelay records this host as a relay provider (relays call it at
// start and then periodically, well within the 48 h provider validity).
func (d *DHT) AnnounceRelay(ctx context.Context) error {
	if err := d.kad.Provide(ctx, RelayCID(), true); err != nil {
		return fmt.Errorf("dht: announcing relay: %w", err)
	}
	return nil
}

// FindRelays returns up to n relays announced in the DHT.
func (d *DHT) FindRelays(ctx context.Context, n int) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for ai := range d.kad.FindProvidersAsync(ctx, RelayCID(), n) {
		if ai.ID == d.h.ID() || len(ai.Addrs) == 0 {
			continue
		}
		out = append(out, ai)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dht: no relay found: %w", context.Cause(ctx))
	}
	return out, nil
}
