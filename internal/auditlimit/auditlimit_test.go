package auditlimit

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

type recorder struct {
	mu  sync.Mutex
	got []Event
}

func (r *recorder) record(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, e)
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

// TestManyIdentitiesWriteABoundedAudit: 10,000 throwaway peers, each
// refused 5 times in one window, leave at most MaxRecords records, and
// every refusal is counted in one of them.
func TestManyIdentitiesWriteABoundedAudit(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	var r recorder
	c := New(Config{Record: r.record, Now: clock.Now, Window: time.Hour, MaxRecords: 64, MaxPeers: 100})
	const peers, each = 10_000, 5
	for i := range peers {
		for range each {
			c.Add(fmt.Sprintf("peer-%d", i), "read", "calendar/x", "Forbidden")
		}
	}
	c.Close()
	got := r.events()
	if len(got) > 64 {
		t.Fatalf("%d records for one window, want at most 64", len(got))
	}
	total := 0
	for _, e := range got {
		total += e.Count
	}
	if total != peers*each {
		t.Fatalf("the records count %d refusals, want %d", total, peers*each)
	}
	if last := got[len(got)-1]; last.Peer != "" || !strings.Contains(last.String(), "peers not named") {
		t.Fatalf("the last record is %+v, want the summary of the rest", last)
	}
}

// TestOnePeerIsRecordedThenSummarised: the first refusals of a window are
// recorded as they come; the rest become one summary at the window's end.
func TestOnePeerIsRecordedThenSummarised(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	var r recorder
	c := New(Config{Record: r.record, Now: clock.Now, Window: time.Minute, MaxRecords: 4})
	defer c.Close()
	for range 10 {
		c.Add("mallory", "read", "x", "Forbidden")
	}
	if n := len(r.events()); n != 2 {
		t.Fatalf("%d recorded at once, want 2 (half the budget)", n)
	}
	clock.Advance(time.Minute)
	c.Add("mallory", "read", "x", "Forbidden") // the next window's first
	got := r.events()
	if len(got) != 4 || !got[2].Summary() || got[2].Count != 8 || got[3].Summary() {
		t.Fatalf("records %+v, want 2 events, a summary of 8, then the new window's first", got)
	}
	if s := got[2].String(); !strings.Contains(s, "8 refused requests") {
		t.Fatalf("summary reads %q", s)
	}
}

func TestWindowsEndWithoutNewEvents(t *testing.T) {
	var r recorder
	c := New(Config{Record: r.record, Window: 20 * time.Millisecond, MaxRecords: 2})
	defer c.Close()
	c.Add("mallory", "read", "x", "Forbidden")
	c.Add("mallory", "read", "x", "Forbidden")
	testkit.Eventually(t, 5*time.Second, func() bool { return len(r.events()) == 2 }, "the window's summary is written on time")
}

func TestClipBoundsAndEscapes(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	if got := Clip(long); len(got) > MaxText+len("…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("Clip(400 bytes) = %d bytes %q", len(got), got)
	}
	if got := Clip("a\nb\x00\xff"); strings.ContainsAny(got, "\n\x00") || got != `a\nb\x00\xff` {
		t.Fatalf("control bytes kept: %q", got)
	}
	if got := Clip("calendar/work"); got != "calendar/work" {
		t.Fatalf("a plain path changed: %q", got)
	}
}
