package group

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzParseApproval: bytes are refused with ErrMalformed or decode to an
// approval that encodes back to the same bytes.
func FuzzParseApproval(f *testing.F) {
	fx := deal(f, "board", 2, 3)
	a, _ := fx.approval(f, 0, time.Hour)
	enc, err := a.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte{0xa0})
	f.Add(enc[:len(enc)-1])
	_, d := fx.proposal()
	if enc, err := fx.changeApproval(f, 1, d).Encode(); err == nil {
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseApproval(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		again, err := a.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed approval does not encode back: %v\n%x\n%x", err, b, again)
		}
		_ = Verify(fx.d.Commitments, a, a.Time)
	})
}

// FuzzParseShare: bytes are refused with ErrMalformed or decode to a
// share that encodes back to the same bytes and is checked without a
// panic.
func FuzzParseShare(f *testing.F) {
	fx := deal(f, "board", 2, 3)
	for _, s := range fx.d.Shares {
		f.Add(s.Encode())
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShare(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if again := s.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("a parsed share does not encode back:\n%x\n%x", b, again)
		}
		_ = VerifyShare(fx.d.Commitments, s)
	})
}

// FuzzParseCommitments: bytes are refused with ErrMalformed or decode to
// commitments that encode back to the same bytes.
func FuzzParseCommitments(f *testing.F) {
	fx := deal(f, "board", 2, 3)
	f.Add(fx.d.Commitments.Encode())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommitments(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(c.Encode(), b) {
			t.Fatal("parsed commitments do not encode back")
		}
		_, _ = Recover(c, fx.d.Shares)
	})
}

// FuzzParseRecord: bytes are refused with ErrMalformed or decode to an
// audit record that encodes back to the same bytes and is verified
// without a panic.
func FuzzParseRecord(f *testing.F) {
	vault := testkit.Key(f, "vault")
	recs := auditLog(f, vault, "board", 2)
	for _, r := range recs {
		f.Add(r.Encode())
	}
	withActor, enc, err := SignRecord(vault, Record{Group: "board", Height: 3, Prev: recs[1].Hash(), Time: testkit.Epoch,
		Kind: "member.add", Actor: vault.ID(), Detail: "é"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("a parsed record does not encode back:\n%x\n%x", b, r.Encode())
		}
		_ = r.Verify(vault.ID())
		_ = Follows(withActor, r)
		_, _ = NewChain(vault.ID(), "board").Add(r)
	})
}

// FuzzOpenSecret: bytes are refused with ErrMalformed or ErrSealed, or
// open, never panicking; a parsed sealed secret encodes back to the same
// bytes.
func FuzzOpenSecret(f *testing.F) {
	k := groupKey(f, "board")
	for _, rel := range []time.Time{{}, testkit.Epoch} {
		b, err := SealSecret(k, "board", "db/root", rel, []byte("value"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := parseSealed(b)
		if err == nil {
			again, _ := wire.Marshal(w)
			if !bytes.Equal(again, b) {
				t.Fatalf("a parsed sealed secret does not encode back:\n%x\n%x", b, again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("refusal %v is not ErrMalformed", err)
		}
		v, rel, err := OpenSecret(k, "board", "db/root", b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSealed) {
				t.Fatalf("refusal %v is neither ErrMalformed nor ErrSealed", err)
			}
			return
		}
		if string(v) != "value" || !(rel.IsZero() || rel.Equal(testkit.Epoch)) {
			t.Fatalf("fuzzed bytes opened to %q at %v", v, rel)
		}
	})
}

// FuzzParseSchedule: text is refused with ErrBadSchedule or parses to a
// schedule whose String parses to the same schedule, and whose questions
// answer without a panic, End never before its time.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"", "mon-fri 08:00-18:00", "sat,sun 10:00-12:00 +01:00", "fri 22:00-02:00 -05:00; mon 00:00-24:00 UTC",
		"fri-mon 00:00-00:00", "mon-sun 22:00-02:00; mon-sun 02:00-22:00"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, sec int64) {
		sc, err := ParseSchedule(s)
		if err != nil {
			if !errors.Is(err, ErrBadSchedule) {
				t.Fatalf("refusal %v is not ErrBadSchedule", err)
			}
			return
		}
		again, err := ParseSchedule(sc.String())
		if err != nil || !reflect.DeepEqual(again, sc) || again.String() != sc.String() {
			t.Fatalf("%q prints as %q, which parses to %q (%v)", s, sc.String(), again.String(), err)
		}
		now := testkit.Epoch.Add(time.Duration(sec%(1<<40)) * time.Second)
		if sc.Allows(now) {
			if end := sc.End(now); !end.After(now) {
				t.Fatalf("%q at %s: End %s", s, now, end)
			}
		} else if next := sc.Next(now); !next.After(now) || next.Sub(now) > 8*24*time.Hour || !sc.Allows(next) {
			t.Fatalf("%q at %s: Next %s", s, now, next)
		}
	})
}
