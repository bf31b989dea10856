package sharestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/vault"
)

// newStore returns a Store on an unlocked vault in memory, with what its
// hooks were told.
func newStore(t *testing.T) (*Store, *vault.Vault, *meshstate.State, *[]string, *[]error) {
	t.Helper()
	ctx := context.Background()
	st := dssync.MutexWrap(ds.NewMapDatastore())
	v, err := vault.Create(ctx, vault.Config{Store: st}, []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	state := meshstate.New(st, v, "test", time.Now)
	var served []string
	var refused []error
	s := New(Config{Vault: v, State: state, Served: func(op string) { served = append(served, op) }, Refused: func(err error) { refused = append(refused, err) }})
	return s, v, state, &served, &refused
}

func auditOf(t *testing.T, v *vault.Vault, op string) []vault.AuditRecord {
	t.Helper()
	recs, _, err := v.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []vault.AuditRecord
	for _, r := range recs {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// TestGranteesAreServedAndAuditedByName: what a grantee reads, lists,
// writes and deletes is served from the vault's resources and audited
// under its peer ID, naming it by its pinned handle; a locked vault or a
// missing resource is the status the grantee gets.
func TestGranteesAreServedAndAuditedByName(t *testing.T) {
	ctx := context.Background()
	s, v, state, served, _ := newStore(t)
	defer s.Close()
	bob := testkit.Key(t, "bob").ID()
	tok := capability.ID{1}
	if err := state.Pin(ctx, "bob", bob); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, bob, tok, "notes/todo", []byte("milk")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Read(ctx, bob, tok, "notes/todo"); err != nil || string(b) != "milk" {
		t.Fatalf("read %q, %v", b, err)
	}
	names, err := s.List(ctx, bob, tok, func(p capability.ResourcePath) bool { return strings.HasPrefix(string(p), "notes/") })
	if err != nil || len(names) != 1 || names[0] != "notes/todo" {
		t.Fatalf("list %v, %v", names, err)
	}
	if err := s.Delete(ctx, bob, tok, "notes/todo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, bob, tok, "notes/todo"); !errors.Is(err, wire.NotFound) {
		t.Errorf("reading a deleted resource: %v, want %v", err, wire.NotFound)
	}
	if got := strings.Join(*served, ","); got != "write,read,list,delete" {
		t.Errorf("served %q, want write,read,list,delete", got)
	}
	recs := auditOf(t, v, OpServe)
	if len(recs) != 4 {
		t.Fatalf("%d %s records, want 4", len(recs), OpServe)
	}
	for _, r := range recs {
		if r.Actor != bob.String() {
			t.Errorf("%s record by %q, want bob's peer ID", r.Detail, r.Actor)
		}
	}
	if d := recs[0].Detail; !strings.Contains(d, "write by bob") || !strings.Contains(d, "(4 bytes)") {
		t.Errorf("the write is audited as %q", d)
	}
	if err := v.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, bob, tok, "notes/todo"); !errors.Is(err, wire.Locked) {
		t.Errorf("reading from a locked vault: %v, want %v", err, wire.Locked)
	}
}

// TestAFloodOfRefusalsIsBounded: every refusal is counted, but the audit
// records of a flood from many identities stay within the coalescer's
// budget, with paths clipped.
func TestAFloodOfRefusalsIsBounded(t *testing.T) {
	s, v, _, _, refused := newStore(t)
	const peers, each = 300, 3
	long := strings.Repeat("x", 4*auditlimit.MaxText)
	for i := range peers {
		p := testkit.Key(t, fmt.Sprint("stranger", i)).ID()
		for range each {
			s.Refused(p, "read", long, wire.Errorf(wire.Forbidden, "token: ErrWrongAudience"))
		}
	}
	s.Close() // writes the window's summaries
	if len(*refused) != peers*each {
		t.Errorf("%d refusals counted, want %d", len(*refused), peers*each)
	}
	recs := auditOf(t, v, OpRefused)
	if len(recs) == 0 || len(recs) > auditlimit.DefaultMaxRecords {
		t.Fatalf("%d %s records for %d refusals, want 1 to %d", len(recs), OpRefused, peers*each, auditlimit.DefaultMaxRecords)
	}
	for _, r := range recs {
		if r.Outcome != vault.OutcomeDenied || len(r.Target) > auditlimit.MaxText+8 {
			t.Errorf("refusal record %+v", r.AuditEntry)
		}
	}
}
