package node

import (
	"context"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

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
	testkit.Sentence(t, "uppercase pattern", issue("Calendar/*", "read", time.Hour, ""), `"Calendar/*" is not a valid path or pattern: paths are lowercase`, capability.ErrBadPattern)
	testkit.Sentence(t, "unknown action", issue("calendar/*", "read,fly", time.Hour, ""), `"fly" is not an action`, capability.ErrMalformed)
	testkit.Sentence(t, "too long", issue("calendar/*", "read", 9999*time.Hour, ""), "too long: at most 366d")
	testkit.Sentence(t, "bad parent", issue("calendar/*", "read", time.Hour, "ocmt1.!!!!"), `'!' at position 7 cannot be in a token`, capability.ErrMalformed)
	testkit.Sentence(t, "cut parent", issue("calendar/*", "read", time.Hour, "ocmt1.QUJD"), "cut short or was changed", capability.ErrMalformed)
	testkit.Sentence(t, "not a token", issue("calendar/*", "read", time.Hour, "hello"), `a token starts with "ocmt1."`, capability.ErrMalformed)
	testkit.Sentence(t, "bad handle", o.SetHandle(ctx, "Bob!"), `"Bob!" is not a valid handle`, wire.BadRequest)
	testkit.Sentence(t, "empty segment", o.PutResource(ctx, "notes//x", []byte("x")), "empty segment")
	testkit.Sentence(t, "wildcard path", o.PutResource(ctx, "notes/*", []byte("x")), "only a share pattern")
	testkit.Sentence(t, "too large", o.PutResource(ctx, "notes/x", make([]byte, MaxResource+1)), "a resource holds at most 64 MiB", vault.ErrTooLarge)
}
