package words

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/vault"
)

// TestWordsKeepTheErrorTheyExplain: each worded error reads as a
// sentence for people, without the programs' wording it replaces, and
// errors.Is still sees the error it explains.
func TestWordsKeepTheErrorTheyExplain(t *testing.T) {
	_, patternErr := capability.ParsePattern("Calendar/*")
	_, pathErr := capability.ParsePath("notes/*")
	_, actErr := capability.ParseActions("read,fly")
	_, handleErr := directory.ParseHandle("Bob!")
	for _, c := range []struct {
		err  error
		is   error
		want string
	}{
		{BadPath("Calendar/*", patternErr, true), capability.ErrBadPattern, `"Calendar/*" is not a valid path or pattern: paths are lowercase`},
		{BadPath("notes/*", pathErr, false), pathErr, "only a share pattern may hold * or **"},
		{BadActions("read,fly", actErr, capability.Read|capability.List), actErr, `"fly" is not an action: give some of read and list`},
		{BadLifetime(9999*time.Hour, errors.New("x")), nil, "too long: at most 366d"},
		{BadToken("the token", "ocmt1.!!!!", capability.ErrMalformed), capability.ErrMalformed, `'!' at position 7 cannot be in a token`},
		{BadToken("the token", "ocmt1.QUJD", capability.ErrExpired), capability.ErrExpired, "the token is not valid: it has expired"},
		{BadHandle("Bob!", handleErr), handleErr, `"Bob!" is not a valid handle`},
		{NotFound(vault.ErrNotFound, "secret", "db", "mesh secret list"), vault.ErrNotFound, `there is no secret "db" (see mesh secret list)`},
		{CheckListen([]string{"0.0.0.0:4001"}), nil, "want a multiaddr such as /ip4/0.0.0.0/tcp/4001"},
	} {
		msg := c.err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%q, want it to say %q", msg, c.want)
		}
		for _, bad := range []string{"capability:", "0x", "[a-z0-9._-]", "segment 1"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%q shows %q", msg, bad)
			}
		}
		if c.is != nil && !errors.Is(c.err, c.is) {
			t.Errorf("%q does not match %v", msg, c.is)
		}
	}
	if _, err := PeerAddrs("relay", []string{"/ip4/10.0.0.2/tcp/4001"}); err == nil || !strings.Contains(err.Error(), "ending in /p2p/PEERID") {
		t.Errorf("a relay address without a peer ID: %v", err)
	}
	if err := NotFound(vault.ErrLocked, "secret", "db", "mesh secret list"); err != vault.ErrLocked {
		t.Errorf("NotFound changed another error: %v", err)
	}
}

// TestReachAndRefusalWords: why the directory or an owner did not help,
// in words.
func TestReachAndRefusalWords(t *testing.T) {
	for err, want := range map[error]string{
		meshnet.ErrNoBootstrap:   "no bootstrap peer",
		wire.RateLimited:         "slow down",
		context.DeadlineExceeded: "did not answer in time",
		errors.New("dial"):       "unreachable right now",
	} {
		if got := ReachProblem(err); !strings.Contains(got, want) {
			t.Errorf("ReachProblem(%v) = %q, want it to say %q", err, got, want)
		}
	}
	for msg, want := range map[string]string{
		"token: ErrWrongAudience": "the share was made for another node",
		"token: ErrNotPermitted":  "the share does not allow that",
		"token: ErrExpired: at x": "the share has expired",
		"too many requests":       "the share does not allow that",
	} {
		if got := Refusal(msg); got != want {
			t.Errorf("Refusal(%q) = %q, want %q", msg, got, want)
		}
	}
	if ActionList(capability.Read|capability.List|capability.Write) != "read, list and write" {
		t.Errorf("ActionList = %q", ActionList(capability.Read|capability.List|capability.Write))
	}
}
