package vault

import (
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// OpenStore opens (creating if needed) the pebble datastore in dir. Every
// write and batch is fsynced before it returns, so an acknowledged write
// survives a crash. Pebble holds a lock file: a second process opening the
// same dir fails.
func OpenStore(dir string) (ds.Batching, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating store dir: %w", err)
	}
	store, err := pebbleds.NewDatastore(dir, pebbleds.WithPebbleWriteOptions(pebble.Sync))
	if err != nil {
		return nil, fmt.Errorf("vault: opening store %s: %w", dir, err)
	}
	return store, nil
}
