package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
)

// TestStrangersCannotFillTheAuditWithRefusals: 40 throwaway identities send
// 10 refused requests each, with paths far over the protocol's cap, to a
// locked node. The owner's audit holds a bounded number of refusal records,
// every refusal is counted in one of them, and no record carries more than
// a clipped path.
func TestStrangersCannotFillTheAuditWithRefusals(t *testing.T) {
	ctx := context.Background()
	h := shortDir(t, "owner")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF()}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	owner := peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}
	const strangers, each = 40, 10
	long := strings.Repeat("a/", 2000) // 4000 bytes, over the 1 KiB cap
	for i := range strangers {
		s := testkit.Host(t, nil)
		if err := s.Connect(ctx, owner); err != nil {
			t.Fatal(err)
		}
		for j := range each {
			req := share.Request{Op: share.OpRead, Path: fmt.Sprintf("%s%d", long, j), Token: []byte("not a token")}
			if err := exchange.Call(ctx, s, n.ID(), share.ID, share.Limits(), req, nil); err == nil {
				t.Fatalf("stranger %d was served", i)
			}
		}
		s.Close()
	}
	n.Close() // flushes the coalescer's summaries

	o, err := Open(ctx, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rep, err := o.Audit(ctx)
	if err != nil || rep.Broken != "" {
		t.Fatal(err, rep.Broken)
	}
	records, counted := 0, 0
	for _, r := range rep.Records {
		if r.Op != OpShareRefused {
			continue
		}
		records++
		if len(r.Target) > auditlimit.MaxText+len("…") || len(r.Detail) > 512 {
			t.Fatalf("a refusal record carries %d + %d bytes: %.80q", len(r.Target), len(r.Detail), r.Target)
		}
		if strings.Contains(r.Detail, "refused requests") {
			var k int
			fmt.Sscanf(r.Detail, "%d", &k)
			counted += k
		} else {
			counted++
		}
	}
	if records == 0 || records > auditlimit.DefaultMaxRecords {
		t.Fatalf("%d refusal records, want between 1 and %d", records, auditlimit.DefaultMaxRecords)
	}
	if counted != strangers*each {
		t.Fatalf("the records count %d refusals, want %d", counted, strangers*each)
	}
}
