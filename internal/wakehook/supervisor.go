package wakehook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// The supervisor protocol, /ocmt/supervise/1: a relay asks a supervisor
// peer (a process on the machines where the nodes' containers run) to wake
// a node, and the supervisor runs its own Hook (an Exec, usually). One
// request and one reply per stream (internal/exchange). The request is a
// CBOR map {1 payload bytes, 2 sig bytes}; payload is the canonical CBOR
// map SuperviseOrder, and sig is the Ed25519 signature of the relay's
// host key over SuperviseLabel || 0x00 || payload. The supervisor
// accepts an order only from a relay it serves, signed by that same
// relay (the authenticated remote peer), naming it, and dated within
// SuperviseMaxSkew of its clock; it answers OK once its hook has started
// the wake. Refusals: Forbidden (not a relay it serves, a bad signature,
// another relay named), Expired (the date), BadRequest (the form),
// RateLimited, Unavailable (its hook failed, in words).
const (
	SuperviseID    = "/ocmt/supervise/1"
	SuperviseLabel = "ocmt-mesh/wake-supervise/v1"
	// SuperviseMaxSkew is how far an order's time may be from the
	// supervisor's clock: it bounds a replay to a few minutes.
	SuperviseMaxSkew = 5 * time.Minute
	// superviseMaxRequest bounds a request: a handle, two peer IDs, a
	// time, a signature and framing.
	superviseMaxRequest = 512
	superviseMaxReply   = 512
	superviseTimeout    = DefaultWebhookTimeout + 5*time.Second
)

// SuperviseOrder is what a relay signs.
type SuperviseOrder struct {
	Handle string `cbor:"1,keyasint"`
	Peer   []byte `cbor:"2,keyasint"`
	Relay  []byte `cbor:"3,keyasint"`
	Time   int64  `cbor:"4,keyasint"`
}

type superviseRequest struct {
	Payload []byte `cbor:"1,keyasint"`
	Sig     []byte `cbor:"2,keyasint"`
}

func superviseLimits() exchange.Limits {
	return exchange.Limits{MaxRequest: superviseMaxRequest, MaxResponse: superviseMaxReply, Timeout: superviseTimeout}
}

func superviseBytes(payload []byte) []byte {
	b := make([]byte, 0, len(SuperviseLabel)+1+len(payload))
	b = append(b, SuperviseLabel...)
	b = append(b, 0)
	return append(b, payload...)
}

// Supervisor is the relay's hook that sends signed orders to a supervisor.
type Supervisor struct {
	h   host.Host
	to  peer.ID
	key crypto.PrivKey
	now func() time.Time
}

// NewSupervisor returns a hook sending orders from h (whose host key,
// key, signs them) to the supervisor peer to; now defaults to time.Now.
// h needs an address for the supervisor in its peerstore.
func NewSupervisor(h host.Host, key crypto.PrivKey, to peer.ID, now func() time.Time) (*Supervisor, error) {
	if key == nil || key.Type() != crypto.Ed25519 {
		return nil, errors.New("the supervisor hook needs the relay's Ed25519 host key to sign with")
	}
	if id, err := peer.IDFromPrivateKey(key); err != nil || id != h.ID() {
		return nil, errors.New("the supervisor hook's key is not the relay host's")
	}
	if to == "" || to.Validate() != nil {
		return nil, errors.New("the supervisor hook needs the supervisor's peer ID")
	}
	if now == nil {
		now = time.Now
	}
	return &Supervisor{h: h, to: to, key: key, now: now}, nil
}

// Wake sends the order and returns nil once the supervisor has started
// the wake.
func (s *Supervisor) Wake(ctx context.Context, t Target) error {
	if err := CheckTarget(t); err != nil {
		return err
	}
	payload, err := wire.Marshal(SuperviseOrder{Handle: t.Handle, Peer: []byte(t.Peer), Relay: []byte(s.h.ID()), Time: s.now().Unix()})
	if err != nil {
		return err
	}
	sig, err := s.key.Sign(superviseBytes(payload))
	if err != nil {
		return fmt.Errorf("signing the wake order: %w", err)
	}
	if err := exchange.Call(ctx, s.h, s.to, SuperviseID, superviseLimits(), superviseRequest{Payload: payload, Sig: sig}, nil); err != nil {
		return fmt.Errorf("the supervisor %s did not take the wake order: %w", s.to, err)
	}
	return nil
}

// SupervisorServerConfig configures the supervisor's side.
type SupervisorServerConfig struct {
	// Relays says which relays the supervisor takes orders from.
	Relays func(peer.ID) bool
	// Hook is what the supervisor runs, usually an Exec.
	Hook Hook
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Audit, when set, hears of every order: carried out, failed, or
	// refused (an unlisted peer, a bad order), for the supervisor's audit
	// log. Refused orders come from anyone: its receiver bounds them.
	Audit func(Order)
}

// Order is one wake order as the supervisor saw it: metadata only.
type Order struct {
	Relay   peer.ID // who sent it
	Handle  string  // "" when the order was refused before it was read
	Peer    peer.ID
	Outcome string // OrderDone, OrderFailed or OrderRefused
	Reason  string // for a failure or a refusal
}

// Outcomes of an Order.
const (
	OrderDone    = "done"
	OrderFailed  = "failed"
	OrderRefused = "refused"
)

// SupervisorServer answers /ocmt/supervise/1.
type SupervisorServer struct {
	h   host.Host
	cfg SupervisorServerConfig
	log *slog.Logger
	wg  sync.WaitGroup
}

// ServeSupervisor registers the supervisor's handler on h.
func ServeSupervisor(h host.Host, cfg SupervisorServerConfig) (*SupervisorServer, error) {
	if cfg.Relays == nil || cfg.Hook == nil {
		return nil, errors.New("a supervisor needs the relays it serves and a hook")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &SupervisorServer{h: h, cfg: cfg, log: cfg.Logger.With("protocol", SuperviseID)}
	h.SetStreamHandler(SuperviseID, func(st network.Stream) {
		s.wg.Add(1)
		defer s.wg.Done()
		exchange.Serve(st, superviseLimits(), s.log, s.serve)
	})
	return s, nil
}

// Close removes the handler and waits for the orders in flight.
func (s *SupervisorServer) Close() {
	s.h.RemoveStreamHandler(SuperviseID)
	s.wg.Wait()
}

func (s *SupervisorServer) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	audit := func(o Order) {
		if s.cfg.Audit != nil {
			o.Relay = remote
			s.cfg.Audit(o)
		}
	}
	if !s.cfg.Relays(remote) {
		audit(Order{Outcome: OrderRefused, Reason: "not a relay it serves"})
		return nil, wire.Errorf(wire.Forbidden, "this supervisor takes wake orders only from the relays it serves")
	}
	t, err := parseOrder(remote, raw, s.cfg.Now())
	if err != nil {
		audit(Order{Outcome: OrderRefused, Reason: "a bad order: " + wire.StatusOf(err).Name()})
		return nil, err
	}
	if err := s.cfg.Hook.Wake(ctx, t); err != nil {
		s.log.Warn("wake order failed", "relay", remote.String(), "handle", t.Handle, "err", err)
		audit(Order{Handle: t.Handle, Peer: t.Peer, Outcome: OrderFailed, Reason: "the command did not start"})
		return nil, wire.Errorf(wire.Unavailable, "the supervisor could not wake %s", t.Handle)
	}
	s.log.Info("wake order carried out", "relay", remote.String(), "handle", t.Handle, "peer", t.Peer.String())
	audit(Order{Handle: t.Handle, Peer: t.Peer, Outcome: OrderDone})
	return nil, nil
}

// parseOrder checks a request from remote at now: the form, the relay
// named, the signature, then the time.
func parseOrder(remote peer.ID, raw []byte, now time.Time) (Target, error) {
	var req superviseRequest
	if err := wire.UnmarshalCanonical(raw, &req); err != nil {
		return Target{}, err
	}
	var o SuperviseOrder
	if err := wire.UnmarshalCanonical(req.Payload, &o); err != nil {
		return Target{}, err
	}
	id, _, err := keys.ParsePeerID(o.Peer)
	if err != nil {
		return Target{}, wire.Errorf(wire.BadRequest, "the order's peer is not a peer ID")
	}
	t := Target{Handle: o.Handle, Peer: id}
	if err := CheckTarget(t); err != nil {
		return Target{}, wire.Errorf(wire.BadRequest, "the order names no node that can be woken")
	}
	relay, pub, err := keys.ParsePeerID(o.Relay)
	if err != nil || relay != remote {
		return Target{}, wire.Errorf(wire.Forbidden, "the order is not signed by the relay that sent it")
	}
	lp, err := crypto.UnmarshalEd25519PublicKey(pub.Bytes())
	if err != nil {
		return Target{}, wire.Errorf(wire.Forbidden, "the order is not signed by the relay that sent it")
	}
	if ok, err := lp.Verify(superviseBytes(req.Payload), req.Sig); err != nil || !ok {
		return Target{}, wire.Errorf(wire.Forbidden, "the order is not signed by the relay that sent it")
	}
	if d := now.Sub(time.Unix(o.Time, 0)); d > SuperviseMaxSkew || d < -SuperviseMaxSkew {
		return Target{}, wire.Errorf(wire.Expired, "the order is dated %s, more than %s from the supervisor's clock", time.Unix(o.Time, 0).UTC().Format(time.RFC3339), SuperviseMaxSkew)
	}
	return t, nil
}
