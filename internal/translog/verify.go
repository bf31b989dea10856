package translog

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/ocmt/mesh/internal/wire"
)

// ErrProof is returned when a proof does not verify.
var ErrProof = errors.New("translog: the proof does not verify")

func checkProofShape(p [][]byte) error {
	if len(p) > MaxProofHashes {
		return fmt.Errorf("%w: %d hashes (at most %d)", ErrProof, len(p), MaxProofHashes)
	}
	for _, h := range p {
		if len(h) != HashSize {
			return fmt.Errorf("%w: a hash of %d bytes", ErrProof, len(h))
		}
	}
	return nil
}

// VerifyInclusion checks that leaf (encoded, as the log stores it) is at
// index in the tree cp signs.
func VerifyInclusion(cp *Checkpoint, leaf []byte, index uint64, p [][]byte) error {
	if cp == nil || cp.signed == nil {
		return fmt.Errorf("%w: no verified checkpoint", ErrProof)
	}
	if err := checkProofShape(p); err != nil {
		return err
	}
	if err := proof.VerifyInclusion(hasher, index, cp.Size, hasher.HashLeaf(leaf), p, cp.Root[:]); err != nil {
		return fmt.Errorf("%w: inclusion of leaf %d in size %d: %v", ErrProof, index, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree old signs is a prefix of the tree
// newer signs. Both must be checkpoints of the same log.
func VerifyConsistency(old, newer *Checkpoint, p [][]byte) error {
	if old == nil || newer == nil || old.signed == nil || newer.signed == nil {
		return fmt.Errorf("%w: no verified checkpoint", ErrProof)
	}
	if old.Bootstrap != newer.Bootstrap {
		return fmt.Errorf("%w: checkpoints of two logs", ErrProof)
	}
	if err := checkProofShape(p); err != nil {
		return err
	}
	if err := proof.VerifyConsistency(hasher, old.Size, newer.Size, p, old.Root[:], newer.Root[:]); err != nil {
		return fmt.Errorf("%w: consistency of size %d with %d: %v", ErrProof, old.Size, newer.Size, err)
	}
	return nil
}

// EncodeProof encodes a proof as a CBOR array of byte strings.
func EncodeProof(p [][]byte) ([]byte, error) {
	if err := checkProofShape(p); err != nil {
		return nil, err
	}
	if p == nil {
		p = [][]byte{}
	}
	return wire.Marshal(p)
}

// DecodeProof parses an encoded proof; only the canonical encoding of at
// most MaxProofHashes hashes of HashSize bytes is accepted.
func DecodeProof(b []byte) ([][]byte, error) {
	if len(b) > MaxProofBytes {
		return nil, fmt.Errorf("%w: a proof of %d bytes (at most %d)", ErrMalformed, len(b), MaxProofBytes)
	}
	var p [][]byte
	if err := wire.UnmarshalCanonical(b, &p); err != nil {
		return nil, fmt.Errorf("%w: proof: %v", ErrMalformed, err)
	}
	if err := checkProofShape(p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return p, nil
}
