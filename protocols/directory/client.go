package directory

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// The client functions need h to know an address for the bootstrap (its
// peerstore or an existing connection). Each call is one stream, bounded by
// Timeout and by ctx.

func call(ctx context.Context, h host.Host, bootstrap peer.ID, req request, resp any) error {
	return exchange.Call(ctx, h, bootstrap, ID, Limits(), req, resp)
}

// Publish sends a record signed by h's own peer key; the bootstrap refuses a
// record for any other peer ID.
func Publish(ctx context.Context, h host.Host, bootstrap peer.ID, sr *SignedRecord) error {
	if sr == nil {
		return ErrBadRecord
	}
	if err := call(ctx, h, bootstrap, request{Op: OpPublish, Record: sr}, nil); err != nil {
		return fmt.Errorf("directory: publish: %w", err)
	}
	return nil
}

// Lookup resolves a handle and verifies the returned record itself: the
// signature, and that it is the record for the handle asked for.
func Lookup(ctx context.Context, h host.Host, bootstrap peer.ID, handle Handle) (*Record, error) {
	if err := handle.Validate(); err != nil {
		return nil, err
	}
	var sr SignedRecord
	if err := call(ctx, h, bootstrap, request{Op: OpLookup, Handle: string(handle)}, &sr); err != nil {
		return nil, fmt.Errorf("directory: lookup %q: %w", handle, err)
	}
	rec, err := sr.Verify()
	if err != nil {
		return nil, fmt.Errorf("directory: lookup %q: bootstrap sent a bad record: %w", handle, err)
	}
	if rec.Handle != handle {
		return nil, fmt.Errorf("directory: lookup %q: bootstrap answered for %q: %w", handle, rec.Handle, ErrBadRecord)
	}
	return rec, nil
}

// LookupPeer resolves a peer ID to its record, verified as in Lookup.
func LookupPeer(ctx context.Context, h host.Host, bootstrap, id peer.ID) (*Record, error) {
	var sr SignedRecord
	if err := call(ctx, h, bootstrap, request{Op: OpLookupPeer, Peer: []byte(id)}, &sr); err != nil {
		return nil, fmt.Errorf("directory: lookup peer %s: %w", id, err)
	}
	rec, err := sr.Verify()
	if err != nil {
		return nil, fmt.Errorf("directory: lookup peer %s: bootstrap sent a bad record: %w", id, err)
	}
	if rec.Peer != id {
		return nil, fmt.Errorf("directory: lookup peer %s: bootstrap answered for %s: %w", id, rec.Peer, ErrBadRecord)
	}
	return rec, nil
}

// MailboxPut leaves a sealed blob (peerseal.Seal to the recipient) in the
// recipient's mailbox on the bootstrap. tokens name the capabilities the
// blob carries (for a grant, every token of its chain): the bootstrap
// refuses the mail if one is revoked, and drops it if one is revoked
// before the recipient fetches it. The bootstrap learns these IDs, which
// are hashes; it learns what they stand for only if they are revoked,
// when the revocation record itself tells every mesh peer.
func MailboxPut(ctx context.Context, h host.Host, bootstrap, recipient peer.ID, sealed []byte, tokens ...capability.ID) error {
	if len(sealed) == 0 || len(sealed) > MaxSealedBytes {
		return wire.Errorf(wire.TooLarge, "sealed blob must be 1–%d bytes", MaxSealedBytes)
	}
	if len(tokens) > MaxMailTokens {
		return wire.Errorf(wire.BadRequest, "at most %d token ids", MaxMailTokens)
	}
	req := request{Op: OpMailboxPut, Peer: []byte(recipient), Sealed: sealed}
	for _, id := range tokens {
		req.Tokens = append(req.Tokens, id[:])
	}
	if err := call(ctx, h, bootstrap, req, nil); err != nil {
		return fmt.Errorf("directory: mailbox put: %w", err)
	}
	return nil
}

// MailboxFetch takes everything waiting in h's own mailbox: it fetches a
// batch, acknowledges it (which deletes it on the bootstrap), and repeats
// while more remain, up to MaxFetchRounds batches. If an ack fails, the
// items of that batch are not returned; they stay and come again next time.
func MailboxFetch(ctx context.Context, h host.Host, bootstrap peer.ID) ([]Mail, error) {
	var out []Mail
	for round := 0; round < MaxFetchRounds; round++ {
		var rep fetchReply
		if err := call(ctx, h, bootstrap, request{Op: OpMailboxFetch}, &rep); err != nil {
			return out, fmt.Errorf("directory: mailbox fetch: %w", err)
		}
		if len(rep.Items) > MaxFetchItems {
			return out, fmt.Errorf("directory: mailbox fetch: %d items over cap: %w", len(rep.Items), wire.TooLarge)
		}
		if len(rep.Items) == 0 {
			return out, nil
		}
		batch := make([]Mail, 0, len(rep.Items))
		ids := make([][]byte, 0, len(rep.Items))
		for _, it := range rep.Items {
			from, err := keys.PeerIDFromBytes(it.From)
			if err != nil || len(it.ID) != MailIDLen {
				return out, fmt.Errorf("directory: mailbox fetch: malformed item: %w", wire.BadRequest)
			}
			batch = append(batch, Mail{ID: it.ID, From: from, Received: time.Unix(it.Received, 0).UTC(), Sealed: it.Sealed})
			ids = append(ids, it.ID)
		}
		if err := call(ctx, h, bootstrap, request{Op: OpMailboxAck, IDs: ids}, nil); err != nil {
			return out, fmt.Errorf("directory: mailbox ack: %w", err)
		}
		out = append(out, batch...)
		if !rep.More {
			break
		}
	}
	return out, nil
}
