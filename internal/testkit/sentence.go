package testkit

import (
	"errors"
	"strings"
	"testing"
)

// Internals are fragments of package-level error texts (hex, package
// prefixes, encodings, the path grammar, transport details) that a user
// must never read in an error.
var Internals = []string{"0x", "capability:", "wire:", "cbor", "base64", "[a-z0-9._-]", "dial", "/ip4/", "/p2p/", "segment 1", "envelope"}

// Sentence checks that err, returned for what, is a sentence for a user:
// it says want, shows none of Internals, and still matches each of is
// with errors.Is.
func Sentence(t testing.TB, what string, err error, want string, is ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("%s: %q, want it to say %q", what, msg, want)
	}
	for _, bad := range Internals {
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
