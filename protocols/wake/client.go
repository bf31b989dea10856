package wake

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// The client functions need h to know an address for the relay (its
// peerstore or an existing connection). Each call is one stream, bounded
// by ctx and by Timeout (a wake: MaxTTL + WakeSlack). Refusals are
// *wire.Error values, worded for a person.

// Hibernation is what a node leaves at a relay before it exits.
type Hibernation struct {
	// Handle is the node's directory handle: the relay's hook wakes it
	// by this name.
	Handle string
	// Half is the sealed half of a resume key, at most MaxHalfBytes,
	// sealed by the node to its own key (opaque to the relay); nil for
	// none.
	Half []byte
	// Until is when the relay deletes Half (required with Half, at most
	// MaxUntil ahead of the relay's clock; whole seconds).
	Until time.Time
}

// Hibernate tells relay that h's node is going to sleep: the relay
// remembers it as asleep (and holds the sealed half) until it reserves
// again. The relay takes it only from a node holding a reservation there.
func Hibernate(ctx context.Context, h host.Host, relay peer.ID, hb Hibernation) error {
	if _, err := directory.ParseHandle(hb.Handle); err != nil {
		return wire.Errorf(wire.BadRequest, "the handle must be %d to %d characters of a-z, 0-9, - and _", directory.MinHandleLen, directory.MaxHandleLen)
	}
	if len(hb.Half) > MaxHalfBytes {
		return wire.Errorf(wire.TooLarge, "a sealed half is at most %d bytes; this one is %d", MaxHalfBytes, len(hb.Half))
	}
	req := Request{Op: OpHibernate, Handle: hb.Handle}
	if len(hb.Half) > 0 {
		if hb.Until.Unix() <= 0 {
			return wire.Errorf(wire.BadRequest, "a sealed half needs an until")
		}
		req.Half, req.Until = hb.Half, hb.Until.Unix()
	}
	if err := exchange.Call(ctx, h, relay, ID, Limits(), req, nil); err != nil {
		return fmt.Errorf("hibernating at relay %s: %w", relay, err)
	}
	return nil
}

// Wake asks relay to wake owner, presenting token (a capability token's
// envelope bytes whose audience is h and whose root issuer is owner). It
// returns nil once the owner is back at the relay (or already was), and
// the relay's refusal otherwise: the token refused, the owner not asleep
// there (NotFound), the queue full, the hook failed or the TTL passed
// (Unavailable).
func Wake(ctx context.Context, h host.Host, relay, owner peer.ID, token []byte) error {
	if len(token) == 0 || len(token) > capability.MaxTokenBytes {
		return wire.Errorf(wire.BadRequest, "a token is 1 to %d bytes", capability.MaxTokenBytes)
	}
	req := Request{Op: OpWake, Owner: []byte(owner), Token: token}
	if err := exchange.Call(ctx, h, relay, ID, wakeLimits(), req, nil); err != nil {
		return fmt.Errorf("waking %s through relay %s: %w", owner, relay, err)
	}
	return nil
}

// Resume takes back the sealed half h's node left at relay, and its until.
// The relay hands it over once and deletes it; NotFound when it holds
// none (never left, already taken, forgotten or lapsed).
func Resume(ctx context.Context, h host.Host, relay peer.ID) ([]byte, time.Time, error) {
	var rep ResumeReply
	if err := exchange.Call(ctx, h, relay, ID, Limits(), Request{Op: OpResume}, &rep); err != nil {
		return nil, time.Time{}, fmt.Errorf("resuming from relay %s: %w", relay, err)
	}
	if err := rep.check(); err != nil {
		return nil, time.Time{}, fmt.Errorf("resuming from relay %s: %w", relay, err)
	}
	return rep.Half, time.Unix(rep.Until, 0).UTC(), nil
}

// Forget asks relay to delete what it holds for h's node: the asleep
// state and the sealed half.
func Forget(ctx context.Context, h host.Host, relay peer.ID) error {
	if err := exchange.Call(ctx, h, relay, ID, Limits(), Request{Op: OpForget}, nil); err != nil {
		return fmt.Errorf("forgetting at relay %s: %w", relay, err)
	}
	return nil
}
