package capability

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/store"
)

func TestSingleUseTokensStayUsedAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	once := Budget{ID: ID{1}, Max: 1, Until: now.Add(time.Hour)}
	twice := Budget{ID: ID{2}, Max: 2, Until: now.Add(time.Hour)}
	if err := r.Spend(ctx, now, []Budget{once, twice}); err != nil {
		t.Fatal(err)
	}
	if err := r.Spend(ctx, now, []Budget{once}); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use of a single-use token: %v", err)
	}
	st.Close()

	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err = OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Spend(ctx, now, []Budget{once}); !errors.Is(err, ErrReplayed) {
		t.Fatalf("a restart refilled a single-use token: %v", err)
	}
	if err := r.Spend(ctx, now, []Budget{twice}); err != nil {
		t.Fatalf("the second of two uses: %v", err)
	}
	if err := r.Spend(ctx, now, []Budget{twice, once}); !errors.Is(err, ErrReplayed) {
		t.Fatal("an all-or-nothing spend went through")
	}
	// Expired entries are forgotten once real time has passed their Until.
	fakeMonotonic(&r.mark).advance(2 * time.Hour)
	if err := r.Spend(ctx, now.Add(2*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if len(r.entries) != 0 {
		t.Fatalf("%d expired entries kept", len(r.entries))
	}
}
