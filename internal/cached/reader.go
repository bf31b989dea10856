package cached

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	protosnap "github.com/ocmt/mesh/protocols/snapshot"
)

// FetchFunc fetches (owner, resource) from a relay's cache with token,
// writing the plaintext to dst (the node's signer: it opens the snapshot
// with the node's key and records the version seen).
type FetchFunc func(ctx context.Context, cache, owner peer.ID, resource string, token []byte, dst io.Writer) (*protosnap.Fetched, error)

// Reader reads an offline owner's snapshots from the relays its directory
// record names (doc.go "Grantee").
type Reader struct {
	Host  host.Host
	Fetch FetchFunc
}

// Served says where a cached read came from.
type Served struct {
	Relay   peer.ID
	Version uint64
	Created time.Time // when the owner sealed it
}

// ErrNotCached means no relay the owner named holds a snapshot the reader
// may read.
var ErrNotCached = errors.New("not cached")

// Read asks each of rec's relays in turn for path with tok. A relay that
// refuses the token (revoked, expired, forbidden) ends the search with
// its refusal; one that holds nothing, cannot be reached or sends what
// fails the reader's checks makes it try the next.
func (r *Reader) Read(ctx context.Context, rec *directory.Record, tok *capability.Token, path string) ([]byte, Served, error) {
	var errs []error
	tried := map[peer.ID]bool{}
	for _, a := range rec.Relays {
		ai, err := RelayOf(a)
		if err != nil || tried[ai.ID] {
			continue
		}
		tried[ai.ID] = true
		fctx, cancel := context.WithTimeout(ctx, FetchTimeout)
		data, s, err := r.readAt(fctx, ai, rec.Peer, tok, path)
		cancel()
		if err == nil {
			return data, s, nil
		}
		var we *wire.Error
		if errors.As(err, &we) && refusesToken(we.Status) {
			return nil, Served{}, err
		}
		errs = append(errs, fmt.Errorf("relay %s: %w", ai.ID, err))
	}
	if len(tried) == 0 {
		return nil, Served{}, fmt.Errorf("%w: the owner's directory record names no relay", ErrNotCached)
	}
	return nil, Served{}, fmt.Errorf("%w: %w", ErrNotCached, errors.Join(errs...))
}

// refusesToken are the statuses that answer for the token itself, the
// same at every relay.
func refusesToken(s wire.Status) bool {
	return s == wire.Revoked || s == wire.Expired
}

func (r *Reader) readAt(ctx context.Context, ai peer.AddrInfo, owner peer.ID, tok *capability.Token, path string) ([]byte, Served, error) {
	if err := r.Host.Connect(ctx, ai); err != nil {
		return nil, Served{}, err
	}
	var buf capped
	f, err := r.Fetch(ctx, ai.ID, owner, path, tok.Bytes(), &buf)
	if err != nil {
		return nil, Served{}, err
	}
	return buf.Bytes(), Served{Relay: ai.ID, Version: f.Manifest.Version, Created: f.Manifest.Created}, nil
}

// RelayOf is the relay of a circuit address (…/p2p/RELAY/p2p-circuit) or
// of a relay's own address.
func RelayOf(a ma.Multiaddr) (peer.AddrInfo, error) {
	var head ma.Multiaddr
	for _, c := range a {
		if c.Protocol().Code == ma.P_CIRCUIT {
			break
		}
		head = append(head, c)
	}
	ai, err := peer.AddrInfoFromP2pAddr(head)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	return *ai, nil
}

// capped is a buffer that refuses more than MaxRead bytes.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > MaxRead {
		return 0, fmt.Errorf("the cached copy is larger than the %d MiB mesh get holds in memory", MaxRead>>20)
	}
	return c.Buffer.Write(p)
}
