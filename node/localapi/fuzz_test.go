package localapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ocmt/mesh/vault"
)

// bodyTypes are every JSON request body the server decodes, each with the
// limit its route reads it with.
func bodyTypes() []struct {
	v   func() any
	max int64
} {
	return []struct {
		v   func() any
		max int64
	}{
		{func() any { return &passwordBody{} }, maxSmallBody},  // /v1/unlock, /v1/password
		{func() any { return &vault.Secret{} }, maxSecretBody}, // /v1/secret
		{func() any { return &ShareRequest{} }, maxSmallBody},  // /v1/share
		{func() any { return &TokenRequest{} }, maxSmallBody},  // /v1/token
		{func() any { return &tokenBody{} }, maxSmallBody},     // /v1/tokens/accept, /v1/revoke
		{func() any { return &[]string{} }, maxSmallBody},      // /v1/revoked
	}
}

// FuzzRequestBodies runs every JSON request body the server decodes through
// its decoder: bounded, strict (unknown fields refused), one JSON value and
// nothing after it, never a panic. A body readJSON accepts is one that
// encoding/json's Unmarshal, which refuses trailing data, also accepts.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"password":"cHc="}`,
		`{"name":"k","type":"api_key","value":"dg=="}`,
		`{"path":"calendar/*","with":"bob","can":"read","valid_for":3600000000000}`,
		`{"audience":"12D3KooW","resource":"a/*","actions":"read","valid_for":1}`,
		`{"token":"ocmt1.x"}`,
		`["` + strings.Repeat("ab", 32) + `"]`,
		`{"unknown":1}`,
		`{"password":"cHc="}{"password":"cHc="}`,
		`["a"]["b"]`,
		`{"token":"a"} x`,
		"{\"token\":\"a\"}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, bt := range bodyTypes() {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/", bytes.NewReader(b))
			ok := readJSON(w, r, bt.max, bt.v())
			if !ok && w.Code != 400 && w.Code != 413 {
				t.Fatalf("refused body answered %d, want 400 or 413", w.Code)
			}
			if ok {
				if err := json.Unmarshal(b, bt.v()); err != nil {
					t.Fatalf("readJSON accepted %q, which is not one JSON value: %v", b, err)
				}
			}
		}
	})
}

// TestListenRefusesASocketPathTooLong: a home folder too deep for a unix
// socket gets an error that says so, not "bind: invalid argument".
func TestListenRefusesASocketPathTooLong(t *testing.T) {
	path := t.TempDir() + "/" + strings.Repeat("d", 120) + "/api.sock"
	if _, err := Listen(path, nil, nil); err == nil || !strings.Contains(err.Error(), "shorter home folder") {
		t.Fatalf("Listen on a %d-byte path: %v", len(path), err)
	}
}
