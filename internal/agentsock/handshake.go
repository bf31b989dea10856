package agentsock

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// Label is the domain label of an agent's answer to a challenge (doc.go
// "Handshake").
const Label = "ocmt-mesh/agent-call/v1"

// serverFrame is both frames the server sends: the challenge (status OK
// and a nonce, or a refusal) and the verdict (status OK and the agent's
// name, or a refusal).
type serverFrame struct {
	Status  uint64 `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint,omitempty"`
	Nonce   []byte `cbor:"3,keyasint,omitempty"`
	Agent   string `cbor:"4,keyasint,omitempty"`
}

// answer is the agent's frame: its key, the nonce it answers and its
// signature.
type answer struct {
	Agent []byte `cbor:"1,keyasint"`
	Nonce []byte `cbor:"2,keyasint"`
	Sig   []byte `cbor:"3,keyasint"`
}

// SignedBytes is what an agent signs: Label, a 0x00 byte, the nonce and
// the agent's peer ID in its byte form.
func SignedBytes(nonce []byte, agent peer.ID) []byte {
	b := make([]byte, 0, len(Label)+1+len(nonce)+len(agent))
	b = append(b, Label...)
	b = append(b, 0)
	b = append(b, nonce...)
	return append(b, agent...)
}

// ErrRefused is wrapped by every refusal of the handshake.
var ErrRefused = errors.New("agentsock: refused")

// HandshakeError is the server's refusal of a connection, in words.
type HandshakeError struct {
	Status wire.Status
	Msg    string
}

func (e *HandshakeError) Error() string { return "the agent socket refused the connection: " + e.Msg }

// Unwrap lets errors.Is see ErrRefused and the status.
func (e *HandshakeError) Unwrap() []error { return []error{ErrRefused, e.Status} }

func refusal(s wire.Status, format string, args ...any) *HandshakeError {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > MaxMessageLen {
		msg = msg[:MaxMessageLen]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	return &HandshakeError{Status: s, Msg: msg}
}

// parseServerFrame decodes a server frame canonically. challenge says
// which of the two it is; a refusal comes back as a *HandshakeError.
func parseServerFrame(b []byte, challenge bool) (*serverFrame, error) {
	var f serverFrame
	if err := wire.UnmarshalCanonical(b, &f); err != nil {
		return nil, err
	}
	bad := func(what string) error { return wire.Errorf(wire.BadRequest, "the agent socket sent a %s", what) }
	if f.Status != uint64(wire.OK) {
		if f.Status > 0xffff || len(f.Nonce) != 0 || f.Agent != "" || f.Message == "" || len(f.Message) > MaxMessageLen {
			return nil, bad("malformed refusal")
		}
		return nil, &HandshakeError{Status: wire.Status(f.Status), Msg: f.Message}
	}
	if f.Message != "" {
		return nil, bad("message with its consent")
	}
	if challenge {
		if len(f.Nonce) != NonceLen || f.Agent != "" {
			return nil, bad("malformed challenge")
		}
	} else if len(f.Nonce) != 0 || f.Agent == "" || len(f.Agent) > MaxMessageLen {
		return nil, bad("malformed verdict")
	}
	return &f, nil
}

// parsedAnswer is a checked answer.
type parsedAnswer struct {
	agent peer.ID
	pub   keys.PeerPublic
	nonce [NonceLen]byte
	sig   []byte
}

// parseAnswer decodes an answer canonically and checks its fields' forms;
// every failure is BadRequest. It does not check the signature.
func parseAnswer(b []byte) (*parsedAnswer, error) {
	var a answer
	if err := wire.UnmarshalCanonical(b, &a); err != nil {
		return nil, err
	}
	if len(a.Nonce) != NonceLen || len(a.Sig) != ed25519.SignatureSize {
		return nil, wire.Errorf(wire.BadRequest, "the answer's nonce or signature has the wrong length")
	}
	id, pub, err := keys.ParsePeerID(a.Agent)
	if err != nil {
		return nil, wire.Errorf(wire.BadRequest, "the answer names no usable Ed25519 agent key")
	}
	p := &parsedAnswer{agent: id, pub: pub, sig: a.Sig}
	copy(p.nonce[:], a.Nonce)
	return p, nil
}

// verify checks the answer's signature over SignedBytes under its key.
func (a *parsedAnswer) verify() bool {
	lp, err := crypto.UnmarshalEd25519PublicKey(a.pub.Bytes())
	if err != nil {
		return false
	}
	ok, err := lp.Verify(SignedBytes(a.nonce[:], a.agent), a.sig)
	return err == nil && ok
}

// clientHandshake runs the agent's side on rw: read the challenge, sign
// it with k, read the verdict. It returns the agent's name.
func clientHandshake(rw io.ReadWriter, k *Key) (string, error) {
	b, err := wire.ReadFrame(rw, maxChallenge)
	if err != nil {
		return "", errors.New("the agent socket closed before it sent its challenge (is the node running?)")
	}
	ch, err := parseServerFrame(b, true)
	if err != nil {
		return "", clientWords(err)
	}
	sig, err := k.priv.Sign(SignedBytes(ch.Nonce, k.id))
	if err != nil {
		return "", errors.New("the agent key could not sign the challenge")
	}
	if err := wire.WriteMsg(rw, maxAnswer, answer{Agent: []byte(k.id), Nonce: ch.Nonce, Sig: sig}); err != nil {
		return "", errors.New("the agent socket closed during the handshake")
	}
	b, err = wire.ReadFrame(rw, maxChallenge)
	if err != nil {
		return "", errors.New("the agent socket closed before it accepted or refused the key")
	}
	v, err := parseServerFrame(b, false)
	if err != nil {
		return "", clientWords(err)
	}
	return v.Agent, nil
}

// clientWords keeps a refusal and words a malformed frame.
func clientWords(err error) error {
	var he *HandshakeError
	if errors.As(err, &he) {
		return he
	}
	return errors.New("the agent socket sent a malformed handshake frame (is it a mesh node's agent socket?)")
}

// equalNonce compares two nonces (neither is secret after it is sent).
func equalNonce(a, b []byte) bool { return bytes.Equal(a, b) }
