package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// TestAHomeStoreKeepsItsMemtableSmall: the memtables of a home node's
// store stay within its sizing (at most two of SizingFor(HomeNode).MemTable
// while one flushes) however much is written, where an infrastructure
// role's grow to pebble's 4 MiB (a value too large for the memtable is
// held only until its flush); and what a home store was given, small
// records and values larger than its memtable alike, is all there after a
// reopen.
func TestAHomeStoreKeepsItsMemtableSmall(t *testing.T) {
	ctx := context.Background()
	write := func(s *Store) {
		t.Helper()
		for i := range 768 { // 3 MiB of 4 KiB records, one synced write each
			if err := s.Put(ctx, ds.NewKey(fmt.Sprintf("/rec/%d", i)), bytes.Repeat([]byte{byte(i)}, 4096)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	home, err := OpenFor(dir, HomeNode)
	if err != nil {
		t.Fatal(err)
	}
	write(home)
	homeMem := home.Datastore.DB.Metrics().MemTable.Size
	if max := 2 * SizingFor(HomeNode).MemTable; homeMem > max {
		t.Errorf("a home store holds %d KiB of memtables, want at most %d KiB", homeMem>>10, max>>10)
	}
	big := bytes.Repeat([]byte("resource"), 40<<10) // 320 KiB: more than a home memtable holds
	if err := home.Put(ctx, ds.NewKey("/big"), big); err != nil {
		t.Fatal(err)
	}
	if err := home.Close(); err != nil {
		t.Fatal(err)
	}

	relay, err := OpenFor(t.TempDir(), Relay)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	write(relay)
	relayMem := relay.Datastore.DB.Metrics().MemTable.Size
	t.Logf("memtables after 3 MiB of writes: home %d KiB, relay %d KiB", homeMem>>10, relayMem>>10)
	if relayMem <= 2*SizingFor(HomeNode).MemTable {
		t.Errorf("a relay store's memtables stayed at %d KiB: not sized apart from a home's", relayMem>>10)
	}

	home, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	for _, i := range []int{0, 345, 767} {
		if v, err := home.Get(ctx, ds.NewKey(fmt.Sprintf("/rec/%d", i))); err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 4096)) {
			t.Fatalf("record %d after a reopen: %v", i, err)
		}
	}
	if v, err := home.Get(ctx, ds.NewKey("/big")); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("the large value after a reopen: %v", err)
	}
}
