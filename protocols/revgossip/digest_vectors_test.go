package revgossip

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/revsync"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// digestVector is one digest message's data (testdata/README.md).
type digestVector struct {
	Name   string   `json:"name"`
	Hex    string   `json:"hex"`
	Want   string   `json:"want"`              // ok or ErrBadDigest
	Has    []string `json:"has,omitempty"`     // IDs the filter has (ok vectors)
	HasNot []string `json:"has_not,omitempty"` // IDs it has not
}

// vectorID is the i-th ID of the vectors: SHA-256 of "digest vector id i".
func vectorID(i int) capability.ID {
	return sha256.Sum256([]byte("digest vector id " + string(rune('a'+i))))
}

func buildDigestVectors(t testing.TB) []digestVector {
	epoch := [8]byte{0x0e, 0x90, 0xc8, 1, 2, 3, 4, 5}
	enc := func(d *Digest) string {
		b, err := wire.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	mk := func(head, count, from uint64, n int) *Digest {
		ids := make([]capability.ID, n)
		for i := range ids {
			ids[i] = vectorID(i)
		}
		d, err := newDigest(epoch, head, count, from, ids, testkit.NewRand("digest vector salt"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	hexIDs := func(lo, hi int) []string {
		var out []string
		for i := lo; i < hi; i++ {
			id := vectorID(i)
			out = append(out, hex.EncodeToString(id[:]))
		}
		return out
	}
	ok := func(name string, d *Digest, n int) digestVector {
		v := digestVector{Name: name, Hex: enc(d), Want: "ok", Has: hexIDs(0, n)}
		for i := n; len(v.HasNot) < 3 && i < 26; i++ { // IDs the filter has not (some others are false positives)
			if !d.Has(vectorID(i)) {
				v.HasNot = append(v.HasNot, hexIDs(i, i+1)...)
			}
		}
		return v
	}
	bad := func(name, h string) digestVector {
		return digestVector{Name: name, Hex: strings.ReplaceAll(h, " ", ""), Want: "ErrBadDigest"}
	}
	with := func(f func(d *Digest)) string {
		d := mk(120, 500, 117, 3)
		f(d)
		return enc(d)
	}
	three := mk(120, 500, 117, 3)
	return []digestVector{
		ok("an empty window", mk(7, 7, 7, 0), 0),
		ok("a window of three IDs", three, 3),
		ok("a window of one ID, the whole set", mk(1, 1, 0, 1), 1),
		bad("an epoch of 7 bytes", with(func(d *Digest) { d.Epoch = d.Epoch[:7] })),
		bad("a window that starts past the head", enc(&Digest{Epoch: epoch[:], Head: 5, Count: 5, From: 6})),
		bad("more IDs than versions in the window", with(func(d *Digest) { d.From = 118 })),
		bad("more IDs than entries", with(func(d *Digest) { d.Count = 2 })),
		bad("MaxDigestIDs + 1 IDs", with(func(d *Digest) { d.IDs, d.From, d.Count = MaxDigestIDs+1, 0, 1<<20; d.Head = 1 << 20 })),
		bad("an empty window with a filter", with(func(d *Digest) { d.IDs, d.From = 0, 120 })),
		bad("no hash function", with(func(d *Digest) { d.Hashes = 0 })),
		bad("MaxDigestHashes + 1 hash functions", with(func(d *Digest) { d.Hashes = MaxDigestHashes + 1 })),
		bad("a salt of 7 bytes", with(func(d *Digest) { d.Salt = d.Salt[:7] })),
		bad("IDs and no filter", with(func(d *Digest) { d.Filter = nil })),
		bad("a filter of 12 bytes", with(func(d *Digest) { d.Filter = make([]byte, 12) })),
		bad("a filter of MaxDigestFilterBytes + 8 bytes", with(func(d *Digest) { d.Filter = make([]byte, MaxDigestFilterBytes+8) })),
		bad("an explicit hashes 0 in an empty window", "a6 0148"+hex.EncodeToString(epoch[:])+" 0207 0307 0407 0500 0600"),
		bad("an unknown field 9", strings.TrimPrefix(enc(mk(7, 7, 7, 0)), "a5")+"0901"),
		bad("a head with a non-shortest encoding", "a5 0148"+hex.EncodeToString(epoch[:])+" 021807 0307 0407 0500"),
		bad("no head", "a4 0148"+hex.EncodeToString(epoch[:])+" 0307 0407 0500"),
		bad("a byte after the digest", enc(mk(7, 7, 7, 0))+"00"),
		bad("data over MaxDigestBytes", strings.Repeat("00", MaxDigestBytes+1)),
	}
}

// TestDigestVectors: the committed digest vectors decode as they say, and
// each ok vector's filter has exactly what it lists.
func TestDigestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/digests.json", *update, func() []digestVector { return buildDigestVectors(t) })
	for _, v := range vs {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		d, err := DecodeDigest(b)
		switch {
		case v.Want == "ok" && err != nil:
			t.Errorf("%s: %v", v.Name, err)
			continue
		case v.Want == "ErrBadDigest" && !errors.Is(err, ErrBadDigest):
			t.Errorf("%s: %v, want ErrBadDigest", v.Name, err)
			continue
		case v.Want != "ok":
			continue
		}
		for _, list := range []struct {
			ids  []string
			want bool
		}{{v.Has, true}, {v.HasNot, false}} {
			for _, h := range list.ids {
				var id capability.ID
				if _, err := hex.Decode(id[:], []byte(h)); err != nil {
					t.Fatal(err)
				}
				if d.Has(id) != list.want {
					t.Errorf("%s: filter has %s: %v, want %v", v.Name, h[:12], !list.want, list.want)
				}
			}
		}
	}
}

// TestDigestDocNumbers: doc.go's Limits table gives every number of the
// digest with the code's value.
func TestDigestDocNumbers(t *testing.T) {
	testkit.DocNumbers(t, map[string]int64{
		"DigestEvery": testkit.Seconds(DigestEvery), "digestWindow": digestWindow, "MaxDigestIDs": MaxDigestIDs,
		"MaxDigestHashes": MaxDigestHashes, "MaxDigestFilterBytes": MaxDigestFilterBytes, "MaxDigestBytes": MaxDigestBytes,
		"digestsPerPeriod": digestsPerPeriod, "DigestRate": DigestRate, "DigestBurst": DigestBurst, "digestQueue": digestQueue, "digestWorkers": digestWorkers,
		"MaxPushRecords": revsync.MaxPushRecords, "DigestPushRate": DigestPushRate, "DigestPushBurst": DigestPushBurst,
		"DigestPullRate": DigestPullRate, "DigestPullBurst": DigestPullBurst, "digestPullPages": digestPullPages,
		"maxDigestPeers": maxDigestPeers, "digestActTimeout": testkit.Seconds(digestActTimeout),
	})
}

// FuzzDecodeDigest: any bytes decode to a digest that keeps every rule, or
// to ErrBadDigest; never a panic, and Has never reads outside the filter.
func FuzzDecodeDigest(f *testing.F) {
	for _, v := range buildDigestVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDigest(b)
		if err != nil {
			if !errors.Is(err, ErrBadDigest) {
				t.Fatalf("error %v does not wrap ErrBadDigest", err)
			}
			return
		}
		if err := d.check(); err != nil {
			t.Fatalf("decoded a digest that breaks a rule: %v", err)
		}
		d.Has(vectorID(0))
	})
}
