package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
)

const (
	// maxRedeliveries bounds one redelivery round.
	maxRedeliveries = 16
	// deliverPerTry bounds each of the two live delivery attempts of a
	// grant before it goes to the mailbox.
	deliverPerTry = 15 * time.Second
	// redeliverDial bounds the fresh dial of an audience before a retry.
	redeliverDial = 5 * time.Second
	// ownerLookup bounds naming a grant's owner when it arrives.
	ownerLookup = 5 * time.Second
)

// deliverRetry is how a grant is delivered live: two attempts of
// deliverPerTry each, the second through relay circuits only.
var deliverRetry = meshnet.Retry{Attempts: 2, PerTry: deliverPerTry}

// Config is what a Service uses of its node.
type Config struct {
	Host host.Host
	Net  *meshnet.Net
	// State records grants issued, delivered and received, and holds the
	// node's handle.
	State *meshstate.State
	// Self is the node's peer ID; Revoked is its revocation set (Accept).
	Self    peer.ID
	Revoked capability.RevocationChecker
	// Audience finds how to reach a grant's audience (resolve.Resolver).
	Audience func(context.Context, peer.ID) (*directory.Record, error)
	// Issued lists the grants the node issued, with their states.
	Issued func(context.Context) ([]localapi.Grant, error)
	// Open opens a grant sealed to the node (Signer.OpenMailWhileLocked).
	Open func(sealed []byte, now time.Time) (*grant.Received, error)
	// Delivered, when set, is told of each grant that reached its
	// audience, by route (meshstate.ViaLive, ViaMailbox).
	Delivered func(via string)
	// Received, when set, is told that the node took a grant.
	Received func(context.Context)
	// Other, when set, is offered each mailbox item that does not open as
	// a grant (social recovery's mail); it reports whether it took it.
	// What nobody takes is dropped. SetOther sets it later.
	Other func(ctx context.Context, sealed []byte) bool
	// Now is the node's clock. Default time.Now.
	Now func() time.Time
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
}

// Service delivers and receives the grants of one node.
type Service struct {
	cfg Config

	mu sync.Mutex
	// delivering holds the grants a Send is delivering right now, so the
	// redelivery round does not send them a second time.
	delivering map[capability.ID]bool
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Delivered == nil {
		cfg.Delivered = func(string) {}
	}
	if cfg.Received == nil {
		cfg.Received = func(context.Context) {}
	}
	return &Service{cfg: cfg, delivering: map[capability.ID]bool{}}
}

// SetOther sets Config.Other on a running Service.
func (s *Service) SetOther(f func(ctx context.Context, sealed []byte) bool) {
	s.mu.Lock()
	s.cfg.Other = f
	s.mu.Unlock()
}

func (s *Service) other() func(ctx context.Context, sealed []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Other
}

// Hold keeps the redelivery round away from grant id until release is
// called: take it before the grant is recorded, so a round cannot race
// the first delivery.
func (s *Service) Hold(id capability.ID) (release func()) {
	s.mu.Lock()
	s.delivering[id] = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.delivering, id)
		s.mu.Unlock()
	}
}

func (s *Service) isDelivering(id capability.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivering[id]
}

// Send delivers issued grant g (token tok) to its audience, found at rec:
// live, else to its mailbox. Once it arrived, it is recorded as delivered
// and counted, and via says how.
func (s *Service) Send(ctx context.Context, g localapi.Grant, tok *capability.Token, rec *directory.Record) (via string, err error) {
	if via, err = s.deliver(ctx, tok, rec); err != nil {
		return "", err
	}
	s.cfg.State.MarkDelivered(ctx, g, via)
	s.cfg.Delivered(via)
	return via, nil
}

// Trouble says in a few words why neither the recipient nor its mailbox
// took a grant (Send failed with err).
func Trouble(err error) string {
	switch {
	case errors.Is(err, directory.ErrMailboxFull):
		return "the recipient did not answer and its mailbox is full"
	case errors.Is(err, wire.RateLimited):
		return "the recipient did not answer and the bootstrap asked us to slow down"
	default:
		return "neither the recipient nor its mailbox could be reached right now"
	}
}

// Redeliver retries issued grants that never reached their audience
// (active ones only): live first, then the mailbox, as Send does. While
// the bootstrap is down, the audience is dialled at the relays kept with
// its contact, and the mailbox waits for the bootstrap's return.
func (s *Service) Redeliver(ctx context.Context) {
	gs, err := s.cfg.Issued(ctx)
	if err != nil {
		return
	}
	tried := 0
	unreachable := map[peer.ID]bool{} // this round: one failure per audience is enough
	for _, g := range gs {
		if g.Status != meshstate.Undelivered || tried == maxRedeliveries {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || unreachable[tok.Audience()] || s.isDelivering(tok.ID()) {
			continue
		}
		tried++
		rec, err := s.cfg.Audience(ctx, tok.Audience())
		if err != nil {
			unreachable[tok.Audience()] = true
			continue
		}
		// A fresh dial through the audience's relay circuits first: what we
		// learnt while it was away (dead addresses, dial backoff) is stale.
		cctx, cancel := context.WithTimeout(ctx, redeliverDial)
		s.cfg.Net.Connect(cctx, rec.Peer, rec, true)
		cancel()
		via, err := s.Send(ctx, g, tok, rec)
		if err != nil {
			unreachable[tok.Audience()] = true
			continue
		}
		s.cfg.Logger.Info("share delivered on retry", "share", tok.ID().Short(), "via", via)
	}
}

// deliver sends a token to its audience, falling back to its mailbox.
func (s *Service) deliver(ctx context.Context, tok *capability.Token, rec *directory.Record) (string, error) {
	handle, _ := s.cfg.State.Handle(ctx)
	h := s.cfg.Host
	err := s.cfg.Net.Call(ctx, rec, deliverRetry, func(ctx context.Context) error {
		return grant.Deliver(ctx, h, tok, handle, "")
	})
	if err == nil {
		return meshstate.ViaLive, nil
	}
	s.cfg.Logger.Info("direct delivery failed, using the mailbox", "to", rec.Peer, "err", err)
	sealed, serr := grant.Seal(tok, handle, "")
	if serr != nil {
		return "", serr
	}
	chain := tok.Chain()
	ids := make([]capability.ID, len(chain))
	for i, t := range chain {
		ids[i] = t.ID()
	}
	put := func(b peer.ID) error { return directory.MailboxPut(ctx, h, b, rec.Peer, sealed, ids...) }
	if merr := s.cfg.Net.WithBootstrap(ctx, put); merr != nil {
		return "", errors.Join(err, merr)
	}
	return meshstate.ViaMailbox, nil
}

// Receive stores a checked grant and audits it. It runs for direct
// deliveries (the grant server's callback), mailbox items and tokens taken
// by hand alike, and works while the vault is locked.
func (s *Service) Receive(ctx context.Context, r *grant.Received) error {
	st := s.cfg.State
	if ok, err := st.HasReceived(ctx, r.Token.ID()); err != nil || ok {
		return err
	}
	g := meshstate.GrantOf(r.Token)
	g.Created, g.Via = s.cfg.Now().UTC(), r.Via
	owner := r.Token.Chain()[0].Issuer()
	lctx, cancel := context.WithTimeout(ctx, ownerLookup)
	if rec, err := s.cfg.Net.LookupPeer(lctx, owner); err == nil && rec.Peer == owner {
		g.OwnerHandle = string(rec.Handle)
	}
	cancel()
	if g.OwnerHandle == "" && r.Handle != "" {
		g.OwnerHandle = r.Handle + "?" // claimed, not confirmed by the directory
	}
	if err := st.Receive(ctx, r.Token, g); err != nil {
		return err
	}
	s.cfg.Received(ctx) // a grant we hold: its revocations concern us
	return nil
}

// FetchMail collects and stores the grants left in the node's mailbox,
// and says how many.
func (s *Service) FetchMail(ctx context.Context) (int, error) {
	count := 0
	err := s.cfg.Net.WithBootstrap(ctx, func(b peer.ID) error {
		mail, err := directory.MailboxFetch(ctx, s.cfg.Host, b)
		if err != nil {
			return err
		}
		for _, m := range mail {
			r, err := s.cfg.Open(m.Sealed, s.cfg.Now())
			if other := s.other(); err != nil && other != nil && other(ctx, m.Sealed) {
				continue
			}
			if err != nil {
				s.cfg.Logger.Warn("dropping a mailbox item", "from", m.From, "err", err)
				continue
			}
			if err := s.Receive(ctx, r); err != nil {
				return err
			}
			count++
		}
		return nil
	})
	return count, err
}

// Collect checks the mailbox and retries undelivered shares: one round of
// the mesh loop.
func (s *Service) Collect(ctx context.Context) {
	if k, err := s.FetchMail(ctx); err != nil {
		s.cfg.Logger.Debug("mailbox fetch failed", "err", err)
	} else if k > 0 {
		s.cfg.Logger.Info("grants collected from the mailbox", "count", k)
	}
	s.Redeliver(ctx)
}

// Accept takes a token received out of band (mesh token use: in a chat,
// on paper) as a grant held, after checking that it is addressed to this
// node, verifies (signatures, chain, time) and is not revoked.
func (s *Service) Accept(ctx context.Context, text string) (*capability.Token, error) {
	tok, err := capability.Parse(strings.TrimSpace(text))
	if err != nil {
		return nil, words.BadToken("the token", text, err)
	}
	if tok.Audience() != s.cfg.Self {
		return nil, fmt.Errorf("this token is for %s, not for this node (%s): only its audience can use it", tok.Audience(), s.cfg.Self)
	}
	if err := capability.CheckToken(tok, capability.InspectRemote(s.cfg.Self), capability.InspectClock(s.cfg.Now)); err != nil {
		return nil, words.BadToken("the token", text, err)
	}
	for _, t := range tok.Chain() {
		if s.cfg.Revoked.IsRevoked(t.ID()) {
			return nil, words.Say(capability.ErrRevoked, "the token was revoked (%s)", t.ID().Short())
		}
	}
	return tok, s.Receive(ctx, &grant.Received{Token: tok, Via: meshstate.ViaHand})
}
