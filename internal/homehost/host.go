package homehost

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/p2phost"
)

// Connection manager watermarks: a home node talks to its infrastructure
// and a few peers it shares with; libp2p's defaults. connGrace is how long
// a new connection is spared.
const (
	connLow   = 160
	connHigh  = 192
	connGrace = time.Minute
)

// New builds a home node's host with key, listening on listen. gater (nil:
// none) decides first; then the budget of relayed connections from
// strangers (rcmgr.go) lets past the peers known lists (KnownPeers).
func New(key crypto.PrivKey, listen []string, gater connmgr.ConnectionGater, known func(context.Context) (map[peer.ID]bool, error)) (host.Host, error) {
	cm, err := libp2pconnmgr.NewConnManager(connLow, connHigh, libp2pconnmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, err
	}
	rm, err := resourceManager()
	if err != nil {
		return nil, err
	}
	room := newRelayRoom(gater, &knownPeers{load: known})
	opts := []libp2p.Option{
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.EnableAutoNATv2(),
		libp2p.ConnectionGater(room),
	}
	h, err := p2phost.New(key, listen, opts...)
	if err != nil {
		return nil, err
	}
	room.setHost(h)
	return h, nil
}

// KnownPeers lists, from the state of the node self, its contacts and the
// peers on the other end of its grants (audiences of those it issued;
// issuers and owners of those it holds), whatever their state.
func KnownPeers(st *meshstate.State, self peer.ID) func(context.Context) (map[peer.ID]bool, error) {
	return func(ctx context.Context) (map[peer.ID]bool, error) {
		set := map[peer.ID]bool{}
		add := func(s string) {
			if p, err := peer.Decode(s); err == nil {
				set[p] = true
			}
		}
		cs, err := st.Contacts(ctx, self)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			add(c.Peer)
		}
		none := capability.NewMemoryRevocations() // states do not matter here
		issued, err := st.Issued(ctx, none)
		if err != nil {
			return nil, err
		}
		for _, g := range issued {
			add(g.Audience)
		}
		held, err := st.Received(ctx, none)
		if err != nil {
			return nil, err
		}
		for _, g := range held {
			add(g.Issuer)
			add(g.Owner)
		}
		return set, nil
	}
}
