package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
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

// TestRefusalsAreSentencesThatKeepTheirSentinels: what the node refuses
// it says in words, while errors.Is still sees the sentinel the local API
// sends as a code.
func TestRefusalsAreSentencesThatKeepTheirSentinels(t *testing.T) {
	ctx := context.Background()
	o := openOffline(t)
	if err := o.Unlock(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	bob := testkit.Key(t, "bob").ID().String()
	issue := func(res, acts string, d time.Duration, parent string) error {
		_, err := o.TokenIssue(ctx, localapi.TokenRequest{Audience: bob, Resource: res, Actions: acts, ValidFor: d, Parent: parent})
		return err
	}
	checkSentence(t, "uppercase pattern", issue("Calendar/*", "read", time.Hour, ""), `"Calendar/*" is not a valid path or pattern: paths are lowercase`, capability.ErrBadPattern)
	checkSentence(t, "unknown action", issue("calendar/*", "read,fly", time.Hour, ""), `"fly" is not an action`, capability.ErrMalformed)
	checkSentence(t, "too long", issue("calendar/*", "read", 9999*time.Hour, ""), "too long: at most 366d")
	checkSentence(t, "bad parent", issue("calendar/*", "read", time.Hour, "ocmt1.!!!!"), `'!' at position 7 cannot be in a token`, capability.ErrMalformed)
	checkSentence(t, "cut parent", issue("calendar/*", "read", time.Hour, "ocmt1.QUJD"), "cut short or was changed", capability.ErrMalformed)
	checkSentence(t, "not a token", issue("calendar/*", "read", time.Hour, "hello"), `a token starts with "ocmt1."`, capability.ErrMalformed)
	checkSentence(t, "bad handle", o.SetHandle(ctx, "Bob!"), `"Bob!" is not a valid handle`, wire.BadRequest)
	checkSentence(t, "empty segment", o.PutResource(ctx, "notes//x", []byte("x")), "empty segment")
	checkSentence(t, "wildcard path", o.PutResource(ctx, "notes/*", []byte("x")), "only a share pattern")
	checkSentence(t, "too large", o.PutResource(ctx, "notes/x", make([]byte, 5<<20)), "a resource holds at most 4 MiB", vault.ErrTooLarge)
}
