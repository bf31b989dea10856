package capwire

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// moreVectors are the vectors added with the complete doc.go: one per
// rule of the detail table that the first set did not show.
func moreVectors(t testing.TB, id capability.ID, by peer.ID, full revokedWire) []vector {
	enc := func(w revokedWire) string {
		b, err := wire.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	with := func(f func(*revokedWire)) revokedWire { w := full; f(&w); return w }
	raw := func(name, h string) vector { return vector{Name: name, Hex: strings.ReplaceAll(h, " ", "")} }
	tok := "5820" + hex.EncodeToString(id[:])
	small := append([]byte(nil), by[:6]...)
	small = append(small, 1)
	small = append(small, make([]byte, 31)...)
	nonCanon := append([]byte(nil), by[:6]...)
	nonCanon = append(nonCanon, 0xee)
	for range 30 {
		nonCanon = append(nonCanon, 0xff)
	}
	nonCanon = append(nonCanon, 0x7f)
	rsa := append([]byte{0x12, 0x20}, make([]byte, 32)...)
	wrongPrefix := append([]byte{0x00, 0x24, 0x08, 0x02, 0x12, 0x20}, []byte(by)[6:]...)
	return []vector{
		{Name: "the earliest time, 1", Hex: enc(with(func(w *revokedWire) { w.At = 1 })), Valid: true,
			Token: hex.EncodeToString(id[:]), Link: 2, Of: 3, By: by.String(), At: 1},
		{Name: "a time far in the future (2^62)", Hex: enc(with(func(w *revokedWire) { w.At = 1 << 62 })), Valid: true,
			Token: hex.EncodeToString(id[:]), Link: 2, Of: 3, By: by.String(), At: 1 << 62},
		{Name: "time known, revoker unknown", Hex: enc(with(func(w *revokedWire) { w.By = nil })), Valid: true,
			Token: hex.EncodeToString(id[:]), Link: 2, Of: 3, At: full.At},
		raw("time present and zero", "a4 01"+tok+" 0201 0301 0500"),
		raw("time of 2^63, over int", "a4 01"+tok+" 0201 0301 051b8000000000000000"),
		raw("a negative time written as major type 1", "a4 01"+tok+" 0201 0301 0520"),
		raw("chain length zero", "a3 01"+tok+" 0201 0300"),
		raw("link missing", "a2 01"+tok+" 0301"),
		raw("chain length missing", "a2 01"+tok+" 0201"),
		raw("token missing", "a2 0201 0301"),
		raw("token as text", "a3 0161"+"61 0201 0301"),
		raw("token as null", "a3 01f6 0201 0301"),
		raw("a link as a negative integer", "a3 01"+tok+" 0220 0301"),
		raw("an array, not a map", "83 "+tok+" 01 01"),
		raw("keys out of order", "a3 0201 01"+tok+" 0301"),
		{Name: "revoker with a small-order key", Hex: enc(with(func(w *revokedWire) { w.By = small }))},
		{Name: "revoker with a non-canonical key (y ≥ p)", Hex: enc(with(func(w *revokedWire) { w.By = nonCanon }))},
		{Name: "revoker as a SHA-256 multihash peer ID", Hex: enc(with(func(w *revokedWire) { w.By = rsa }))},
		{Name: "revoker with another key type (secp256k1's protobuf prefix)", Hex: enc(with(func(w *revokedWire) { w.By = wrongPrefix }))},
		{Name: "token of 33 bytes", Hex: enc(with(func(w *revokedWire) { w.Token = append(w.Token[:32:32], 0) }))},
		{Name: "link 5 of 5", Hex: enc(with(func(w *revokedWire) { w.Link, w.Of = 5, 5 }))},
	}
}

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	testkit.DocNumbers(t, map[string]int64{
		"TokenIDLen":     int64(len(capability.ID{})),
		"MaxDepth":       capability.MaxDepth,
		"MaxPeerIDBytes": MaxPeerIDBytes,
		"PeerIDLen":      int64(keys.PeerIDLen),
		"MaxDetail":      exchange.MaxDetail,
		"MaxSkew":        testkit.Seconds(capability.MaxSkew),
		"maxUnix":        maxUnix,
	})
}

// TestDocTableIsTheTable: doc.go's Statuses table lists every row of the
// code's table, with its status, in capability.ErrorName's precedence.
func TestDocTableIsTheTable(t *testing.T) {
	doc := testkit.SpecDoc(t)
	_, sec, _ := strings.Cut(doc, "\n# Statuses\n")
	sec, _, _ = strings.Cut(sec, "\n# ")
	rows := regexp.MustCompile(`(?m)^\t(Err\w+)\s+(\w+)$`).FindAllStringSubmatch(sec, -1)
	if len(rows) != len(table) {
		t.Fatalf("doc.go has %d rows, the table %d", len(rows), len(table))
	}
	byName := map[string]row{}
	for _, r := range table {
		byName[capability.ErrorName(r.err)] = r
	}
	for i, r := range rows {
		code, ok := byName[r[1]]
		if !ok {
			t.Errorf("doc.go names %s, which the table does not", r[1])
			continue
		}
		if code.status.Name() != r[2] {
			t.Errorf("doc.go maps %s to %s; the table to %s", r[1], r[2], code.status.Name())
		}
		if i > 0 {
			prev := byName[rows[i-1][1]]
			if both := fmt.Errorf("%w %w", code.err, prev.err); capability.ErrorName(both) != rows[i-1][1] {
				t.Errorf("doc.go lists %s before %s, but ErrorName prefers %s", rows[i-1][1], r[1], capability.ErrorName(both))
			}
		}
	}
}

// TestIndependentDecoderAgrees runs specs/capwire/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/capwire/check.py") }
