package recoverywire

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/wire"
)

// The client functions need h to know an address for p (its peerstore or
// an existing connection, e.g. meshnet.Net.Connect through p's relays).
// Each call is one stream, bounded by ctx and by Timeout. Refusals are
// *wire.Error values, worded for a person.

// Deliver gives p one signed recovery message (a request or a veto) and
// returns where the request it concerns stands at p.
func Deliver(ctx context.Context, h host.Host, p peer.ID, message []byte) (*Status, error) {
	if len(message) == 0 || len(message) > MaxMessageBytes {
		return nil, wire.Errorf(wire.TooLarge, "a recovery message is 1 to %d bytes", MaxMessageBytes)
	}
	return call(ctx, h, p, Request{Op: OpDeliver, Message: message})
}

// Fetch asks p for its release of request id: Status.Release once it is
// ready, else the state that says what it waits for.
func Fetch(ctx context.Context, h host.Host, p peer.ID, id [RequestIDLen]byte) (*Status, error) {
	return call(ctx, h, p, Request{Op: OpFetch, Request: id[:]})
}

// Done tells p that the device of request id recovered.
func Done(ctx context.Context, h host.Host, p peer.ID, id [RequestIDLen]byte) (*Status, error) {
	return call(ctx, h, p, Request{Op: OpDone, Request: id[:]})
}

func call(ctx context.Context, h host.Host, p peer.ID, req Request) (*Status, error) {
	var st Status
	if err := exchange.Call(ctx, h, p, ID, Limits(), req, &st); err != nil {
		return nil, fmt.Errorf("recovery exchange with %s: %w", p, err)
	}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("recovery exchange with %s: %w", p, err)
	}
	return &st, nil
}
