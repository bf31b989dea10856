package wakehook

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Target is the node to wake: its handle and its peer ID.
type Target struct {
	Handle string
	Peer   peer.ID
}

// Hook wakes a node. Wake returns once the wake is under way (a command
// started, an orchestrator's 2xx): the caller waits for the node itself by
// other means. It must honour ctx.
type Hook interface {
	Wake(ctx context.Context, t Target) error
}

// HookFunc adapts a function to Hook.
type HookFunc func(ctx context.Context, t Target) error

// Wake calls f.
func (f HookFunc) Wake(ctx context.Context, t Target) error { return f(ctx, t) }

// Handle lengths: those of a directory handle (protocols/directory, whose
// rule a test holds this one to).
const (
	MinHandleLen = 2
	MaxHandleLen = 32
)

// ErrBadTarget is wrapped by every refusal of a Target.
var ErrBadTarget = errors.New("not a node the relay can wake")

// CheckTarget checks t as every hook does before using it: a handle of
// MinHandleLen to MaxHandleLen bytes of a-z, 0-9, '-' and '_' (so it
// needs no quoting anywhere), and a well-formed peer ID.
func CheckTarget(t Target) error {
	if err := checkHandle(t.Handle); err != nil {
		return err
	}
	if t.Peer == "" || t.Peer.Validate() != nil {
		return fmt.Errorf("%w: the peer ID is missing or malformed", ErrBadTarget)
	}
	if _, err := peer.Decode(t.Peer.String()); err != nil {
		return fmt.Errorf("%w: the peer ID is malformed", ErrBadTarget)
	}
	return nil
}

func checkHandle(h string) error {
	if len(h) < MinHandleLen || len(h) > MaxHandleLen {
		return fmt.Errorf("%w: a handle has %d to %d characters, this one %d", ErrBadTarget, MinHandleLen, MaxHandleLen, len(h))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: a handle is made of a-z, 0-9, - and _ only (character %d is not)", ErrBadTarget, i+1)
		}
	}
	return nil
}
