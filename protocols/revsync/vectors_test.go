package revsync

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// pushVector is one batch-push request body the server judges, or one
// PushReply body the client checks (testdata/README.md).
type pushVector struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // request or reply
	Hex     string `json:"hex"`
	Records int    `json:"records,omitempty"` // reply: records pushed
	Want    string `json:"want"`
}

// vectorRecords are the records of the vectors: three revocations by
// "owner" of tokens to itself, valid for an hour around testNow (the
// server's set holds the first), and a fourth of a token that expired an
// hour before testNow.
func vectorRecords(t testing.TB) [][]byte {
	owner := testkit.Key(t, "owner")
	var out [][]byte
	for i := range 4 {
		nbf, exp := testNow.Add(-time.Hour), testNow.Add(time.Hour)
		if i == 3 {
			nbf, exp = testNow.Add(-3*time.Hour), testNow.Add(-time.Hour)
		}
		tok, err := capability.Issue(owner, capability.Params{Audience: owner.ID(), Resource: "calendar/**", Actions: capability.Read,
			NotBefore: nbf, Expiry: exp, Rand: testkit.NewRand("revsync vector " + string(rune('a'+i)))})
		if err != nil {
			t.Fatal(err)
		}
		rev, err := revocation.New(owner, tok, testNow)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rev.Bytes())
	}
	return out
}

func buildPushVectors(t testing.TB) []pushVector {
	recs := vectorRecords(t)
	enc := func(v any) string {
		b, err := wire.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	req := func(name string, r Request, want string) pushVector {
		return pushVector{Name: name, Kind: "request", Hex: enc(r), Want: want}
	}
	rep := func(name, h string, n int, want string) pushVector {
		return pushVector{Name: name, Kind: "reply", Hex: strings.ReplaceAll(h, " ", ""), Records: n, Want: want}
	}
	forged := append([]byte(nil), recs[2]...)
	forged[len(forged)-1] ^= 1
	seventeen := make([][]byte, MaxPushRecords+1)
	for i := range seventeen {
		seventeen[i] = recs[1]
	}
	return []pushVector{
		req("two new records", Request{Records: recs[1:3]}, "Added,Added"),
		req("a held record, then a new one", Request{Records: recs[0:2]}, "Held,Added"),
		req("bytes that are not a record end the batch", Request{Records: [][]byte{{0xa0}, recs[1]}}, "Invalid,Skipped"),
		req("a forged signature ends the batch", Request{Records: [][]byte{recs[1], forged, recs[1]}}, "Added,Invalid,Skipped"),
		req("MaxPushRecords copies of one record", Request{Records: seventeen[:MaxPushRecords]}, "Added"+strings.Repeat(",Held", MaxPushRecords-1)),
		req("MaxPushRecords + 1 records", Request{Records: seventeen}, "BadRequest"),
		req("a batch with a cursor", Request{Since: 1, Records: recs[1:2]}, "BadRequest"),
		req("a batch with a single push", Request{Push: recs[1], Records: recs[1:2]}, "BadRequest"),
		{Name: "an empty batch (an explicit empty optional field)", Kind: "request", Hex: "a201000480", Want: "BadRequest"},
		req("a record of a token that expired an hour ago, then a new one", Request{Records: [][]byte{recs[3], recs[1]}}, "Expired,Added"),
		rep("one result per record", "a1 01 43 00 01 06", 3, "ok"),
		rep("every result", "a1 01 48 00 01 02 03 04 05 06 07", 8, "ok"),
		rep("a result of 8", "a1 01 41 08", 1, "ErrBadServer"),
		rep("fewer results than records", "a1 01 41 00", 2, "ErrBadServer"),
		rep("more results than records", "a1 01 42 00 00", 1, "ErrBadServer"),
		rep("results as an array", "a1 01 81 00", 1, "malformed"),
		rep("no results", "a0", 1, "malformed"),
	}
}

// vectorServer is a server over a fresh set holding the first vector
// record, with the default Accept and budgets that never run out.
func vectorServer(t *testing.T, recs [][]byte) *Server {
	set, err := revocation.Open(context.Background(), revocation.Config{Clock: func() time.Time { return testNow }, CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	r, err := revocation.Parse(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Add(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	accept := func(ctx context.Context, _ peer.ID, r *revocation.Revocation) error {
		_, err := set.Add(ctx, r)
		return err
	}
	return &Server{set: set, cfg: ServerConfig{PageSize: MaxRecordsPerReply, Accept: accept, Logger: slog.New(slog.DiscardHandler)},
		limiter: peerlimit.New(1e9, 1<<30, 0, nil), pushes: rate.NewLimiter(rate.Inf, 1)}
}

// TestPushVectors: the committed batch-push vectors get the results and
// refusals they list, each request on a fresh server.
func TestPushVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/push.json", *update, func() []pushVector { return buildPushVectors(t) })
	recs := vectorRecords(t)
	for _, v := range vs {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		got := ""
		switch v.Kind {
		case "request":
			resp, err := vectorServer(t, recs).serve(context.Background(), peer.ID("vector"), b)
			var we *wire.Error
			switch {
			case errors.As(err, &we):
				got = statusName(we.Status)
			case err != nil:
				got = err.Error()
			default:
				var names []string
				for _, r := range resp.(PushReply).Results {
					names = append(names, r.String())
				}
				got = strings.Join(names, ",")
			}
		case "reply":
			var rep PushReply
			switch {
			case wire.UnmarshalCanonical(b, &rep) != nil:
				got = "malformed"
			case errors.Is(rep.check(v.Records), ErrBadServer):
				got = "ErrBadServer"
			default:
				got = "ok"
			}
		}
		if got != v.Want {
			t.Errorf("%s: got %s, want %s", v.Name, got, v.Want)
		}
	}
}

// statusName writes a status as the vectors do: "bad request" as
// BadRequest.
func statusName(st wire.Status) string {
	var b strings.Builder
	for w := range strings.FieldsSeq(st.String()) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}
