package socialrecovery

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/recoverywire"
)

const (
	viaLive    = "live"
	viaMailbox = "mailbox"
)

// Seal seals a recovery mail to one peer for its mailbox.
func Seal(to peer.ID, m recoverywire.Mail) ([]byte, error) {
	b, err := m.Encode()
	if err != nil {
		return nil, err
	}
	return peerseal.Seal([]peer.ID{to}, b)
}

// PutMail leaves a sealed recovery mail in to's mailbox at one of net's
// bootstraps.
func PutMail(ctx context.Context, h host.Host, net *meshnet.Net, to peer.ID, m recoverywire.Mail) error {
	sealed, err := Seal(to, m)
	if err != nil {
		return err
	}
	return net.WithBootstrap(ctx, func(b peer.ID) error { return directory.MailboxPut(ctx, h, b, to, sealed) })
}

// Live reaches peer id (its directory record under handle, else under
// its peer ID) through its relays and delivers message.
func Live(ctx context.Context, h host.Host, net *meshnet.Net, id peer.ID, handle string, message []byte) (*recoverywire.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	var st *recoverywire.Status
	err := Call(ctx, net, id, handle, func(ctx context.Context) (err error) {
		st, err = recoverywire.Deliver(ctx, h, id, message)
		return err
	})
	return st, err
}

// liveRetry is how a peer is reached live: through its relays only, from
// the first try (a firewalled home completes a direct handshake and then
// drops it, which looks like success until the first stream), three
// times (a redial can race the dial it replaces).
var liveRetry = meshnet.Retry{Attempts: 3, PerTry: liveTimeout / 3, Fresh: true}

// Call finds peer id (Find) and runs f against it, connected, with
// liveRetry.
func Call(ctx context.Context, net *meshnet.Net, id peer.ID, handle string, f func(context.Context) error) error {
	rec, err := Find(ctx, net, id, handle)
	if err != nil {
		return err
	}
	return net.Call(ctx, rec, liveRetry, f)
}

// Find is the directory record of peer id: under handle when that handle
// still names id, else under the peer ID.
func Find(ctx context.Context, net *meshnet.Net, id peer.ID, handle string) (*directory.Record, error) {
	if handle != "" {
		if rec, err := net.Lookup(ctx, handle); err == nil && rec.Peer == id {
			return rec, nil
		}
	}
	rec, err := net.LookupPeer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s is not in the directory: %w", id, err)
	}
	if rec.Peer != id {
		return nil, fmt.Errorf("the directory answered another peer for %s", id)
	}
	return rec, nil
}

// mail leaves m in to's mailbox; with keep, a failure leaves it in the
// outbox for Run to mail again.
func (s *Service) mail(ctx context.Context, to peer.ID, m recoverywire.Mail, keep bool) error {
	sealed, err := Seal(to, m)
	if err != nil {
		return err
	}
	err = s.cfg.Net.WithBootstrap(ctx, func(b peer.ID) error { return directory.MailboxPut(ctx, s.cfg.Host, b, to, sealed) })
	if err != nil && keep {
		if perr := s.cfg.Store.Put(ctx, outboxPrefix.ChildString(to.String()), sealed); perr != nil {
			return fmt.Errorf("%w (and it could not be kept to mail again: %v)", err, perr)
		}
	}
	return err
}

// send delivers a signed message to a peer live, else by mail.
func (s *Service) send(ctx context.Context, to peer.ID, handle string, message []byte) (string, error) {
	if _, err := Live(ctx, s.cfg.Host, s.cfg.Net, to, handle, message); err == nil {
		return viaLive, nil
	}
	if err := s.mail(ctx, to, recoverywire.Mail{Message: message}, false); err != nil {
		return "", err
	}
	return viaMailbox, nil
}

// flushOutbox mails again what could not be mailed.
func (s *Service) flushOutbox(ctx context.Context) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: outboxPrefix.String()})
	if err != nil {
		return
	}
	entries, err := res.Rest()
	if err != nil {
		return
	}
	for i, e := range entries {
		k := ds.NewKey(e.Key)
		to, err := peer.Decode(k.BaseNamespace())
		if err != nil || i >= DefaultMaxOutbox {
			s.cfg.Store.Delete(ctx, k)
			continue
		}
		err = s.cfg.Net.WithBootstrap(ctx, func(b peer.ID) error { return directory.MailboxPut(ctx, s.cfg.Host, b, to, e.Value) })
		if err == nil {
			s.cfg.Store.Delete(ctx, k)
			s.log.Info("a recovery share waiting in the outbox was mailed", "friend", to)
		}
	}
}
