package share

import (
	"context"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// Read fetches path from owner with tok. Errors from the owner are
// *wire.Error (errors.Is(err, wire.Revoked), ...); Revoked(err) gives a
// revocation's detail. The same holds for List and Write.
func Read(ctx context.Context, h host.Host, owner peer.ID, tok *capability.Token, path string) ([]byte, error) {
	var rep ReadReply
	err := exchange.Call(ctx, h, owner, ID, Limits(), Request{Op: OpRead, Path: path, Token: tok.Bytes()}, &rep)
	return rep.Data, err
}

// List lists what tok lets us see at owner under prefix ("" = everything).
func List(ctx context.Context, h host.Host, owner peer.ID, tok *capability.Token, prefix string) ([]string, error) {
	var rep ListReply
	err := exchange.Call(ctx, h, owner, ID, Limits(), Request{Op: OpList, Path: prefix, Token: tok.Bytes()}, &rep)
	return rep.Names, err
}

// Write replaces path at owner with data.
func Write(ctx context.Context, h host.Host, owner peer.ID, tok *capability.Token, path string, data []byte) error {
	return exchange.Call(ctx, h, owner, ID, Limits(), Request{Op: OpWrite, Path: path, Token: tok.Bytes(), Data: data}, nil)
}

// Delete removes path at owner.
func Delete(ctx context.Context, h host.Host, owner peer.ID, tok *capability.Token, path string) error {
	return exchange.Call(ctx, h, owner, ID, Limits(), Request{Op: OpDelete, Path: path, Token: tok.Bytes()}, nil)
}
