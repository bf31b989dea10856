package translog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// proofsFrom serves consistency proofs from l, as the bootstrap would.
func proofsFrom(l *Log) func(old, new uint64) ([][]byte, error) {
	return func(old, new uint64) ([][]byte, error) { return l.ConsistencyProof(old, new) }
}

func mustObserve(t *testing.T, w *Witness, cp *Checkpoint, l *Log, want Outcome) *Fork {
	t.Helper()
	got, f, err := w.Observe(cp, proofsFrom(l))
	if err != nil || got != want {
		t.Fatalf("observed %v (%v), want %v", got, err, want)
	}
	if (f != nil) != (want == OutcomeFork) {
		t.Fatalf("outcome %v with fork %v", got, f)
	}
	return f
}

// checkEvidence checks that f holds both signed checkpoints and survives
// encoding for gossip.
func checkEvidence(t *testing.T, f *Fork, a, b *Checkpoint, kind ForkKind) {
	t.Helper()
	if f.Kind != kind {
		t.Fatalf("fork kind %d, want %d", f.Kind, kind)
	}
	got := [][]byte{f.First.Signed(), f.Second.Signed()}
	if !(bytes.Equal(got[0], a.Signed()) && bytes.Equal(got[1], b.Signed())) &&
		!(bytes.Equal(got[0], b.Signed()) && bytes.Equal(got[1], a.Signed())) {
		t.Fatal("the fork does not hold both signed checkpoints")
	}
	enc, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > MaxForkBytes {
		t.Fatalf("evidence of %d bytes", len(enc))
	}
	dec, err := DecodeFork(enc)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := dec.Encode(); !bytes.Equal(again, enc) || dec.Bootstrap() != a.Bootstrap {
		t.Fatal("the evidence does not round-trip")
	}
}

// diverged returns two logs that share their first prefix leaves and then
// hold bob's record with two different keys.
func diverged(t *testing.T, prefix int) (honest, evil *Log) {
	salt := testSalt(t)
	honest, evil = newLog(t, salt, prefix), newLog(t, salt, prefix)
	ps := testPeers(t)
	real, err := NewLeaf(salt, "bob", ps[1], 1, []byte("bob's record, bob's key")).Encode()
	if err != nil {
		t.Fatal(err)
	}
	subst, err := NewLeaf(salt, "bob", ps[3], 1, []byte("bob's record, the bootstrap's key")).Encode()
	if err != nil {
		t.Fatal(err)
	}
	appendLeaf(t, honest, real)
	appendLeaf(t, evil, subst)
	return honest, evil
}

func TestAnEquivocatingLogIsCaughtByTheWitnessWithBothCheckpointsKept(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	t.Run("two roots for one size", func(t *testing.T) {
		honest, evil := diverged(t, 10)
		seenByBob := checkpoint(t, key, honest, 11)
		seenByAlice := checkpoint(t, key, evil, 11)

		// Alice's lookup of bob verifies against the view she was shown.
		leaf, _ := evil.Leaf(10)
		p, _ := evil.InclusionProof(10, 11)
		if err := VerifyInclusion(seenByAlice, leaf, 10, p); err != nil {
			t.Fatal(err)
		}
		// The first honest peer that sees both raises the alarm.
		w := NewWitness()
		mustObserve(t, w, seenByBob, honest, OutcomeFirst)
		f := mustObserve(t, w, seenByAlice, evil, OutcomeFork)
		checkEvidence(t, f, seenByBob, seenByAlice, ForkSameSize)
		if len(w.Forks()) != 1 || w.Latest(key.ID()) != seenByBob {
			t.Fatal("the witness did not keep the evidence and its latest")
		}
		mustObserve(t, w, seenByAlice, evil, OutcomeFork)
		if len(w.Forks()) != 1 {
			t.Fatal("the same fork was kept twice")
		}
	})
	t.Run("a larger view that does not extend the other", func(t *testing.T) {
		honest, evil := diverged(t, 10)
		appendLeaf(t, evil, leafBytes(t, testSalt(t), "carol", 12))
		a := checkpoint(t, key, honest, 11)
		b := checkpoint(t, key, evil, 12)
		w := NewWitness()
		mustObserve(t, w, a, honest, OutcomeFirst)
		f := mustObserve(t, w, b, evil, OutcomeFork)
		checkEvidence(t, f, a, b, ForkInconsistent)
		if w.Latest(key.ID()) != a {
			t.Fatal("the witness moved to the forked view")
		}
		// Seen the other way round, by a peer that met the evil view first.
		w2 := NewWitness()
		mustObserve(t, w2, b, evil, OutcomeFirst)
		f = mustObserve(t, w2, a, evil, OutcomeFork)
		checkEvidence(t, f, a, b, ForkInconsistent)
	})
}

func TestAHistoryRewriteIsCaught(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	salt := testSalt(t)
	l := newLog(t, salt, 20)
	early := checkpoint(t, key, l, 20)

	// The rewritten log: leaf 5 changed, then grown to 25.
	rw, err := OpenLog(NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		h := fmt.Sprintf("user%d", i)
		if i == 5 {
			h = "rewritten"
		}
		appendLeaf(t, rw, leafBytes(t, salt, h, i))
	}
	late := checkpoint(t, key, rw, 25)
	w := NewWitness()
	mustObserve(t, w, early, l, OutcomeFirst)
	f := mustObserve(t, w, late, rw, OutcomeFork)
	checkEvidence(t, f, early, late, ForkInconsistent)
	if VerifyConsistency(early, late, f.Proof) == nil {
		t.Fatal("the kept proof verifies")
	}
}

func TestAnHonestLogMovesTheWitnessForward(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	l := newLog(t, testSalt(t), 30)
	w := NewWitness()
	cp0, cp10, cp30 := checkpoint(t, key, l, 0), checkpoint(t, key, l, 10), checkpoint(t, key, l, 30)
	mustObserve(t, w, cp0, l, OutcomeFirst)
	mustObserve(t, w, cp10, l, OutcomeAdvanced)
	mustObserve(t, w, cp10, l, OutcomeSame)
	mustObserve(t, w, cp30, l, OutcomeAdvanced)
	mustObserve(t, w, cp10, l, OutcomeOlder)
	if w.Latest(key.ID()) != cp30 || len(w.Forks()) != 0 {
		t.Fatal("the witness is not at the latest checkpoint")
	}
}

func TestFailingToFetchAProofIsNotAFork(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	l := newLog(t, testSalt(t), 8)
	w := NewWitness()
	mustObserve(t, w, checkpoint(t, key, l, 4), l, OutcomeFirst)
	offline := errors.New("the bootstrap is offline")
	_, f, err := w.Observe(checkpoint(t, key, l, 8), func(uint64, uint64) ([][]byte, error) { return nil, offline })
	if !errors.Is(err, offline) || f != nil || w.Latest(key.ID()).Size != 4 {
		t.Fatalf("got %v, %v", f, err)
	}
	// A proof of the wrong shape from the log is a failure to prove.
	_, f, err = w.Observe(checkpoint(t, key, l, 8), func(uint64, uint64) ([][]byte, error) { return [][]byte{{1, 2}}, nil })
	if err != nil || f == nil {
		t.Fatalf("got %v, %v", f, err)
	}
	if _, err := f.Encode(); err != nil {
		t.Fatal(err)
	}
}

func TestAWitnessRefusesUnverifiedCheckpointsAndTooManyLogs(t *testing.T) {
	w := NewWitness()
	if _, _, err := w.Observe(&Checkpoint{Size: 1}, nil); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("a hand-built checkpoint: %v", err)
	}
	l := newLog(t, testSalt(t), 1)
	for i := range MaxWitnessedLogs {
		k := testkit.Key(t, fmt.Sprintf("bootstrap %d", i))
		mustObserve(t, w, checkpoint(t, k, l, 1), l, OutcomeFirst)
	}
	_, _, err := w.Observe(checkpoint(t, testkit.Key(t, "one more"), l, 1), proofsFrom(l))
	if !errors.Is(err, ErrTooManyLogs) {
		t.Fatalf("got %v", err)
	}
}

func TestEvidenceThatShowsNoForkIsRefused(t *testing.T) {
	key, other := testkit.Key(t, "bootstrap"), testkit.Key(t, "other")
	l := newLog(t, testSalt(t), 9)
	a, b := checkpoint(t, key, l, 4), checkpoint(t, key, l, 9)
	good, _ := l.ConsistencyProof(4, 9)
	for name, f := range map[string]*Fork{
		"one checkpoint twice":      {Kind: ForkSameSize, First: a, Second: a},
		"a consistent pair":         {Kind: ForkInconsistent, First: a, Second: b, Proof: good},
		"the larger first":          {Kind: ForkInconsistent, First: b, Second: a},
		"two sizes as one":          {Kind: ForkSameSize, First: a, Second: b},
		"two logs":                  {Kind: ForkSameSize, First: a, Second: checkpoint(t, other, l, 4)},
		"an unknown kind":           {Kind: 9, First: a, Second: b},
		"a hand-built checkpoint":   {Kind: ForkSameSize, First: a, Second: &Checkpoint{Bootstrap: key.ID(), Size: 4}},
		"a checkpoint of size zero": {Kind: ForkInconsistent, First: checkpoint(t, key, l, 0), Second: b},
	} {
		if _, err := f.Encode(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAWitnessObservedConcurrentlyEndsAtTheLatest(t *testing.T) {
	key := testkit.Key(t, "bootstrap")
	l := newLog(t, testSalt(t), 64)
	cps := make([]*Checkpoint, 65)
	for i := range cps {
		cps[i] = checkpoint(t, key, l, uint64(i))
	}
	w := NewWitness()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(cps); i += 4 {
				if o, f, err := w.Observe(cps[i], proofsFrom(l)); err != nil || f != nil || o == OutcomeFork {
					t.Errorf("size %d: %v %v %v", i, o, f, err)
				}
			}
		}()
	}
	wg.Wait()
	if w.Latest(key.ID()) != cps[64] {
		t.Fatalf("the witness ended at %v", w.Latest(key.ID()))
	}
}
