package translog

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"HashSize": HashSize, "SaltSize": SaltSize, "MaxLeafBytes": MaxLeafBytes,
		"MaxCheckpointBytes": MaxCheckpointBytes, "MaxProofHashes": MaxProofHashes,
		"MaxProofBytes": MaxProofBytes, "MaxForkBytes": MaxForkBytes,
		"MaxWitnessedLogs": MaxWitnessedLogs, "MaxForks": MaxForks,
		"leafVersion": leafVersion, "forkVersion": forkVersion,
	})
	testkit.DocSays(t, doc, `HMAC-SHA256(salt, "`+HandleLabel+`" || handle)`, OriginPrefix+"<bootstrap peer ID>",
		"SHA-256(0x00 || leaf)", "SHA-256(0x01 || left || right)", "20 hashes: 640 bytes of hashes, 681 encoded")
}

// TestTheBoundsHoldTheLargestValues builds the largest leaf, checkpoint,
// proof and evidence the package writes and checks each fits its cap.
func TestTheBoundsHoldTheLargestValues(t *testing.T) {
	salt := testSalt(t)
	leaf, err := NewLeaf(salt, strings.Repeat("h", 1000), testPeers(t)[0], math.MaxUint64, []byte("r")).Encode()
	if err != nil || len(leaf) > MaxLeafBytes {
		t.Fatalf("the largest leaf takes %d bytes (%v)", len(leaf), err)
	}
	key := testkit.Key(t, "bootstrap")
	cp, err := SignCheckpoint(key, math.MaxUint64, bytes.Repeat([]byte{0xff}, HashSize))
	if err != nil || len(cp) > MaxCheckpointBytes {
		t.Fatalf("the largest checkpoint takes %d bytes (%v)", len(cp), err)
	}
	p := make([][]byte, MaxProofHashes)
	for i := range p {
		p[i] = make([]byte, HashSize)
	}
	enc, err := EncodeProof(p)
	if err != nil || len(enc) != MaxProofBytes {
		t.Fatalf("the largest proof takes %d bytes, not %d (%v)", len(enc), MaxProofBytes, err)
	}
	if _, err := EncodeProof(append(p, p[0])); err == nil {
		t.Fatal("a proof of too many hashes was encoded")
	}
}

// TestAProofAtAMillionLeavesIsTwentyHashes measures what doc.go states.
func TestAProofAtAMillionLeavesIsTwentyHashes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a log of 10^6 leaves")
	}
	const n = 1_000_000
	l, err := OpenLog(NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	leaf := leafBytes(t, testSalt(t), "someone", 0)
	for range n {
		if _, err := l.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	p, err := l.InclusionProof(123_456, n)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := EncodeProof(p)
	if len(p) != 20 || len(enc) != 681 {
		t.Fatalf("a proof of %d hashes, %d bytes encoded", len(p), len(enc))
	}
	cp := checkpoint(t, testkit.Key(t, "bootstrap"), l, n)
	if err := VerifyInclusion(cp, leaf, 123_456, p); err != nil {
		t.Fatal(err)
	}
	t.Logf("at %d leaves: an inclusion proof of %d hashes, %d bytes encoded; checkpoint %d bytes", n, len(p), len(enc), len(cp.Signed()))
}
