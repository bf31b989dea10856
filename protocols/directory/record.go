package directory

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// RecordVersion is the payload format version this package writes and reads.
const RecordVersion = 1

// Errors a record can fail with. All are *wire.Error so they cross the wire
// with a stable status; match them with errors.Is.
var (
	ErrBadRecord    = &wire.Error{Status: wire.BadRequest, Message: "malformed directory record"}
	ErrBadSignature = &wire.Error{Status: wire.BadRequest, Message: "bad directory record signature"}
)

// Record is a verified (or about-to-be-signed) directory entry.
type Record struct {
	Handle Handle
	Peer   peer.ID
	Relays []ma.Multiaddr
	Name   string
	Seq    uint64
	Issued time.Time // second precision on the wire
}

// payload is the signed wire form of a Record.
type payload struct {
	V      uint64   `cbor:"1,keyasint"`
	Handle string   `cbor:"2,keyasint"`
	Peer   []byte   `cbor:"3,keyasint"`
	Relays [][]byte `cbor:"4,keyasint,omitempty"`
	Name   string   `cbor:"5,keyasint,omitempty"`
	Seq    uint64   `cbor:"6,keyasint"`
	Issued int64    `cbor:"7,keyasint"`
}

// SignedRecord is the envelope that travels and is stored: the exact payload
// bytes that were signed and the signature. Verifiers check the signature
// over these bytes, never over a re-encoding.
type SignedRecord struct {
	Payload []byte `cbor:"1,keyasint"`
	Sig     []byte `cbor:"2,keyasint"`
}

// SeqAt derives a sequence number from a time (unix nanoseconds). A node
// that keeps no counter can sign each new record with SeqAt(now): it grows
// as long as the node's clock does. A node whose clock went backwards gets
// ErrStale from the bootstrap and must wait or keep a counter.
func SeqAt(t time.Time) uint64 {
	if t.UnixNano() <= 0 {
		return 1
	}
	return uint64(t.UnixNano())
}

// SignRecord validates r, fills r.Peer from k when empty, and signs it. A
// record for another peer's ID cannot be signed.
func SignRecord(k *keys.PeerKey, r Record) (*SignedRecord, error) {
	if r.Peer == "" {
		r.Peer = k.ID()
	}
	if r.Peer != k.ID() {
		return nil, fmt.Errorf("%w: record names %s, key is %s", ErrBadRecord, r.Peer, k.ID())
	}
	p := payload{
		V:      RecordVersion,
		Handle: string(r.Handle),
		Peer:   []byte(r.Peer),
		Name:   r.Name,
		Seq:    r.Seq,
		Issued: r.Issued.Unix(),
	}
	for _, a := range r.Relays {
		p.Relays = append(p.Relays, a.Bytes())
	}
	if _, err := p.record(); err != nil {
		return nil, err
	}
	b, err := wire.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload %d bytes, cap %d", ErrBadRecord, len(b), MaxPayloadBytes)
	}
	sig := k.Sign(keys.DirectoryMessage(b))
	return &SignedRecord{Payload: b, Sig: sig[:]}, nil
}

// Verify checks the envelope (sizes, canonical payload, every field, the
// signature under the key inlined in the record's peer ID) and returns the
// record. It does not judge freshness; stores compare Seq and Issued.
func (sr *SignedRecord) Verify() (*Record, error) {
	if sr == nil || len(sr.Payload) == 0 || len(sr.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload size", ErrBadRecord)
	}
	if len(sr.Sig) != len(keys.Signature{}) {
		return nil, fmt.Errorf("%w: signature size", ErrBadSignature)
	}
	var p payload
	if err := wire.UnmarshalCanonical(sr.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	r, err := p.record()
	if err != nil {
		return nil, err
	}
	pub, err := keys.PeerPublicFromID(r.Peer)
	if err != nil {
		return nil, fmt.Errorf("%w: peer ID: %v", ErrBadRecord, err)
	}
	if !pub.Verify(keys.DirectoryMessage(sr.Payload), sr.Sig) {
		return nil, ErrBadSignature
	}
	return r, nil
}

// Marshal encodes the envelope.
func (sr *SignedRecord) Marshal() ([]byte, error) { return wire.Marshal(sr) }

// ParseSignedRecord decodes an envelope strictly (canonical form, size cap)
// and verifies it.
func ParseSignedRecord(b []byte) (*SignedRecord, *Record, error) {
	if len(b) > MaxRecordBytes {
		return nil, nil, fmt.Errorf("%w: envelope %d bytes", ErrBadRecord, len(b))
	}
	var sr SignedRecord
	if err := wire.UnmarshalCanonical(b, &sr); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	r, err := sr.Verify()
	if err != nil {
		return nil, nil, err
	}
	return &sr, r, nil
}

// record validates every field and converts to a Record.
func (p *payload) record() (*Record, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRecord, fmt.Sprintf(format, args...))
	}
	if p.V != RecordVersion {
		return nil, bad("version %d", p.V)
	}
	h := Handle(p.Handle)
	if err := h.Validate(); err != nil {
		return nil, err
	}
	// keys.ParsePeerID: the one canonical Ed25519 form, and a key that
	// passes keys.CheckPeerPublic (no small-order point anyone could sign
	// a record for).
	id, _, err := keys.ParsePeerID(p.Peer)
	if err != nil {
		return nil, bad("peer ID: %v", err)
	}
	if len(p.Relays) > MaxRelays {
		return nil, bad("%d relays, cap %d", len(p.Relays), MaxRelays)
	}
	r := &Record{Handle: h, Peer: id, Name: p.Name, Seq: p.Seq, Issued: time.Unix(p.Issued, 0).UTC()}
	for i, raw := range p.Relays {
		if len(raw) == 0 || len(raw) > MaxAddrBytes {
			return nil, bad("relay %d: %d bytes", i, len(raw))
		}
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil || !bytes.Equal(a.Bytes(), raw) {
			return nil, bad("relay %d: not a multiaddr", i)
		}
		if err := checkRelay(a); err != nil {
			return nil, bad("relay %d: %v", i, err)
		}
		r.Relays = append(r.Relays, a)
	}
	if err := validName(p.Name); err != nil {
		return nil, bad("%v", err)
	}
	if p.Seq == 0 {
		return nil, bad("sequence must be at least 1")
	}
	if p.Issued <= 0 {
		return nil, bad("issued time missing")
	}
	return r, nil
}

// checkRelay holds a relay address to the protocols doc.go allows
// ("Relay addresses"), each with the value rule given there.
func checkRelay(a ma.Multiaddr) error {
	for _, c := range a {
		switch c.Code() {
		case ma.P_IP4, ma.P_IP6, ma.P_TCP, ma.P_UDP, ma.P_QUIC_V1, ma.P_CIRCUIT:
		case ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
			if !validDNSName(c.RawValue()) {
				return fmt.Errorf("%s name %q is not 1–%d letters, digits, '-' and '.'", c.Protocol().Name, c.RawValue(), MaxDNSNameBytes)
			}
		case ma.P_P2P: // a relay anyone can authenticate as is no relay
			if _, _, err := keys.ParsePeerID(c.RawValue()); err != nil {
				return fmt.Errorf("peer ID: %v", err)
			}
		default:
			return fmt.Errorf("protocol %s is not allowed in a relay address", c.Protocol().Name)
		}
	}
	return nil
}

func validDNSName(b []byte) bool {
	if len(b) == 0 || len(b) > MaxDNSNameBytes {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validName(s string) error {
	if len(s) > MaxNameBytes {
		return fmt.Errorf("name %d bytes, cap %d", len(s), MaxNameBytes)
	}
	if !utf8.ValidString(s) {
		return errors.New("name is not UTF-8")
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("name has unprintable %U", c)
		}
	}
	return nil
}

// Handle is a user's public name in the directory: 2–32 characters of
// lowercase ASCII letters, digits, '-' and '_'. There is no case folding or
// Unicode, so two handles that look alike are equal byte for byte.
type Handle string

// ErrBadHandle is returned for a handle outside the allowed form.
var ErrBadHandle = &wire.Error{Status: wire.BadRequest, Message: "invalid handle"}

// ParseHandle validates s as a handle.
func ParseHandle(s string) (Handle, error) {
	h := Handle(s)
	if err := h.Validate(); err != nil {
		return "", err
	}
	return h, nil
}

// Validate reports whether h is well formed.
func (h Handle) Validate() error {
	if len(h) < MinHandleLen || len(h) > MaxHandleLen {
		return fmt.Errorf("%w: %d characters, want %d–%d", ErrBadHandle, len(h), MinHandleLen, MaxHandleLen)
	}
	for i, c := range string(h) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: character %q at %d (use a-z, 0-9, - and _)", ErrBadHandle, c, i)
		}
	}
	return nil
}

// String returns the handle.
func (h Handle) String() string { return string(h) }
