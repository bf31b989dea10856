package revocation

import (
	"encoding/base64"
	"flag"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata/records.json from the case table")

const vectorsFile = "testdata/records.json"

// vector is one committed record: its exact bytes and the expected outcome
// of Parse ("ok" or a sentinel name).
type vector struct {
	Name   string `json:"name"`
	Record string `json:"record"` // base64 (standard, padded)
	Want   string `json:"want"`
}

func buildVectors(t testing.TB) []vector {
	t.Helper()
	c := newCast(t)
	var out []vector
	for _, rc := range recordCases() {
		out = append(out, vector{Name: rc.name, Record: base64.StdEncoding.EncodeToString(rc.build(t, c)), Want: rc.want})
	}
	return out
}

func readVectors(t testing.TB) []vector { return testkit.ReadVectors[vector](t, vectorsFile) }

// TestCommittedVectors checks testdata/records.json: each record parses as
// recorded, and the file is what the case table generates (run
// `go test ./capability/revocation -run TestCommittedVectors -update` after
// a format change).
func TestCommittedVectors(t *testing.T) {
	vs := testkit.Vectors(t, vectorsFile, *update, func() []vector { return buildVectors(t) })
	if len(vs) < 20 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(v.Record)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(raw)
			if got := errorName(err); got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
		})
	}
}
