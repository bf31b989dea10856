package capability

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the case table")

const vectorsFile = "testdata/vectors.json"

// vector is one committed test vector: a token (its text, or its envelope
// bytes in hex), the request and environment it is verified in, and the
// expected outcome ("ok" or a sentinel name from ErrorName). The format is
// documented in testdata/README.md.
type vector struct {
	Name     string   `json:"name"`
	Token    string   `json:"token,omitempty"`    // the text form; or
	Envelope string   `json:"envelope,omitempty"` // the envelope bytes, hex
	Remote   string   `json:"remote"`
	Owner    string   `json:"owner"`
	Resource string   `json:"resource"`
	Action   string   `json:"action"`
	Now      int64    `json:"now"`               // unix seconds
	Revoked  []string `json:"revoked,omitempty"` // token IDs, hex
	Uses     int      `json:"uses"`              // verifications; all but the last must succeed
	Want     string   `json:"want"`
}

// run verifies v in a fresh verifier and returns the last outcome's name.
func (v vector) run(t *testing.T) string {
	t.Helper()
	if (v.Token == "") == (v.Envelope == "") {
		t.Fatal("a vector has a token text or envelope bytes, and not both")
	}
	var tok *Token
	if v.Envelope != "" {
		raw, err := hex.DecodeString(v.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err = Decode(raw); err != nil {
			return ErrorName(err)
		}
		if !bytes.Equal(tok.Bytes(), raw) {
			t.Fatalf("decoded token does not re-encode to the same bytes")
		}
	} else {
		var err error
		if tok, err = Parse(v.Token); err != nil {
			return ErrorName(err)
		}
		if again := tok.String(); again != v.Token {
			t.Fatalf("parsed token does not re-encode to the same text")
		}
	}
	revs := NewMemoryRevocations()
	for _, h := range v.Revoked {
		id, err := ParseID(h)
		if err != nil {
			t.Fatal(err)
		}
		revs.Revoke(id)
	}
	remote, err := peer.Decode(v.Remote)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := peer.Decode(v.Owner)
	if err != nil {
		t.Fatal(err)
	}
	act, err := ParseActions(v.Action)
	if err != nil {
		t.Fatal(err)
	}
	ver := NewVerifier(Config{Clock: testkit.NewClock(time.Unix(v.Now, 0)).Now, Revocations: revs})
	req := Request{Remote: remote, Owner: owner, Resource: ResourcePath(v.Resource), Action: act}
	uses := max(v.Uses, 1)
	for i := 1; i < uses; i++ {
		if _, err := ver.Verify(context.Background(), tok, req); err != nil {
			t.Fatalf("use %d of %d failed early: %v", i, uses, err)
		}
	}
	vd, err := ver.Verify(context.Background(), tok, req)
	if err != nil {
		return ErrorName(err)
	}
	if vd.Owner != owner || vd.Holder != remote || vd.Token != tok || len(vd.Chain) != tok.Depth() {
		t.Fatalf("Verified does not describe the request: %+v", vd)
	}
	return "ok"
}

func buildVectors(t *testing.T) []vector {
	t.Helper()
	c := newCast(t)
	var out []vector
	seen := map[string]bool{}
	for _, vc := range vectorCases() {
		if seen[vc.name] {
			t.Fatalf("two vectors are named %q", vc.name)
		}
		seen[vc.name] = true
		v := vc.build(t, c)
		v.Name, v.Want = vc.name, vc.want
		out = append(out, v)
	}
	return out
}

// TestVectorsVerifyAsExpected runs the case table directly.
func TestVectorsVerifyAsExpected(t *testing.T) {
	vs := buildVectors(t)
	if len(vs) < 30 {
		t.Fatalf("only %d cases", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			if got := v.run(t); got != v.Want {
				t.Fatalf("got %s, want %s", got, v.Want)
			}
		})
	}
}

// TestCommittedVectors checks the committed file: each vector verifies as
// recorded, and the file is what the case table generates (run
// `go test ./capability -run TestCommittedVectors -update` after a format change).
func TestCommittedVectors(t *testing.T) {
	vs := testkit.Vectors(t, vectorsFile, *update, func() []vector { return buildVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			if got := v.run(t); got != v.Want {
				t.Fatalf("got %s, want %s", got, v.Want)
			}
		})
	}
}

// textOf renders raw envelope bytes without decoding them.
func textOf(raw []byte) string { return TextPrefix + base64.RawURLEncoding.EncodeToString(raw) }
