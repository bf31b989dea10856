package localapi

import (
	"context"
	"testing"
)

// fakeBackend answers Status and Shared; everything else panics.
type fakeBackend struct {
	Backend
	handle string
	shared []Grant
}

func (f fakeBackend) Status(context.Context) (Status, error)  { return Status{Handle: f.handle}, nil }
func (f fakeBackend) Shared(context.Context) ([]Grant, error) { return f.shared, nil }

func TestTargetTellsOwnPathsFromSharedOnes(t *testing.T) {
	b := fakeBackend{handle: "bob", shared: []Grant{{OwnerHandle: "alice"}, {OwnerHandle: "carol?"}}}
	for _, c := range []struct {
		arg, path string
		remote    bool
	}{
		{"calendar/work", "calendar/work", false},
		{"alice/notes/todo", "alice/notes/todo", true},
		{"carol/x", "carol/x", true}, // a handle the owner claimed, not yet confirmed
		{"bob/notes/todo", "notes/todo", false},
		{"notes", "notes", false},
	} {
		remote, path, err := Target(context.Background(), b, c.arg)
		if err != nil || remote != c.remote || path != c.path {
			t.Errorf("Target(%q) = %v, %q, %v; want %v, %q", c.arg, remote, path, err, c.remote, c.path)
		}
	}
}
