package groupvault

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ocmt/mesh/protocols/groupwire"
)

// TestTheAuditChainVerifiesFromTheFirstRecordThroughEveryPage: more
// records than three audit pages hold; the audit op's pages, read from
// the first record, verify with group.Chain and group.Follows, match
// what Publish received in the same order, and the info's head is the
// last record's hash.
func TestTheAuditChainVerifiesFromTheFirstRecordThroughEveryPage(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	g.unlock(time.Hour, alice, bob)
	for i := range 3 * groupwire.MaxAuditPage {
		g.put(alice, fmt.Sprintf("s%03d", i), "v", time.Time{})
		if i%7 == 0 {
			f.clock.Advance(time.Second) // the chain's times move on
		}
	}
	g.get(carol.id, "s000", nil)
	raw, pages := g.audit(carol)
	if pages != 4 {
		t.Fatalf("%d records came in %d pages", len(raw), pages)
	}
	recs := verifyChain(t, f.key.ID(), "smiths", raw)
	pub := f.published()
	if len(pub) != len(raw) {
		t.Fatalf("%d records published, %d in the chain", len(pub), len(raw))
	}
	for i := range raw {
		if !bytes.Equal(pub[i], raw[i]) {
			t.Fatalf("record %d was published differently, or out of order", i+1)
		}
	}
	in := g.info(alice)
	last := recs[len(recs)-1]
	if h := last.Hash(); in.Height != last.Height || !bytes.Equal(in.Head, h[:]) {
		t.Fatalf("info's head %d, the chain's %d", in.Height, last.Height)
	}
	// a page from anywhere continues the chain
	p := f.must(alice.id, groupwire.Request{Op: groupwire.OpAudit, Group: "smiths", From: 100}).(*groupwire.AuditPage)
	if len(p.Records) != groupwire.MaxAuditPage || !bytes.Equal(p.Records[0], raw[99]) || !p.More {
		t.Fatalf("a page from 100: %d records, more %v", len(p.Records), p.More)
	}
	p = f.must(alice.id, groupwire.Request{Op: groupwire.OpAudit, Group: "smiths", From: in.Height + 1}).(*groupwire.AuditPage)
	if len(p.Records) != 0 || p.More {
		t.Fatalf("a page past the head: %d records, more %v", len(p.Records), p.More)
	}
	// every record is signed by the vault, and by nobody else
	if err := recs[0].Verify(alice.id); err == nil {
		t.Fatal("a record verifies under an admin's key")
	}
}

// TestConcurrentRequestsKeepOneChainInOrder: admins and members writing
// and reading at once; each group's chain stays one line, published in
// its order.
func TestConcurrentRequestsKeepOneChainInOrder(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	h := f.create("joneses", 2, time.Hour, "", bob, carol)
	g.unlock(time.Hour, alice, bob)
	h.unlock(time.Hour, bob, carol)
	const each = 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*each)
	for _, w := range []struct {
		g *grp
		a *admin
	}{{g, alice}, {g, carol}, {h, bob}, {h, carol}} {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("%s-%d", w.a.name, i)
				req := groupwire.Request{Op: groupwire.OpPut, Group: w.g.name, Name: name, Value: []byte(name)}
				if _, err := f.s.Handle(f.ctx, w.a.id, &req); err != nil {
					errs <- err
					return
				}
				get := groupwire.Request{Op: groupwire.OpGet, Group: w.g.name, Name: name}
				if out, err := f.s.Handle(f.ctx, w.a.id, &get); err != nil || string(out.(*groupwire.Secret).Value) != name {
					errs <- fmt.Errorf("reading %s: %v", name, err)
					return
				}
				if i%10 == 0 {
					f.s.Sweep(f.ctx)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, gr := range []*grp{g, h} {
		raw, _ := gr.audit(bob)
		verifyChain(t, f.key.ID(), gr.name, raw)
		pubs := f.records(gr.name)
		if len(pubs) != len(raw) {
			t.Fatalf("%s: %d published, %d in the chain", gr.name, len(pubs), len(raw))
		}
		for i, r := range pubs {
			if r.Height != uint64(i+1) {
				t.Fatalf("%s: record %d published at place %d", gr.name, r.Height, i+1)
			}
		}
	}
}

// TestAClockThatGoesBackKeepsTheChainInOrder: records are never dated
// before the head, whatever the vault's clock says.
func TestAClockThatGoesBackKeepsTheChainInOrder(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	g.unlock(time.Hour, alice, bob)
	f.clock.Advance(-10 * time.Minute)
	g.put(alice, "wifi", "v", time.Time{})
	raw, _ := g.audit(alice)
	recs := verifyChain(t, f.key.ID(), "smiths", raw)
	if n := len(recs); !recs[n-1].Time.Equal(recs[n-2].Time) {
		t.Fatalf("the last record is dated %s, the one before %s", recs[n-1].Time, recs[n-2].Time)
	}
}
