// Package p2phost holds what every role does the same way with its libp2p
// host: the transports and security it listens with, the check that an
// explicit port is free, and how addresses are parsed and printed.
package p2phost

import (
	"fmt"
	"net"
	"strings"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/ocmt/mesh/internal/keys"
)

// DefaultListen is where a role listens unless told otherwise: loopback
// only, TCP and QUIC, on ports the OS picks.
func DefaultListen() []string {
	return []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
}

// New builds a host with identity k listening on listen (TCP and QUIC,
// Noise), after checking that explicit ports are free, plus extra options.
func New(k crypto.PrivKey, listen []string, extra ...libp2p.Option) (host.Host, error) {
	if err := PortsFree(listen); err != nil {
		return nil, err
	}
	opts := append([]libp2p.Option{
		libp2p.Identity(k),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
	}, extra...)
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting libp2p host: %w", err)
	}
	return h, nil
}

// PortsFree refuses listen addresses whose explicit port another process
// already holds. libp2p binds with SO_REUSEPORT (for hole punching), so a
// second process would otherwise share the port and silently receive
// some of the first one's connections. A plain bind, which does not ask
// for port reuse, fails on a port in use.
func PortsFree(listen []string) error {
	for _, s := range listen {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("the listen address %q is not one: want a multiaddr such as /ip4/0.0.0.0/tcp/4001 or /ip4/0.0.0.0/udp/4001/quic-v1", s)
		}
		network, addr, err := manet.DialArgs(m)
		if err != nil {
			continue // not IP (e.g. a circuit): nothing to bind
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
			continue
		}
		switch {
		case strings.HasPrefix(network, "tcp"):
			l, err := net.Listen(network, addr)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", s, err)
			}
			l.Close()
		case strings.HasPrefix(network, "udp"):
			c, err := net.ListenPacket(network, addr)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", s, err)
			}
			c.Close()
		}
	}
	return nil
}

// Addrs lists h's listen multiaddrs, each ending in /p2p/ID.
func Addrs(h host.Host) []string {
	info := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	full, _ := peer.AddrInfoToP2pAddrs(&info)
	out := make([]string, len(full))
	for i, a := range full {
		out[i] = a.String()
	}
	return out
}

// ParseAddrInfos parses multiaddrs that end in /p2p/ID; what names them
// in errors ("bootstrap", "relay").
func ParseAddrInfos(what string, addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("the %s address %q is not one: want a multiaddr that ends with the peer's ID, as mesh addrs --home DIR prints a running role's", what, s)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("the %s address %q does not end with the peer's ID: use one as mesh addrs --home DIR prints a running role's", what, s)
		}
		if err := keys.CheckPeerID(ai.ID); err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, s, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// Merge joins the addresses of infos naming one peer (as ParseAddrInfos
// returns for the lines of an addrs file) into one AddrInfo.
func Merge(infos []peer.AddrInfo) peer.AddrInfo {
	if len(infos) == 0 {
		return peer.AddrInfo{}
	}
	out := peer.AddrInfo{ID: infos[0].ID}
	for _, ai := range infos {
		out.Addrs = append(out.Addrs, ai.Addrs...)
	}
	return out
}

// IDs lists the peer IDs of address infos.
func IDs(lists ...[]peer.AddrInfo) []peer.ID {
	var ids []peer.ID
	for _, l := range lists {
		for _, ai := range l {
			ids = append(ids, ai.ID)
		}
	}
	return ids
}
