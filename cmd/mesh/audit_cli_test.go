package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/store"
)

// TestCLIAuditWithThePasswordCatchesARewrittenRecord: without a node,
// mesh audit given the password checks every record with the vault key,
// so a record rewritten in the store by someone who left its links alone
// is caught; without the password it says the check was structure only.
func TestCLIAuditWithThePasswordCatchesARewrittenRecord(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	c.ok(secretCanary, pw, "secret", "set", "openai")
	if out := c.ok("", pw, "audit"); !strings.Contains(out, "chain verified, with the vault key") {
		t.Fatalf("an intact log with the password:\n%s", out)
	}

	// someone with the disk turns the write into a list
	st, err := store.Open(home.Home(c.home).StorePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := st.Query(ctx, query.Query{Prefix: "/audit/"})
	if err != nil {
		t.Fatal(err)
	}
	edited := 0
	for r := range res.Next() {
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		if v := []byte(`"op":"secret.write"`); bytes.Contains(r.Value, v) {
			if err := st.Put(ctx, ds.NewKey(r.Key), bytes.Replace(r.Value, v, []byte(`"op":"secret.list"`), 1)); err != nil {
				t.Fatal(err)
			}
			edited++
		}
	}
	res.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if edited != 1 {
		t.Fatalf("%d secret.write records found, want 1", edited)
	}

	c.fails("", pw, "was rewritten", "audit")
	out := c.ok("", nil, "audit") // no password, no terminal
	if !strings.Contains(out, "structure only") || !strings.Contains(out, "$MESH_PASSWORD") {
		t.Fatalf("without the password, mesh audit does not say how little it checked:\n%s", out)
	}
}
