package grantee

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// internals are fragments of package-level error texts that a user must
// never read.
var internals = []string{"0x", "capability:", "wire:", "cbor", "base64", "[a-z0-9._-]", "dial", "/ip4/", "/p2p/", "segment 1", "envelope"}

func checkSentence(t *testing.T, what string, err error, want string, is ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("%s: %q, want it to say %q", what, msg, want)
	}
	for _, bad := range internals {
		if strings.Contains(msg, bad) {
			t.Errorf("%s: %q shows %q", what, msg, bad)
		}
	}
	for _, s := range is {
		if !errors.Is(err, s) {
			t.Errorf("%s: %q does not match %v", what, msg, s)
		}
	}
}

// TestAnOwnersAnswerIsPutInWords: a refusal from an owner's node, or a
// failure to reach it, becomes a sentence that keeps the wire status or
// sentinel; transport details stay in the log.
func TestAnOwnersAnswerIsPutInWords(t *testing.T) {
	ctx := context.Background()
	cl := New(Config{})
	alice := testkit.Key(t, "alice").ID()
	dump := errors.New("failed to dial 12D3KooW: all dials failed\n  * [/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW/p2p-circuit] dial tcp4 127.0.0.1:4001: connect: connection refused")
	checkSentence(t, "unreachable", cl.explain(ctx, "alice", alice, dump), "could not reach alice's node: it is offline or unreachable from here", ErrUnreachable)
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
		checkSentence(t, c.err.Error(), cl.explain(ctx, "alice", alice, c.err), c.want, c.err.Status)
	}
	if err := cl.explain(ctx, "alice", alice, &wire.Error{Status: wire.Revoked}); !errors.Is(err, capability.ErrRevoked) {
		t.Errorf("a revoked refusal does not match capability.ErrRevoked: %v", err)
	}
}
