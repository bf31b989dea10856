package hibernate

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/cached"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/wake"
)

// ErrNotAsleep means none of the owner's relays holds it as asleep: its
// node is offline without having hibernated (or at another relay).
var ErrNotAsleep = errors.New("not asleep at its relays")

// Wake asks the relays of the owner's record, in turn, to wake it,
// presenting tok (a share the owner gave h's node). It returns nil once a
// relay says the owner is back, the refusal of a relay that refused the
// token or could not wake it, or ErrNotAsleep.
func Wake(ctx context.Context, h host.Host, rec *directory.Record, tok *capability.Token) error {
	tried := map[peer.ID]bool{}
	for _, a := range rec.Relays {
		ai, err := cached.RelayOf(a)
		if err != nil || tried[ai.ID] {
			continue
		}
		tried[ai.ID] = true
		if err := h.Connect(ctx, ai); err != nil {
			continue
		}
		err = wake.Wake(ctx, h, ai.ID, rec.Peer, tok.Bytes())
		var we *wire.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &we) && we.Status == wire.NotFound:
			continue
		case errors.As(err, &we):
			return err
		}
	}
	return fmt.Errorf("%w (%d relays asked)", ErrNotAsleep, len(tried))
}
