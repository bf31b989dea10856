package translog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/wire"
)

// Outcome is what Observe concluded about a checkpoint.
type Outcome int

// The outcomes of Observe.
const (
	// OutcomeFirst: the first checkpoint seen of this log, now the latest.
	OutcomeFirst Outcome = iota + 1
	// OutcomeSame: the latest checkpoint again (same size and root).
	OutcomeSame
	// OutcomeAdvanced: a larger tree, proven consistent; now the latest.
	OutcomeAdvanced
	// OutcomeOlder: a smaller tree, proven a prefix of the latest.
	OutcomeOlder
	// OutcomeFork: the log showed two views; the Fork holds the evidence.
	OutcomeFork
)

func (o Outcome) String() string {
	switch o {
	case OutcomeFirst:
		return "first"
	case OutcomeSame:
		return "same"
	case OutcomeAdvanced:
		return "advanced"
	case OutcomeOlder:
		return "older"
	case OutcomeFork:
		return "fork"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// ErrTooManyLogs is returned when a Witness already follows
// MaxWitnessedLogs logs and sees a checkpoint of another.
var ErrTooManyLogs = errors.New("translog: the witness follows too many logs")

// ForkKind says what the evidence shows.
type ForkKind uint8

const (
	// ForkSameSize: two checkpoints of one size with different roots. The
	// two signatures alone prove the fork to anyone.
	ForkSameSize ForkKind = 1
	// ForkInconsistent: a smaller and a larger checkpoint for which the
	// log gave a consistency proof that does not verify (kept in Proof).
	// Anyone can re-check by asking the log for a proof between the two
	// sizes: an honest log always has one.
	ForkInconsistent ForkKind = 2
)

// Fork is evidence that a bootstrap signed two views of its log.
type Fork struct {
	Kind ForkKind
	// First and Second are the two checkpoints; for ForkInconsistent,
	// First is the smaller tree.
	First, Second *Checkpoint
	// Proof is the consistency proof the log gave that failed
	// (ForkInconsistent only).
	Proof [][]byte
}

// Bootstrap is the log's bootstrap peer.
func (f *Fork) Bootstrap() peer.ID { return f.First.Bootstrap }

type forkWire struct {
	Version uint64   `cbor:"1,keyasint"`
	Kind    uint8    `cbor:"2,keyasint"`
	First   []byte   `cbor:"3,keyasint"`
	Second  []byte   `cbor:"4,keyasint"`
	Proof   [][]byte `cbor:"5,keyasint,omitempty"`
}

// Encode returns the evidence as canonical CBOR, for a gossip message or
// an alarm.
func (f *Fork) Encode() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return wire.Marshal(forkWire{Version: forkVersion, Kind: uint8(f.Kind), First: f.First.signed, Second: f.Second.signed, Proof: f.Proof})
}

// DecodeFork parses and checks fork evidence: both checkpoints verify
// against the bootstrap their origin names, and they do show a fork.
func DecodeFork(b []byte) (*Fork, error) {
	if len(b) > MaxForkBytes {
		return nil, fmt.Errorf("%w: fork evidence of %d bytes (at most %d)", ErrMalformed, len(b), MaxForkBytes)
	}
	var w forkWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: fork evidence: %v", ErrMalformed, err)
	}
	if w.Version != forkVersion {
		return nil, fmt.Errorf("%w: fork evidence version %d", ErrMalformed, w.Version)
	}
	first, err := parseAnyCheckpoint(w.First)
	if err != nil {
		return nil, err
	}
	second, err := ParseCheckpoint(w.Second, first.Bootstrap)
	if err != nil {
		return nil, err
	}
	f := &Fork{Kind: ForkKind(w.Kind), First: first, Second: second, Proof: w.Proof}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// check reports whether the evidence shows a fork.
func (f *Fork) check() error {
	if f.First == nil || f.Second == nil || f.First.signed == nil || f.Second.signed == nil {
		return fmt.Errorf("%w: fork evidence without two verified checkpoints", ErrMalformed)
	}
	if f.First.Bootstrap != f.Second.Bootstrap {
		return fmt.Errorf("%w: fork evidence about two logs", ErrMalformed)
	}
	switch f.Kind {
	case ForkSameSize:
		if f.First.Size != f.Second.Size || f.First.Root == f.Second.Root || len(f.Proof) != 0 {
			return fmt.Errorf("%w: not two roots for one size", ErrMalformed)
		}
	case ForkInconsistent:
		if f.First.Size >= f.Second.Size {
			return fmt.Errorf("%w: the first checkpoint is not the smaller", ErrMalformed)
		}
		if err := checkProofShape(f.Proof); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if VerifyConsistency(f.First, f.Second, f.Proof) == nil {
			return fmt.Errorf("%w: the proof shows the checkpoints consistent", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: fork kind %d", ErrMalformed, f.Kind)
	}
	return nil
}

// Witness keeps the latest verified checkpoint of each bootstrap's log and
// catches a log that shows two views. It is safe for concurrent use.
type Witness struct {
	mu     sync.Mutex
	latest map[peer.ID]*Checkpoint
	forks  []*Fork
}

// NewWitness returns a Witness that has seen nothing. To resume after a
// restart, Observe the checkpoint persisted from Latest.
func NewWitness() *Witness { return &Witness{latest: map[peer.ID]*Checkpoint{}} }

// Latest returns the latest verified checkpoint of bootstrap's log, or nil.
func (w *Witness) Latest(bootstrap peer.ID) *Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest[bootstrap]
}

// Forks returns the evidence kept so far (at most MaxForks).
func (w *Witness) Forks() []*Fork {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Fork(nil), w.forks...)
}

// Observe checks cp against the latest checkpoint of its log. consistency
// fetches a consistency proof from the log between two sizes (old < new);
// it is called without the Witness's lock held. An error from it is
// returned as is and leaves the Witness unchanged: failing to fetch a
// proof is not evidence. A fetched proof that does not verify is.
func (w *Witness) Observe(cp *Checkpoint, consistency func(old, new uint64) ([][]byte, error)) (Outcome, *Fork, error) {
	if cp == nil || cp.signed == nil {
		return 0, nil, fmt.Errorf("%w: not a parsed checkpoint", ErrBadCheckpoint)
	}
	for {
		w.mu.Lock()
		prev, known := w.latest[cp.Bootstrap]
		if !known {
			if len(w.latest) >= MaxWitnessedLogs {
				w.mu.Unlock()
				return 0, nil, ErrTooManyLogs
			}
			w.latest[cp.Bootstrap] = cp
			w.mu.Unlock()
			return OutcomeFirst, nil, nil
		}
		if prev.Size == cp.Size {
			defer w.mu.Unlock()
			if prev.Root == cp.Root {
				return OutcomeSame, nil, nil
			}
			return OutcomeFork, w.recordLocked(&Fork{Kind: ForkSameSize, First: prev, Second: cp}), nil
		}
		w.mu.Unlock()

		small, large := prev, cp
		if cp.Size < prev.Size {
			small, large = cp, prev
		}
		var p [][]byte
		if small.Size > 0 {
			var err error
			if p, err = consistency(small.Size, large.Size); err != nil {
				return 0, nil, fmt.Errorf("translog: fetching a consistency proof from %d to %d: %w", small.Size, large.Size, err)
			}
		}
		verr := VerifyConsistency(small, large, p)

		w.mu.Lock()
		if w.latest[cp.Bootstrap] != prev {
			// Another Observe moved the log on meanwhile: check again
			// against the new latest.
			w.mu.Unlock()
			continue
		}
		defer w.mu.Unlock()
		if verr != nil {
			if checkProofShape(p) != nil {
				// Keep evidence encodable: an empty proof never
				// verifies between two non-empty sizes either.
				p = nil
			}
			return OutcomeFork, w.recordLocked(&Fork{Kind: ForkInconsistent, First: small, Second: large, Proof: p}), nil
		}
		if large == cp {
			w.latest[cp.Bootstrap] = cp
			return OutcomeAdvanced, nil, nil
		}
		return OutcomeOlder, nil, nil
	}
}

func (w *Witness) recordLocked(f *Fork) *Fork {
	for _, g := range w.forks {
		if bytes.Equal(g.First.signed, f.First.signed) && bytes.Equal(g.Second.signed, f.Second.signed) {
			return g
		}
	}
	if len(w.forks) < MaxForks {
		w.forks = append(w.forks, f)
	}
	return f
}
