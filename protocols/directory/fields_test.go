package directory

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// recStore is a Records and Mailboxes that counts the calls reaching it:
// a request reached its op's handler exactly when the store was called.
type recStore struct {
	mu    sync.Mutex
	calls []string
}

func (r *recStore) note(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op)
}

func (r *recStore) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *recStore) Publish(context.Context, *SignedRecord) error { r.note("publish"); return nil }
func (r *recStore) Lookup(context.Context, Handle) (*SignedRecord, error) {
	r.note("lookup")
	return nil, ErrNotFound
}
func (r *recStore) LookupPeer(context.Context, peer.ID) (*SignedRecord, error) {
	r.note("lookup-peer")
	return nil, ErrNotFound
}
func (r *recStore) Put(context.Context, peer.ID, peer.ID, []byte, ...capability.ID) error {
	r.note("mailbox-put")
	return nil
}
func (r *recStore) Fetch(context.Context, peer.ID, int) ([]Mail, bool, error) {
	r.note("mailbox-fetch")
	return nil, false, nil
}
func (r *recStore) Ack(context.Context, peer.ID, [][]byte) error { r.note("mailbox-ack"); return nil }

func testServer(st *recStore, mailboxes bool) *Server {
	cfg := ServerConfig{Records: st, Now: time.Now}
	if mailboxes {
		cfg.Mailboxes = st
	}
	return &Server{cfg: cfg, log: slog.New(slog.DiscardHandler), lim: newPeerLimiter(1e9, 1<<30, 16)}
}

// validValues returns a request carrying, for each field in set, a value
// that field's handler accepts from k.
func validValues(t testing.TB, k *keys.PeerKey, op Op, set fieldSet) request {
	t.Helper()
	req := request{Op: op}
	if set.has(fieldRecord) {
		sr, err := SignRecord(k, Record{Handle: "alice", Seq: 1, Issued: testkit.Epoch})
		if err != nil {
			t.Fatal(err)
		}
		req.Record = sr
	}
	if set.has(fieldHandle) {
		req.Handle = "alice"
	}
	if set.has(fieldPeer) {
		req.Peer = []byte(k.ID())
	}
	if set.has(fieldSealed) {
		req.Sealed = []byte("sealed")
	}
	if set.has(fieldIDs) {
		req.IDs = [][]byte{make([]byte, MailIDLen)}
	}
	if set.has(fieldTokens) {
		req.Tokens = [][]byte{make([]byte, len(capability.ID{}))}
	}
	return req
}

// TestFieldTableCases derives its cases from the field table: every op
// (and ops the table does not define) with every combination of the
// fields other than op. A request reaches its handler exactly when its
// fields are the op's required ones plus any of its optional ones;
// anything else is BadRequest before the store is touched.
func TestFieldTableCases(t *testing.T) {
	k := testkit.Key(t, "alice")
	st := &recStore{}
	s := testServer(st, true)
	ctx := context.Background()
	all := fields(fieldRecord, fieldHandle, fieldPeer, fieldSealed, fieldIDs, fieldTokens)
	for op := Op(0); op <= Op(len(opSpecs)); op++ {
		sp, defined := specOf(op)
		for set := fieldSet(0); set <= all; set++ {
			if set&^all != 0 {
				continue
			}
			b, err := wire.Marshal(validValues(t, k, op, set))
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.serve(ctx, k.ID(), b)
			reached := st.take()
			if defined && sp.allowed()&^fields(fieldOp)&set == set && sp.required&set == sp.required {
				if len(reached) != 1 || reached[0] != sp.name {
					t.Errorf("op %d with %v: reached %v (err %v), want the %s handler", op, set, reached, err, sp.name)
				}
				continue
			}
			if !errors.Is(err, wire.BadRequest) || len(reached) != 0 {
				t.Errorf("op %d with %v: got %v and reached %v, want BadRequest before any handler", op, set, err, reached)
			}
		}
	}
}

func TestMailboxOpsWithoutMailboxesAreNotFound(t *testing.T) {
	k := testkit.Key(t, "alice")
	st := &recStore{}
	s := testServer(st, false)
	for op := OpPublish; int(op) < len(opSpecs); op++ {
		sp, _ := specOf(op)
		b, _ := wire.Marshal(validValues(t, k, op, sp.required))
		_, err := s.serve(context.Background(), k.ID(), b)
		reached := st.take()
		if sp.mailbox && (!errors.Is(err, wire.NotFound) || len(reached) != 0) || !sp.mailbox && len(reached) != 1 {
			t.Errorf("%s without a mailbox store: %v, reached %v", sp.name, err, reached)
		}
	}
}

func TestRequestsDecodeCanonically(t *testing.T) {
	k := testkit.Key(t, "alice")
	st := &recStore{}
	s := testServer(st, true)
	good, _ := wire.Marshal(request{Op: OpLookup, Handle: "alice"}) // a2 01 02 03 65 alice
	tests := []struct {
		name string
		in   []byte
	}{
		{"an op in a two-byte uint", append([]byte{0xa2, 0x01, 0x18, 0x02}, good[3:]...)},
		{"keys out of order", append(append([]byte{0xa2}, good[3:]...), 0x01, 0x02)},
		{"a duplicate key", append(append([]byte{0xa3}, good[1:]...), 0x01, 0x02)},
		{"an unknown field", append(append([]byte{0xa3}, good[1:]...), 0x08, 0x01)},
		{"an empty field present", append(append([]byte{0xa3}, good[1:]...), 0x04, 0x40)},
		{"an indefinite-length map", append(append([]byte{0xbf}, good[1:]...), 0xff)},
		{"trailing bytes", append(append([]byte{}, good...), 0x00)},
	}
	if _, err := s.serve(context.Background(), k.ID(), good); len(st.take()) != 1 {
		t.Fatalf("the canonical lookup did not reach the store: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.serve(context.Background(), k.ID(), tt.in); !errors.Is(err, wire.BadRequest) {
				t.Fatalf("got %v", err)
			}
			if c := st.take(); len(c) != 0 {
				t.Fatalf("reached %v", c)
			}
		})
	}
}

// docBlock returns the first tab-indented block of the package comment
// after the paragraph that starts with marker.
func docBlock(t *testing.T, doc, marker string) []string {
	t.Helper()
	_, after, ok := strings.Cut(doc, "\n"+marker)
	if !ok {
		t.Fatalf("doc.go has no paragraph starting %q", marker)
	}
	var out []string
	for _, l := range strings.Split(after, "\n") {
		if code, ok := strings.CutPrefix(l, "\t"); ok {
			out = append(out, code)
		} else if len(out) > 0 {
			break
		}
	}
	if len(out) == 0 {
		t.Fatalf("doc.go has no indented block after %q", marker)
	}
	return out
}

func packageDoc(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("doc.go: %v", err)
	}
	return f.Doc.Text()
}

var docRow = regexp.MustCompile(`^(\d+) ([a-z][a-z-]*)\s+(.*)$`)

// TestDocRequestFieldsMatchTheStruct: the request fields doc.go lists are
// the request struct's and the field table's, number for number.
func TestDocRequestFieldsMatchTheStruct(t *testing.T) {
	doc := packageDoc(t)
	docFields := map[field]string{}
	for _, l := range docBlock(t, doc, "Request (CBOR map") {
		if m := docRow.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			docFields[field(n)] = m[2]
		}
	}
	tagged := map[field]string{}
	rt := reflect.TypeFor[request]()
	for i := range rt.NumField() {
		n, _ := strconv.Atoi(strings.Split(rt.Field(i).Tag.Get("cbor"), ",")[0])
		tagged[field(n)] = strings.ToLower(rt.Field(i).Name)
	}
	for f := fieldOp; f <= maxField; f++ {
		if docFields[f] != fieldNames[f] || tagged[f] != fieldNames[f] {
			t.Errorf("field %d: doc.go says %q, the request struct %q, the table %q", f, docFields[f], tagged[f], fieldNames[f])
		}
	}
	if len(docFields) != int(maxField) || len(tagged) != int(maxField) {
		t.Errorf("doc.go lists %d fields, the request struct has %d, the table %d", len(docFields), len(tagged), maxField)
	}
}

// TestDocFieldsPerOpMatchTheTable: doc.go's "Fields per op" block is the
// field table, mark for mark, op for op.
func TestDocFieldsPerOpMatchTheTable(t *testing.T) {
	doc := packageDoc(t)
	block := docBlock(t, doc, "Fields per op")
	header := strings.Fields(block[0])
	if len(header) != int(maxField) || header[0] != "op" {
		t.Fatalf("header %q does not name op and the %d other fields", block[0], maxField-1)
	}
	seen := 0
	for _, l := range block[1:] {
		m := docRow.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unparseable row %q", l)
		}
		n, _ := strconv.Atoi(m[1])
		sp, ok := specOf(Op(n))
		if !ok || sp.name != m[2] {
			t.Fatalf("doc.go row %q: the table has no op %d named %s", l, n, m[2])
		}
		if got := parseMarks(t, header[1:], strings.Fields(m[3])); got.required != sp.required || got.optional != sp.optional {
			t.Errorf("%s: doc.go says required %v optional %v; the table says %v and %v", sp.name, got.required, got.optional, sp.required, sp.optional)
		}
		seen++
	}
	if defined := countDefined(); seen != defined {
		t.Errorf("doc.go lists %d ops, the table defines %d", seen, defined)
	}
}

func parseMarks(t *testing.T, names, marks []string) opSpec {
	t.Helper()
	if len(marks) != len(names) {
		t.Fatalf("%d marks for %d fields", len(marks), len(names))
	}
	var sp opSpec
	for i, name := range names {
		f := fieldByName(t, name)
		switch marks[i] {
		case "R":
			sp.required |= fields(f)
		case "O":
			sp.optional |= fields(f)
		case "-":
		default:
			t.Fatalf("mark %q for %s is not R, O or -", marks[i], name)
		}
	}
	return sp
}

func fieldByName(t *testing.T, name string) field {
	t.Helper()
	for f := fieldRecord; f <= maxField; f++ {
		if fieldNames[f] == name {
			return f
		}
	}
	t.Fatalf("doc.go names a field %q the table does not have", name)
	return 0
}

func countDefined() int {
	n := 0
	for op := range opSpecs {
		if _, ok := specOf(Op(op)); ok {
			n++
		}
	}
	return n
}

func TestFieldSetString(t *testing.T) {
	if got := fmt.Sprint(fields(fieldPeer, fieldSealed)); got != "{peer, sealed}" {
		t.Fatal(got)
	}
	if got := fieldTokens.String(); got != "7 (tokens)" {
		t.Fatal(got)
	}
}
