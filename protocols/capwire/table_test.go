package capwire

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// capabilityDir is the capability package's source, relative to this one.
const capabilityDir = "../../capability"

// sentinels parses the capability package's source and returns every
// exported package-level Err* variable with the text of its errors.New.
func sentinels(t *testing.T) map[string]string {
	t.Helper()
	pkg, err := build.ImportDir(capabilityDir, 0)
	if err != nil {
		t.Fatalf("reading the capability package: %v", err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(capabilityDir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				collectSentinels(t, fset, gd, out)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("found no Err* sentinels in %s: the test no longer sees the package", capabilityDir)
	}
	return out
}

func collectSentinels(t *testing.T, fset *token.FileSet, gd *ast.GenDecl, out map[string]string) {
	t.Helper()
	for _, spec := range gd.Specs {
		vs := spec.(*ast.ValueSpec)
		for i, id := range vs.Names {
			if !id.IsExported() || !strings.HasPrefix(id.Name, "Err") {
				continue
			}
			if i >= len(vs.Values) {
				t.Fatalf("%s: capability.%s has no errors.New value; teach this test to identify it", fset.Position(id.Pos()), id.Name)
			}
			text, ok := errorsNewText(vs.Values[i])
			if !ok {
				t.Fatalf("%s: capability.%s is not errors.New(\"...\"); teach this test to identify it", fset.Position(id.Pos()), id.Name)
			}
			out[id.Name] = text
		}
	}
}

func errorsNewText(e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "New" {
		return "", false
	}
	if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "errors" {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// refusalStatuses are the statuses the protocols' doc.go files list for
// token failures. A row with another status needs those docs updated
// first, and then this set.
var refusalStatuses = map[wire.Status]bool{
	wire.BadRequest: true, wire.Forbidden: true, wire.Expired: true, wire.Revoked: true, wire.Unavailable: true,
}

// TestEverySentinelHasADeliberateStatus walks every exported Err* of the
// capability package, as its source declares them, and checks each has
// exactly one row in the table, with a refusal status, that Status finds
// through capability.ErrorName even when the sentinel is wrapped.
func TestEverySentinelHasADeliberateStatus(t *testing.T) {
	src := sentinels(t)
	rowOf := map[string]row{} // by error text, which is unique per sentinel
	for _, r := range table {
		if _, dup := rowOf[r.err.Error()]; dup {
			t.Errorf("two rows for %q", r.err)
		}
		rowOf[r.err.Error()] = r
	}
	for name, text := range src {
		t.Run(name, func(t *testing.T) {
			r, ok := rowOf[text]
			if !ok {
				t.Fatalf("capability.%s has no row in capwire's table: give it a deliberate wire status", name)
			}
			delete(rowOf, text)
			if got := capability.ErrorName(r.err); got != name {
				t.Fatalf("capability.ErrorName(%s) = %q: the table looks rows up by that name, so the capability package must name it", name, got)
			}
			if !refusalStatuses[r.status] {
				t.Fatalf("capability.%s maps to %v, not a token refusal status the protocols document", name, r.status)
			}
			wrapped := fmt.Errorf("capability: link 1 of 2: details: %w", r.err)
			if st, ok := Status(wrapped); !ok || st != r.status {
				t.Fatalf("Status(wrapped %s) = %v, %v; want %v", name, st, ok, r.status)
			}
			we := ToWire(wrapped)
			if we.Status != r.status || we.Message != "token: "+name || we.Detail != nil {
				t.Fatalf("ToWire(wrapped %s) = %+v", name, we)
			}
		})
	}
	for text := range rowOf {
		t.Errorf("the table has a row for %q, which the capability source does not declare", text)
	}
}

func TestToWireOutsideTheTable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *wire.Error
	}{
		{"nil is OK", nil, nil},
		{"a cancelled context stays a bare Internal", fmt.Errorf("verifying: %w", context.Canceled), &wire.Error{Status: wire.Internal}},
		{"a local failure never leaks its text", errors.New("/var/lib/replay.db: EIO"), &wire.Error{Status: wire.Internal}},
		{"a wire error passes unchanged", wire.Errorf(wire.Unavailable, "catching up"), wire.Errorf(wire.Unavailable, "catching up")},
		{"a bad pattern inside a token is malformed, by ErrorName's precedence",
			fmt.Errorf("%w: resource: %w", capability.ErrMalformed, capability.ErrBadPattern), &wire.Error{Status: wire.BadRequest, Message: "token: ErrMalformed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToWire(tt.err)
			if (got == nil) != (tt.want == nil) || got != nil && (got.Status != tt.want.Status || got.Message != tt.want.Message || got.Detail != nil) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRevokedRefusal(t *testing.T) {
	id := capability.ID{1, 2, 3}
	rev := fmt.Errorf("verify: %w", &capability.RevokedError{ID: id, Link: 2, Of: 3})
	by := testkit.Key(t, "alice").ID()
	at := testkit.Epoch

	t.Run("without a detail the message names the token for humans", func(t *testing.T) {
		we := ToWire(rev)
		if we.Status != wire.Revoked || we.Detail != nil || !strings.Contains(we.Message, id.Short()) {
			t.Fatalf("got %+v", we)
		}
		if _, ok := Revoked(we); ok {
			t.Fatal("a refusal without a detail reported one")
		}
	})
	t.Run("the detail carries the token, its link, the revoker and the time", func(t *testing.T) {
		we := ToWireDetailed(rev, func(got capability.ID) (peer.ID, time.Time, bool) { return by, at, got == id })
		d, ok := Revoked(fmt.Errorf("share: %w", we))
		want := RevokedDetail{Token: id, Link: 2, Of: 3, By: by, At: at}
		if !ok || d != want {
			t.Fatalf("got %+v, %v; want %+v", d, ok, want)
		}
	})
	t.Run("an unknown revoker leaves by and at out", func(t *testing.T) {
		d, ok := Revoked(ToWireDetailed(rev, nil))
		if !ok || d != (RevokedDetail{Token: id, Link: 2, Of: 3}) {
			t.Fatalf("got %+v, %v", d, ok)
		}
	})
	t.Run("other refusals carry no detail", func(t *testing.T) {
		we := ToWireDetailed(capability.ErrExpired, nil)
		if we.Status != wire.Expired || we.Detail != nil {
			t.Fatalf("got %+v", we)
		}
		if _, ok := Revoked(we); ok {
			t.Fatal("an Expired refusal reported a revocation")
		}
	})
	t.Run("a detail on another status is not a revocation", func(t *testing.T) {
		good := ToWireDetailed(rev, nil)
		if _, ok := Revoked(&wire.Error{Status: wire.Forbidden, Detail: good.Detail}); ok {
			t.Fatal("read a revocation off a Forbidden refusal")
		}
	})
}
