package wakehook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

type received struct {
	body []byte
	hdr  http.Header
}

func TestWebhookPostsASignedRequest(t *testing.T) {
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
		got <- received{b, r.Header.Clone()}
	}))
	defer srv.Close()
	relay := testkit.Key(t, "relay")
	clock := testkit.NewClock(testkit.Epoch)
	w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/wake?secret=s3cr3t", Key: relay.Libp2pPrivKey(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	alice := testkit.Key(t, "alice").ID()
	if err := w.Wake(context.Background(), Target{Handle: "alice", Peer: alice}); err != nil {
		t.Fatal(err)
	}
	r := testkit.Within(t, 10*time.Second, got, "the orchestrator to be called")
	var body WebhookBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	want := WebhookBody{Handle: "alice", Peer: alice.String(), Relay: relay.ID().String(), Time: testkit.Epoch.Unix()}
	if body != want {
		t.Fatalf("body %+v, want %+v", body, want)
	}
	if r.hdr.Get(RelayHeader) != relay.ID().String() {
		t.Errorf("relay header %q", r.hdr.Get(RelayHeader))
	}
	sig := r.hdr.Get(SignatureHeader)
	if err := VerifyWebhook(relay.ID(), r.body, sig); err != nil {
		t.Fatalf("the signature does not verify: %v", err)
	}
	// The signature covers the label and the exact body, and only the
	// relay's key makes it.
	if err := VerifyWebhook(testkit.Key(t, "mallory").ID(), r.body, sig); !errors.Is(err, ErrBadWebhookSignature) {
		t.Errorf("another relay's ID: %v", err)
	}
	tampered := []byte(strings.Replace(string(r.body), "alice", "alicf", 1))
	if err := VerifyWebhook(relay.ID(), tampered, sig); !errors.Is(err, ErrBadWebhookSignature) {
		t.Errorf("a changed body: %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(sig)
	if ok, _ := relay.Libp2pPrivKey().GetPublic().Verify(r.body, raw); ok {
		t.Error("the signature verifies over the bare body: it carries no domain label")
	}
	for _, bad := range []string{"", "!!", base64.StdEncoding.EncodeToString(raw[:63])} {
		if err := VerifyWebhook(relay.ID(), r.body, bad); !errors.Is(err, ErrBadWebhookSignature) {
			t.Errorf("signature %q: %v", bad, err)
		}
	}
}

func TestWebhookFailuresAreWordedAndKeepTheURLsSecret(t *testing.T) {
	relay := testkit.Key(t, "relay").Libp2pPrivKey()
	alice := Target{Handle: "alice", Peer: testkit.Key(t, "alice").ID()}
	status := func(code int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
	}
	for _, c := range []struct {
		code int
		want string
	}{{503, "answered 503 Service Unavailable"}, {404, "answered 404 Not Found"}, {302, "answered 302 Found"}} {
		srv := status(c.code)
		w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/x?token=s3cr3t", Key: relay})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Wake(context.Background(), alice)
		srv.Close()
		if !errors.Is(err, ErrWebhookRefused) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%d: %v", c.code, err)
		}
	}
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer hung.Close()
	defer close(release)
	w, err := NewWebhook(WebhookConfig{URL: hung.URL + "/?token=s3cr3t", Key: relay, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Wake(context.Background(), alice)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a hung orchestrator: %v", err)
	}
	gone := status(200)
	gone.Close()
	w, _ = NewWebhook(WebhookConfig{URL: gone.URL, Key: relay})
	if err := w.Wake(context.Background(), alice); err == nil || !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("an orchestrator that is down: %v", err)
	}
	if err := w.Wake(context.Background(), Target{Handle: "A", Peer: alice.Peer}); !errors.Is(err, ErrBadTarget) {
		t.Errorf("a bad target: %v", err)
	}
	for _, u := range []string{"", "ftp://x/", "/relative", "http://"} {
		if _, err := NewWebhook(WebhookConfig{URL: u, Key: relay}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	if _, err := NewWebhook(WebhookConfig{URL: "https://o.example/"}); err == nil {
		t.Error("no key accepted")
	}
}
