package grantee

import (
	"context"
	"errors"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// TestAnOwnersAnswerIsPutInWords: a refusal from an owner's node, or a
// failure to reach it, becomes a sentence that keeps the wire status or
// sentinel; transport details stay in the log.
func TestAnOwnersAnswerIsPutInWords(t *testing.T) {
	ctx := context.Background()
	cl := New(Config{})
	alice := testkit.Key(t, "alice").ID()
	dump := errors.New("failed to dial 12D3KooW: all dials failed\n  * [/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW/p2p-circuit] dial tcp4 127.0.0.1:4001: connect: connection refused")
	testkit.Sentence(t, "unreachable", cl.explain(ctx, "alice", alice, dump), "could not reach alice's node: it is offline or unreachable from here", ErrUnreachable)
	for _, c := range []struct {
		err  *wire.Error
		want string
	}{
		{&wire.Error{Status: wire.Forbidden, Message: "token: ErrWrongAudience"}, "alice refused: the share was made for another node"},
		{&wire.Error{Status: wire.Forbidden, Message: "token: ErrNotPermitted"}, "alice refused: the share does not allow that"},
		{&wire.Error{Status: wire.Revoked, Message: "token: ErrRevoked"}, "alice refused the share as revoked"},
		{&wire.Error{Status: wire.RateLimited, Message: "too many share requests"}, "asked you to slow down"},
		{&wire.Error{Status: wire.BadRequest, Message: "malformed request"}, "did not understand the request"},
		{&wire.Error{Status: wire.Unavailable}, "not ready to answer yet"},
		{&wire.Error{Status: wire.Internal}, "failed to answer"},
	} {
		testkit.Sentence(t, c.err.Error(), cl.explain(ctx, "alice", alice, c.err), c.want, c.err.Status)
	}
	if err := cl.explain(ctx, "alice", alice, &wire.Error{Status: wire.Revoked}); !errors.Is(err, capability.ErrRevoked) {
		t.Errorf("a revoked refusal does not match capability.ErrRevoked: %v", err)
	}
}
