package infra

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/revsync"
	psnapshot "github.com/ocmt/mesh/protocols/snapshot"
	"github.com/ocmt/mesh/relay"
)

// snapCanary marks the plaintext of the snapshot the tests push.
const snapCanary = "CANARY-relay-cache-41c7e2-do-not-leak"

// ownerBlocks is the owner's own block store, keyed by CID: Seal writes
// to it and Push reads from it.
type ownerBlocks struct{ d ds.Datastore }

func (b ownerBlocks) PutBlock(ctx context.Context, c cid.Cid, data []byte) error {
	return b.d.Put(ctx, ds.NewKey(c.String()), bytes.Clone(data))
}

func (b ownerBlocks) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	v, err := b.d.Get(ctx, ds.NewKey(c.String()))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, io.EOF
	}
	return v, err
}

// openStoreT opens a pebble store in a fresh folder, closed at the end.
func openStoreT(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startCacheRelay is a bootstrap and a relay started by StartRelay with
// the given cache cap.
func startCacheRelay(t *testing.T, cacheMax int64) (*admissionMesh, home.Home) {
	t.Helper()
	ctx := context.Background()
	m := &admissionMesh{}
	var err error
	m.boot, err = StartBootstrap(ctx, Config{Home: tempHome(t, "boot"), Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.boot.Close() })
	relHome := tempHome(t, "relay")
	m.rel, err = StartRelay(ctx, RelayConfig{Config: Config{Home: relHome, Listen: loopback}, Bootstrap: m.boot.Addrs(),
		Relay: relay.Config{AllowPrivateAddrs: true}, CacheMaxBytes: cacheMax})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.rel.Close() })
	return m, relHome
}

// reserve registers k at the bootstrap and takes a reservation on the
// relay from h.
func (m *admissionMesh) reserve(t *testing.T, ctx context.Context, k *keys.PeerKey, h host.Host) {
	t.Helper()
	reg := m.register(t, ctx, k, h, true)
	rel := m.info(m.rel)
	if err := h.Connect(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if err := relayaccess.Register(ctx, h, rel.ID, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, h, rel); err != nil {
		t.Fatal(err)
	}
}

// seal seals content as the owner's snapshot of resource for readers.
func seal(t *testing.T, owner *keys.PeerKey, blocks ownerBlocks, content []byte, resource string, version uint64, readers ...peer.ID) *snap.Sealed {
	t.Helper()
	now := time.Now()
	s, err := snap.Seal(context.Background(), owner, bytes.NewReader(content), snap.Options{Resource: resource, Version: version,
		Readers: readers, Created: now, Expiry: now.Add(24 * time.Hour)}, blocks)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestARelayCachesSnapshotsForTheHomesItServes: a relay started by
// StartRelay takes a sealed snapshot from an owner holding a reservation
// on it and refuses one from a registered peer that holds none; a reader
// with the owner's token fetches and opens it with the owner gone; once
// the token's revocation is in the relay's set the fetch is refused; and
// the relay's folder holds no plaintext.
func TestARelayCachesSnapshotsForTheHomesItServes(t *testing.T) {
	m, relHome := startCacheRelay(t, 0)
	ctx := testkit.Context(t, 2*time.Minute)
	relID := m.rel.Host.ID()

	ak := testkit.Key(t, "alice")
	ah := testkit.Host(t, ak)
	alice := ownerBlocks{openStoreT(t)}
	m.reserve(t, ctx, ak, ah)

	bk := testkit.Key(t, "bob")
	bh := testkit.Host(t, bk)
	bobSeen := snap.NewDatastoreState(openStoreT(t))

	var content bytes.Buffer
	for content.Len() < 2*snap.ChunkSize+4321 {
		content.WriteString(snapCanary + " standup at 09:00; ")
	}
	s := seal(t, ak, alice, content.Bytes(), "calendar/work", 1, bk.ID())
	// The relay records the reservation once its answer is on the wire,
	// which the owner may read first: the push is admitted from then on.
	var err error
	testkit.Poll(30*time.Second, func() bool {
		err = psnapshot.Push(ctx, ah, relID, s.Signed, alice)
		return !errors.Is(err, wire.Forbidden)
	})
	if err != nil {
		t.Fatalf("alice's push to the relay she holds a reservation on: %v", err)
	}

	t.Run("a peer without a reservation here may not push", func(t *testing.T) {
		mk := testkit.Key(t, "mallory")
		mh := testkit.Host(t, mk)
		m.register(t, ctx, mk, mh, false) // registered, but reserves nowhere
		mine := ownerBlocks{openStoreT(t)}
		ms := seal(t, mk, mine, []byte("mallory's "+snapCanary), "calendar/work", 1, bk.ID())
		if err := mh.Connect(ctx, m.info(m.rel)); err != nil {
			t.Fatal(err)
		}
		if err := psnapshot.Push(ctx, mh, relID, ms.Signed, mine); !errors.Is(err, wire.Forbidden) {
			t.Fatalf("a push without a reservation: %v, want Forbidden", err)
		}
	})

	tok, err := capability.Issue(ak, capability.Params{Audience: bk.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: time.Now().Add(-time.Minute), Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ah.Close() // the owner sleeps

	if err := bh.Connect(ctx, m.info(m.rel)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	f, err := psnapshot.Fetch(ctx, bh, relID, bk, ak.ID(), "calendar/work", tok.Bytes(), bobSeen, &got)
	if err != nil || !bytes.Equal(got.Bytes(), content.Bytes()) {
		t.Fatalf("bob's fetch from the relay: %d bytes, %v", got.Len(), err)
	}
	if f.Manifest.Version != 1 || f.Bytes != int64(content.Len()) {
		t.Fatalf("fetched %+v", f)
	}

	rev, err := revocation.New(ak, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// alice's host is closed: the revocation reaches the relay from a
	// host of hers that only pushes it (revsync admits it by its signer).
	rh := testkit.Host(t, ak)
	if err := rh.Connect(ctx, m.info(m.rel)); err != nil {
		t.Fatal(err)
	}
	if err := revsync.Push(ctx, rh, relID, rev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return m.rel.IsRevoked(tok.ID()) }, "the relay admits alice's revocation")
	got.Reset()
	if _, err := psnapshot.Fetch(ctx, bh, relID, bk, ak.ID(), "calendar/work", tok.Bytes(), bobSeen, &got); !errors.Is(err, wire.Revoked) || got.Len() != 0 {
		t.Fatalf("a revoked token's fetch: %d bytes, %v; want Revoked and nothing", got.Len(), err)
	}

	m.rel.Close() // flush and close pebble
	var scanned int64
	err = filepath.Walk(string(relHome), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned += int64(len(b))
		if bytes.Contains(b, []byte(snapCanary)) || bytes.Contains(b, []byte("standup at 09:00")) {
			t.Errorf("%s holds plaintext", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < int64(content.Len()) {
		t.Fatalf("scanned %d bytes of the relay's folder, less than the %d sealed: the cache is not in it", scanned, content.Len())
	}
}

// TestARelayWithoutACacheDoesNotServeSnapshots: a negative cap (the
// file's cache_max_bytes: 0) keeps no cache and the protocol is not
// served; the default serves it, under the resource manager's limit for it.
func TestARelayWithoutACacheDoesNotServeSnapshots(t *testing.T) {
	if relay.SnapshotProtocol != string(psnapshot.ID) {
		t.Fatalf("relay.SnapshotProtocol %q is not protocols/snapshot's %q", relay.SnapshotProtocol, psnapshot.ID)
	}
	ctx := testkit.Context(t, time.Minute)
	for _, c := range []struct {
		cacheMax int64
		served   bool
	}{{-1, false}, {0, true}} {
		m, _ := startCacheRelay(t, c.cacheMax)
		h := testkit.Host(t, testkit.Key(t, "reader"))
		if err := h.Connect(ctx, m.info(m.rel)); err != nil {
			t.Fatal(err)
		}
		st, err := h.NewStream(ctx, m.rel.Host.ID(), psnapshot.ID)
		if served := err == nil; served != c.served {
			t.Fatalf("CacheMaxBytes %d: a snapshot stream opened: %v (%v)", c.cacheMax, served, err)
		}
		if st != nil {
			st.Reset()
		}
	}
	limits, err := relay.Limits(relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	partial := limits.ToPartialLimitConfig()
	all, one := partial.Protocol[psnapshot.ID], partial.ProtocolPeer[psnapshot.ID]
	perStream := int64(psnapshot.MaxBlockFrame + psnapshot.MaxRequest)
	if all.StreamsInbound != psnapshot.DefaultMaxStreams || all.Memory != rcmgr.LimitVal64(psnapshot.DefaultMaxStreams*perStream) ||
		one.StreamsInbound != psnapshot.DefaultMaxStreamsPerPeer || one.Memory != rcmgr.LimitVal64(psnapshot.DefaultMaxStreamsPerPeer*perStream) {
		t.Fatalf("the relay's resource manager limits %s to %+v, per peer %+v", psnapshot.ID, all, one)
	}
}
