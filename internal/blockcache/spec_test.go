package blockcache

import (
	"context"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	testkit.DocNumbers(t, map[string]int64{
		"DefaultMaxBytes": DefaultMaxBytes, "DefaultPerPusher": DefaultPerPusher, "MaxBlockBytes": MaxBlockBytes,
		"MinCharge": MinCharge, "TouchBatch": TouchBatch,
	})
}

// Reads past TouchBatch are written in the background; Close stops the
// writer and leaks no goroutine.
func TestCloseStopsTheBackgroundWriter(t *testing.T) {
	ctx := context.Background()
	alice := testkit.Key(t, "alice").ID()
	before := testkit.SettledGoroutines(t, 5*time.Second)
	c, st := openAt(t, t.TempDir(), Config{MaxBytes: 1 << 20, Authorizer: allowing(alice)})
	b := block("g", 100)
	if err := c.Put(ctx, alice, cidOf(b), b); err != nil {
		t.Fatal(err)
	}
	for range 3 * TouchBatch {
		if _, err := c.Get(ctx, cidOf(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	testkit.GoroutinesDropTo(t, 5*time.Second, before)
}
