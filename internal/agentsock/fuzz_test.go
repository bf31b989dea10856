package agentsock

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzParseAnswer: the server's decoder of an agent's answer either
// refuses with BadRequest or gives an answer whose fields have their
// forms and which re-encodes to the same bytes; a random answer never
// verifies.
func FuzzParseAnswer(f *testing.F) {
	k := testkit.Key(f, "agent")
	nonce := bytes.Repeat([]byte{1}, NonceLen)
	sig := k.Libp2pPrivKey()
	s, _ := sig.Sign(SignedBytes(nonce, k.ID()))
	good, _ := wire.Marshal(answer{Agent: []byte(k.ID()), Nonce: nonce, Sig: s})
	f.Add(good)
	short, _ := wire.Marshal(answer{Agent: []byte(k.ID()), Nonce: nonce[:31], Sig: s})
	f.Add(short)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAnswer(b)
		if err != nil {
			if !errors.Is(err, wire.BadRequest) {
				t.Fatalf("refusal %v is not BadRequest", err)
			}
			return
		}
		again, err := wire.Marshal(answer{Agent: []byte(a.agent), Nonce: a.nonce[:], Sig: a.sig})
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed answer does not encode back: %v", err)
		}
		if len(a.sig) != 64 {
			t.Fatal("a signature of the wrong length passed")
		}
		if a.verify() && !bytes.Equal(b, good) {
			t.Fatalf("an answer other than the seed verifies: %x", b)
		}
	})
}

// FuzzParseServerFrame: the agent's decoder of the server's frames
// either refuses (BadRequest, or a *HandshakeError for a refusal) or
// gives a frame of its kind that re-encodes to the same bytes.
func FuzzParseServerFrame(f *testing.F) {
	for _, fr := range []serverFrame{
		{Nonce: bytes.Repeat([]byte{2}, NonceLen)},
		{Agent: "helper"},
		{Status: uint64(wire.Unauthorized), Message: "no"},
	} {
		b, _ := wire.Marshal(fr)
		f.Add(b, true)
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, challenge bool) {
		fr, err := parseServerFrame(b, challenge)
		if err != nil {
			var he *HandshakeError
			if errors.As(err, &he) {
				if he.Msg == "" || len(he.Msg) > MaxMessageLen || he.Status == wire.OK {
					t.Fatalf("a refusal without words: %+v", he)
				}
				return
			}
			if !errors.Is(err, wire.BadRequest) {
				t.Fatalf("refusal %v is not BadRequest", err)
			}
			return
		}
		again, err := wire.Marshal(fr)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed frame does not encode back: %v", err)
		}
		if challenge != (len(fr.Nonce) == NonceLen) || challenge == (fr.Agent != "") {
			t.Fatalf("a frame of the other kind passed: %+v", fr)
		}
	})
}
