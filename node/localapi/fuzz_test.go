package localapi

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ocmt/mesh/vault"
)

// FuzzRequestBodies runs every JSON request body the server decodes through
// its decoder: bounded, strict (unknown fields refused), never a panic.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"password":"cHc="}`,
		`{"name":"k","type":"api_key","value":"dg=="}`,
		`{"path":"calendar/*","with":"bob","can":"read","valid_for":3600000000000}`,
		`{"audience":"12D3KooW","resource":"a/*","actions":"read","valid_for":1}`,
		`{"token":"ocmt1.x"}`,
		`{"unknown":1}`,
		`{"password":"cHc="}{"password":"cHc="}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&passwordBody{}, &vault.Secret{}, &ShareRequest{}, &TokenRequest{}, &tokenBody{}} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/", bytes.NewReader(b))
			if !readJSON(w, r, maxSmallBody, v) && w.Code != 400 {
				t.Fatalf("refused body answered %d, want 400", w.Code)
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
