package relayaccess

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

// ID is the protocol ID.
const ID = "/ocmt/relay-access/1"

// Resource is the resource a relay-access capability names.
const Resource capability.ResourcePath = "relay/access"

type request struct {
	Token []byte `cbor:"1,keyasint"`
}

// Server admits peers holding a valid relay-access capability.
type Server struct {
	h        host.Host
	verifier *capability.Verifier
	revs     capability.RevocationChecker
	log      *slog.Logger

	mu      sync.Mutex
	granted map[peer.ID]*capability.Token
}

// NewServer registers the handler on h. revs is the relay's revocation set.
func NewServer(h host.Host, revs capability.RevocationChecker, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, revs: revs, log: log, granted: map[peer.ID]*capability.Token{},
		verifier: capability.NewVerifier(capability.Config{Revocations: revs, Replay: capability.NewMemoryReplay(MaxGrants)})}
	h.SetStreamHandler(ID, func(st network.Stream) { exchange.Serve(st, Limits(), log, s.serve) })
	return s
}

// Close removes the handler.
func (s *Server) Close() error { s.h.RemoveStreamHandler(ID); return nil }

func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	var req request
	if err := wire.UnmarshalCanonical(raw, &req); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "malformed request")
	}
	tok, err := s.verifier.Decode(req.Token) // through its chain cache
	if err != nil {
		return nil, capwire.ToWire(err)
	}
	if _, err := s.verifier.Verify(ctx, tok, capability.Request{Remote: remote, Owner: s.h.ID(), Resource: Resource, Action: capability.Use}); err != nil {
		return nil, capwire.ToWire(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.granted) >= MaxGrants {
		s.sweepLocked(time.Now())
		if len(s.granted) >= MaxGrants {
			return nil, wire.Errorf(wire.RateLimited, "relay access list full")
		}
	}
	s.granted[remote] = tok
	s.log.Info("relay access granted", "peer", remote, "until", tok.Expiry())
	return nil, nil
}

func (s *Server) sweepLocked(now time.Time) {
	for p, t := range s.granted {
		if !now.Before(t.Expiry()) {
			delete(s.granted, p)
		}
	}
}

// Allowed reports whether p holds an unexpired, unrevoked access token:
// the relay's Authorizer.AllowReserve.
func (s *Server) Allowed(p peer.ID) bool {
	s.mu.Lock()
	tok, ok := s.granted[p]
	s.mu.Unlock()
	if !ok || !time.Now().Before(tok.Expiry()) {
		return false
	}
	for _, t := range tok.Chain() {
		if s.revs != nil && s.revs.IsRevoked(t.ID()) {
			return false
		}
	}
	return true
}

// Present shows tok to the relay.
func Present(ctx context.Context, h host.Host, relay peer.ID, tok *capability.Token) error {
	return exchange.Call(ctx, h, relay, ID, Limits(), request{Token: tok.Bytes()}, nil)
}

// Cut forgets every grant whose token chain contains id (a revocation just
// put in force) and returns the peers it admitted, so the relay can close
// what they hold: a reservation made under a revoked capability must not
// outlive the revocation by the reservation's hour. Allowed already
// refuses them; Cut makes the refusal reach existing connections.
func (s *Server) Cut(id capability.ID) []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cut []peer.ID
	for p, tok := range s.granted {
		for _, t := range tok.Chain() {
			if t.ID() == id {
				cut = append(cut, p)
				delete(s.granted, p)
				s.log.Info("relay access revoked", "peer", p, "token", id.Short())
				break
			}
		}
	}
	return cut
}
