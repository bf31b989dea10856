package translog

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// vector is one fixed input. Kind says how to read it: "commitment"
// (Salt, Handle, Want), "leaf" (Hex), "checkpoint" (Text, Bootstrap),
// "proof" (Hex), "fork" (Hex), "inclusion" (Hex is the leaf; Text the
// checkpoint; Index; Proof). OK says whether it must be accepted.
type vector struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	OK        bool     `json:"ok"`
	Hex       string   `json:"hex,omitempty"`
	Text      string   `json:"text,omitempty"`
	Bootstrap string   `json:"bootstrap,omitempty"`
	Salt      string   `json:"salt,omitempty"`
	Handle    string   `json:"handle,omitempty"`
	Want      string   `json:"want,omitempty"`
	Index     uint64   `json:"index,omitempty"`
	Proof     []string `json:"proof,omitempty"`
}

func buildVectors(t *testing.T) []vector {
	key := testkit.Key(t, "bootstrap")
	salt := testSalt(t)
	boot := key.ID().String()
	var vs []vector
	c := salt.Commit("alice")
	vs = append(vs, vector{Name: "the commitment of alice", Kind: "commitment", OK: true,
		Salt: hex.EncodeToString(salt.Bytes()), Handle: "alice", Want: hex.EncodeToString(c[:])})

	l := newLog(t, salt, 7)
	leaf, _ := l.Leaf(5)
	vs = append(vs,
		vector{Name: "a leaf", Kind: "leaf", OK: true, Hex: hex.EncodeToString(leaf)},
		vector{Name: "a leaf of version 2", Kind: "leaf", Hex: hex.EncodeToString(append([]byte{leaf[0], 0x01, 0x02}, leaf[3:]...))},
		vector{Name: "a leaf with a short record hash", Kind: "leaf", Hex: hex.EncodeToString(append(append([]byte(nil), leaf[:len(leaf)-34]...), append([]byte{0x58, 0x1f}, leaf[len(leaf)-31:]...)...))},
		vector{Name: "a leaf with trailing bytes", Kind: "leaf", Hex: hex.EncodeToString(append(append([]byte(nil), leaf...), 0))},
	)
	cp := checkpoint(t, key, l, 7)
	p, _ := l.InclusionProof(5, 7)
	hp := make([]string, len(p))
	for i := range p {
		hp[i] = hex.EncodeToString(p[i])
	}
	vs = append(vs,
		vector{Name: "a checkpoint", Kind: "checkpoint", OK: true, Text: string(cp.Signed()), Bootstrap: boot},
		vector{Name: "a checkpoint of another bootstrap", Kind: "checkpoint", Text: string(cp.Signed()), Bootstrap: testPeers(t)[0].String()},
		vector{Name: "an inclusion proof", Kind: "inclusion", OK: true, Hex: hex.EncodeToString(leaf), Text: string(cp.Signed()), Bootstrap: boot, Index: 5, Proof: hp},
		vector{Name: "an inclusion proof at the wrong index", Kind: "inclusion", Hex: hex.EncodeToString(leaf), Text: string(cp.Signed()), Bootstrap: boot, Index: 4, Proof: hp},
	)
	enc, _ := EncodeProof(p)
	vs = append(vs,
		vector{Name: "a proof", Kind: "proof", OK: true, Hex: hex.EncodeToString(enc)},
		vector{Name: "a proof with a 33-byte hash", Kind: "proof", Hex: "815821" + hex.EncodeToString(make([]byte, 33))},
	)
	honest, evil := diverged(t, 3)
	f := &Fork{Kind: ForkSameSize, First: checkpoint(t, key, honest, 4), Second: checkpoint(t, key, evil, 4)}
	fe, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	same := &Fork{Kind: ForkSameSize, First: f.First, Second: f.First}
	w := forkWire{Version: forkVersion, Kind: uint8(same.Kind), First: same.First.signed, Second: same.Second.signed}
	se, _ := wire.Marshal(w)
	vs = append(vs,
		vector{Name: "fork evidence", Kind: "fork", OK: true, Hex: hex.EncodeToString(fe)},
		vector{Name: "evidence of one checkpoint twice", Kind: "fork", Hex: hex.EncodeToString(se)},
	)
	return vs
}

func TestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/vectors.json", *update, func() []vector { return buildVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			var err error
			switch v.Kind {
			case "commitment":
				s, serr := SaltFromBytes(testkit.VectorBytes(t, v.Salt, nil))
				if serr != nil {
					t.Fatal(serr)
				}
				c := s.Commit(v.Handle)
				if hex.EncodeToString(c[:]) != v.Want {
					err = errors.New("another commitment")
				}
			case "leaf":
				_, err = DecodeLeaf(testkit.VectorBytes(t, v.Hex, nil))
			case "checkpoint":
				_, err = parseFor(v)
			case "proof":
				_, err = DecodeProof(testkit.VectorBytes(t, v.Hex, nil))
			case "fork":
				_, err = DecodeFork(testkit.VectorBytes(t, v.Hex, nil))
			case "inclusion":
				cp, perr := parseFor(v)
				if perr != nil {
					t.Fatal(perr)
				}
				p := make([][]byte, len(v.Proof))
				for i, h := range v.Proof {
					p[i] = testkit.VectorBytes(t, h, nil)
				}
				err = VerifyInclusion(cp, testkit.VectorBytes(t, v.Hex, nil), v.Index, p)
			default:
				t.Fatalf("kind %q", v.Kind)
			}
			if (err == nil) != v.OK {
				t.Fatalf("accepted: %v, want %v (%v)", err == nil, v.OK, err)
			}
		})
	}
}

func parseFor(v vector) (*Checkpoint, error) {
	id, err := keys.DecodePeerID(v.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return ParseCheckpoint([]byte(v.Text), id)
}
