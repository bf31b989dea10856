package broker

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

// A provider that sends its headers, then stalls the body, is given up at
// the call's timeout; one that sends the key in pieces, flushing between
// them, is redacted whole; one that sends enormous headers is refused.
func TestHostileProviders(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		k := sentKey(req)
		fl := w.(http.Flusher)
		switch req.URL.Path {
		case "/v1/stall":
			w.WriteHeader(200)
			fmt.Fprint(w, "partial")
			fl.Flush()
			select {
			case <-release:
			case <-req.Context().Done():
			}
		case "/v1/pieces":
			for i := 0; i < len(k); i += 3 {
				fmt.Fprint(w, k[i:min(i+3, len(k))])
				fl.Flush()
			}
		case "/v1/headers":
			w.Header().Set("X-Big", strings.Repeat("h", 100<<10))
			fmt.Fprint(w, k)
		}
	}, nil)
	// The stall on a broker of its own with a short timeout: the other
	// cases keep the rig's 10 s, however loaded the machine.
	short, err := New(Config{Secret: r.s.get, AllowLoopbackHTTP: true, Endpoints: map[string][]string{"openai": {r.p.srv.URL}}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	_, err = short.Do(testkit.Context(t, 10*time.Second), Request{Secret: "openai", URL: r.p.srv.URL + "/v1/stall"})
	testkit.Sentence(t, "a stalled body", err, "did not answer within 300ms", ErrUnreachable)
	resp, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/pieces"})
	if err != nil || string(resp.Body) != Redacted {
		t.Fatalf("a key sent in pieces reached the agent as %q (%v)", shown(resp), err)
	}
	_, err = r.do(t, Request{URL: r.p.srv.URL + "/v1/headers"})
	testkit.Sentence(t, "enormous headers", err, "failed before the answer was read", ErrUnreachable)
	if l := leaks(r.log.String(), testKey); len(l) > 0 {
		t.Fatalf("the log holds %q", l)
	}
}

// Two agents' secrets never mix: each call injects the named secret only,
// and a secret's allowlist does not open another's.
func TestSecretsKeepToTheirOwnAllowlists(t *testing.T) {
	a, b := newProvider(t, nil), newProvider(t, nil)
	ss := newSecrets(apiKey("a", "", "sk-aaaaaaaaaa"), apiKey("b", "", "sk-bbbbbbbbbb"))
	br, err := New(Config{Secret: ss.get, AllowLoopbackHTTP: true, Endpoints: map[string][]string{"a": {a.srv.URL}, "b": {b.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ctx := testkit.Context(t, 10*time.Second)
	_, err = br.Do(ctx, Request{Secret: "a", URL: b.srv.URL + "/x"})
	testkit.Sentence(t, "secret a to b's host", err, `outside secret "a"'s allowlist`, ErrRefused)
	if _, err := br.Do(ctx, Request{Secret: "b", URL: b.srv.URL + "/x"}); err != nil {
		t.Fatal(err)
	}
	if b.last().Get("Authorization") != "Bearer sk-bbbbbbbbbb" || a.calls() != 0 || b.calls() != 1 {
		t.Fatalf("b got %q; a got %d calls", b.last().Get("Authorization"), a.calls())
	}
}
