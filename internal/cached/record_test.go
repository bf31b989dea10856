package cached

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
)

func sampleRecord(t testing.TB) *Record {
	k := testkit.Key(t, "relay")
	return &Record{Resource: "calendar/work", Version: 7, Size: 299, Readers: 3,
		Created: time.Unix(1_800_000_000, 0), Expiry: time.Unix(1_800_604_800, 0),
		Caches: []CacheResult{{Relay: k.ID(), At: time.Unix(1_800_000_001, 0)}, {Relay: k.ID(), At: time.Unix(1_800_000_002, 0), Err: "refused: quota"}}}
}

func TestRecordRoundTrips(t *testing.T) {
	r := sampleRecord(t)
	b, err := EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecord(r.Resource, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != r.Version || got.Size != r.Size || got.Readers != r.Readers || !got.Created.Equal(r.Created) ||
		!got.Expiry.Equal(r.Expiry) || len(got.Caches) != 2 || got.Caches[1].Err != r.Caches[1].Err || got.Caches[0].Relay != r.Caches[0].Relay {
		t.Fatalf("round trip: %+v, want %+v", got, r)
	}
	if !got.Stored() {
		t.Fatal("a record with one relay that took it is not stored")
	}
	for _, bad := range [][]byte{nil, {0xa0}, bytes.Repeat([]byte{0}, MaxRecordBytes+1), append(b[:len(b):len(b)], 0)} {
		if _, err := DecodeRecord("x", bad); err == nil {
			t.Errorf("DecodeRecord(%x) took it", bad)
		}
	}
}

func TestReadersAreTheLiveSharesThatAllowReading(t *testing.T) {
	a, b, c, d := testkit.Key(t, "a").ID(), testkit.Key(t, "b").ID(), testkit.Key(t, "c").ID(), testkit.Key(t, "d").ID()
	g := func(id peer.ID, res, status string, acts ...string) localapi.Grant {
		return localapi.Grant{Audience: id.String(), Resource: res, Status: status, Actions: acts}
	}
	shares := []localapi.Grant{
		g(a, "calendar/*", meshstate.Active, "read"),
		g(b, "calendar/**", meshstate.Undelivered, "read", "list"),
		g(c, "calendar/*", meshstate.Revoked, "read"),
		g(d, "calendar/*", meshstate.Active, "list"),
		g(d, "notes/*", meshstate.Active, "read"),
		g(a, "calendar/work", meshstate.Active, "read"), // a twice: once
	}
	got := readersOf(shares, capability.ResourcePath("calendar/work"))
	want := []peer.ID{a, b}
	if len(got) != 2 || !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
		t.Fatalf("readers = %v, want %v", got, want)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	b, err := EncodeRecord(sampleRecord(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord("r", b)
		if err != nil {
			return
		}
		again, err := EncodeRecord(r)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		if _, err := DecodeRecord("r", again); err != nil {
			t.Fatalf("a re-encoded record does not decode: %v", err)
		}
	})
}
