package wakehook

import (
	"slices"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// quote writes a word back in the template syntax: single quotes, with a
// single quote itself written as '\” .
func quote(w string) string { return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'" }

// FuzzParseTemplate: a template either is refused as ErrBadTemplate or
// gives words within the caps whose quoted forms parse back to the same
// words, and expanding them never changes how many there are.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"mesh node --home /homes/{handle}", `p 'a b' "c \"d\"" e\ f`, `p a'b'"c" '' {peer}`, "p {hadle}", `p "x`, "p \\"} {
		f.Add(s)
	}
	id := testkit.Key(f, "alice").ID()
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := ParseTemplate(s)
		if err != nil {
			return
		}
		args := tpl.Args()
		if len(args) == 0 || len(args) > MaxArgs || args[0] == "" || strings.Contains(args[0], "{handle}") || strings.Contains(args[0], "{peer}") {
			t.Fatalf("accepted %q as %q", s, args)
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = quote(a)
		}
		again, err := ParseTemplate(strings.Join(quoted, " "))
		if err != nil && len(strings.Join(quoted, " ")) <= MaxTemplateBytes {
			t.Fatalf("the quoted words of %q do not parse: %v", s, err)
		}
		if err == nil && !slices.Equal(again.Args(), args) {
			t.Fatalf("%q: %q, then %q", s, args, again.Args())
		}
		out, err := tpl.Expand(Target{Handle: "al-ice", Peer: id})
		if err != nil || len(out) != len(args) || out[0] != args[0] {
			t.Fatalf("expanding %q: %q %v", s, out, err)
		}
	})
}

// FuzzVerifyWebhook: any header value is refused or verifies, never
// panics; only the real signature verifies.
func FuzzVerifyWebhook(f *testing.F) {
	relay := testkit.Key(f, "relay")
	f.Add([]byte(`{"handle":"alice"}`), "AAAA")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		if VerifyWebhook(relay.ID(), body, sig) == nil {
			t.Fatalf("a made-up signature %q verified", sig)
		}
	})
}
