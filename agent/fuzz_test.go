package agent

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// seedSeries returns stored series of an agent (locked) and a token.
func seedSeries(f *testing.F) (agentRec, tokenRec []byte) {
	clk := testkit.NewClock(testkit.Epoch)
	c, err := OpenCounters(f.Context(), CounterConfig{Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 400 {
		clk.Advance(time.Duration(i) * time.Second)
		c.Record(f.Context(), "helper", tokID(1))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, tk := c.agents["helper"], c.tokens[tokID(1)]
	return a.encode("", a.lock), tk.encode("helper", Lock{})
}

// FuzzParseSeries: a stored series either is refused with ErrCorrupt or
// decodes to one that encodes back to the same bytes.
func FuzzParseSeries(f *testing.F) {
	a, tk := seedSeries(f)
	f.Add(a, false)
	f.Add(tk, true)
	f.Add([]byte{0xa0}, false)
	f.Fuzz(func(t *testing.T, b []byte, token bool) {
		s, lock, agent, err := parseSeries(b, token)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("refusal %v is not ErrCorrupt", err)
			}
			return
		}
		if again := s.encode(agent, lock); !bytes.Equal(again, b) {
			t.Fatalf("a parsed series does not encode back:\n%x\n%x", b, again)
		}
		var sec, mins uint64
		for i := range minuteBuckets {
			sec += uint64(s.sec[i])
			mins += uint64(s.min[i])
		}
		if sec != s.secSum || mins != s.minSum {
			t.Fatal("the sums do not match the rings")
		}
		s.advance(time.Unix(s.last+7200, 0))
		s.reference(s.last)
	})
}

// FuzzParseApproval: a stored approval either is refused with ErrCorrupt
// or decodes to one that encodes back to the same bytes and keeps Ask's
// rules.
func FuzzParseApproval(f *testing.F) {
	for _, ap := range []Approval{
		{ID: "0123456789abcdef", Agent: "helper", Request: share, State: Pending, Created: testkit.Epoch, Expires: testkit.Epoch.Add(DefaultApprovalTTL)},
		{ID: "fedcba9876543210", Agent: "helper", Request: Request{Op: OpSecretUse, Resource: "secrets/x", Actions: capability.Use, Target: "a.example"},
			State: Expired, Created: testkit.Epoch, Expires: testkit.Epoch.Add(time.Minute), Decided: testkit.Epoch.Add(time.Minute)},
	} {
		f.Add(ap.encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ap, err := parseApproval(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("refusal %v is not ErrCorrupt", err)
			}
			return
		}
		if again := ap.encode(); !bytes.Equal(again, b) {
			t.Fatalf("a parsed approval does not encode back")
		}
		if checkRequest(ap.Request) != nil || ap.Intent() == "an unknown operation" {
			t.Fatal("a parsed approval breaks the request rules")
		}
	})
}
