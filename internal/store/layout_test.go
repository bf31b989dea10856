package store

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

func TestMigrateMovesAHomeNodesOldRevocationKeys(t *testing.T) {
	ctx := context.Background()
	s := dssync.MutexWrap(ds.NewMapDatastore())
	old := map[string]string{
		"/revocations/meta/epoch": "e",
		"/revocations/r/abc":      "rec",
		"/revoutbox/abc":          "out",
		"/revocationsX/kept":      "not ours",
		"/mesh/contacts/bob":      "kept",
	}
	for k, v := range old {
		s.Put(ctx, ds.NewKey(k), []byte(v))
	}
	n, err := Migrate(ctx, s, HomeNode)
	if err != nil || n != 3 {
		t.Fatalf("moved %d, %v; want 3", n, err)
	}
	want := map[string]string{
		"/mesh/revocations/meta/epoch": "e",
		"/mesh/revocations/r/abc":      "rec",
		"/mesh/revoutbox/abc":          "out",
		"/revocationsX/kept":           "not ours",
		"/mesh/contacts/bob":           "kept",
	}
	for k, v := range want {
		got, err := s.Get(ctx, ds.NewKey(k))
		if err != nil || string(got) != v {
			t.Errorf("%s = %q, %v; want %q", k, got, err, v)
		}
	}
	for _, k := range []string{"/revocations/meta/epoch", "/revoutbox/abc"} {
		if ok, _ := s.Has(ctx, ds.NewKey(k)); ok {
			t.Errorf("%s is still there", k)
		}
	}
	if n, err := Migrate(ctx, s, HomeNode); err != nil || n != 0 {
		t.Fatalf("a second migration moved %d, %v", n, err)
	}
}

func TestDocumented(t *testing.T) {
	for _, c := range []struct {
		role Role
		key  string
		want bool
	}{
		{HomeNode, "/mesh/grants/issued/ab", true},
		{HomeNode, "/directory/handle/bob", false},
		{Bootstrap, "/directory/handle/bob", true},
		{Relay, "/providers/x", false},
		{Relay, "/kad/providers/x", true},
	} {
		if got := Documented(c.role, c.key); got != c.want {
			t.Errorf("Documented(%s, %s) = %v", c.role, c.key, got)
		}
	}
}
