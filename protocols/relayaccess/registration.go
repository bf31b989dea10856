package relayaccess

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// Registration is a node's proof that it is in a bootstrap's directory:
// its own signed directory record and the bootstrap's voucher for that
// record. The bootstrap hands it out (/ocmt/relay-voucher/1) and the node
// presents it to a relay (/ocmt/relay-register/1), which checks it
// without asking the bootstrap (doc.go, "Registrations").
type Registration struct {
	Record  *directory.SignedRecord `cbor:"1,keyasint"`
	Voucher []byte                  `cbor:"2,keyasint"`
	Sig     []byte                  `cbor:"3,keyasint"`
}

// voucher is the payload a bootstrap signs.
type voucher struct {
	V         uint64 `cbor:"1,keyasint"`
	Peer      []byte `cbor:"2,keyasint"`
	Bootstrap []byte `cbor:"3,keyasint"`
	Record    []byte `cbor:"4,keyasint"`
	Issued    int64  `cbor:"5,keyasint"`
	Expires   int64  `cbor:"6,keyasint"`
}

// Vouched is what a verified Registration says.
type Vouched struct {
	Peer      peer.ID
	Bootstrap peer.ID
	Handle    directory.Handle
	Issued    time.Time
	Expires   time.Time
}

// Errors of a registration check, each with the status doc.go gives it.
var (
	ErrBadRegistration = &wire.Error{Status: wire.BadRequest, Message: "malformed registration"}
	ErrNotVouched      = &wire.Error{Status: wire.Forbidden, Message: "registration not vouched for this peer by a trusted bootstrap"}
	ErrVoucherExpired  = &wire.Error{Status: wire.Expired, Message: "voucher outside its validity window"}
)

// VoucherMessage is the byte string a voucher's signature covers:
// VoucherLabel || 0x00 || payload.
func VoucherMessage(payload []byte) []byte {
	b := make([]byte, 0, len(VoucherLabel)+1+len(payload))
	b = append(b, VoucherLabel...)
	b = append(b, 0)
	return append(b, payload...)
}

// SignRegistration vouches for sr as the record the directory of
// bootstrap holds for its peer, from now for ttl. sign signs a message
// with the bootstrap's peer key (Ed25519; the host's libp2p key).
func SignRegistration(sign func([]byte) ([]byte, error), bootstrap peer.ID, sr *directory.SignedRecord, now time.Time, ttl time.Duration) (*Registration, error) {
	rec, err := sr.Verify()
	if err != nil {
		return nil, err
	}
	if ttl <= 0 || ttl > MaxVoucherLifetime {
		return nil, fmt.Errorf("%w: voucher lifetime %v outside (0, %v]", ErrBadRegistration, ttl, MaxVoucherLifetime)
	}
	sum := sha256.Sum256(sr.Payload)
	b, err := wire.Marshal(voucher{V: VoucherVersion, Peer: []byte(rec.Peer), Bootstrap: []byte(bootstrap), Record: sum[:],
		Issued: now.Unix(), Expires: now.Add(ttl).Unix()})
	if err != nil {
		return nil, err
	}
	sig, err := sign(VoucherMessage(b))
	if err != nil {
		return nil, fmt.Errorf("signing the voucher: %w", err)
	}
	return &Registration{Record: sr, Voucher: b, Sig: sig}, nil
}

// Verify checks r for the authenticated peer remote (doc.go,
// "Registrations", steps 3 to 7): the record, the voucher's fields, that
// both name remote and the voucher this very record, that trusted takes
// the voucher's bootstrap, that now is inside the voucher's window and
// that the bootstrap's signature verifies. The error is a *wire.Error.
func (r *Registration) Verify(remote peer.ID, trusted func(peer.ID) bool, now time.Time) (*Vouched, error) {
	if r == nil || r.Record == nil {
		return nil, ErrBadRegistration
	}
	rec, err := r.Record.Verify()
	if err != nil {
		return nil, err
	}
	if rec.Peer != remote {
		return nil, wire.Errorf(wire.Forbidden, "the record is not for the authenticated peer")
	}
	if len(r.Voucher) == 0 || len(r.Voucher) > MaxVoucherBytes {
		return nil, fmt.Errorf("%w: voucher of %d bytes", ErrBadRegistration, len(r.Voucher))
	}
	if len(r.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrBadRegistration, len(r.Sig))
	}
	var v voucher
	if err := wire.UnmarshalCanonical(r.Voucher, &v); err != nil {
		return nil, fmt.Errorf("%w: voucher: %v", ErrBadRegistration, err)
	}
	vp, err := v.check()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(r.Record.Payload)
	switch {
	case vp.Peer != remote:
		return nil, fmt.Errorf("%w: the voucher names another peer", ErrNotVouched)
	case !bytes.Equal(v.Record, sum[:]):
		return nil, fmt.Errorf("%w: the voucher names another record", ErrNotVouched)
	case trusted == nil || !trusted(vp.Bootstrap):
		return nil, fmt.Errorf("%w: bootstrap %s is not one this relay asks", ErrNotVouched, vp.Bootstrap)
	case now.Before(vp.Issued.Add(-directory.MaxClockSkew)) || !now.Before(vp.Expires):
		return nil, ErrVoucherExpired
	}
	pub, err := keys.PeerPublicFromID(vp.Bootstrap)
	if err != nil { // checked in v.check; a key that cannot verify verifies nothing
		return nil, ErrNotVouched
	}
	if !ed25519.Verify(pub.Bytes(), VoucherMessage(r.Voucher), r.Sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrNotVouched)
	}
	vp.Handle = rec.Handle
	return vp, nil
}

// check validates the voucher's fields (doc.go, "Vouchers").
func (v *voucher) check() (*Vouched, error) {
	bad := func(what string) error { return fmt.Errorf("%w: voucher %s", ErrBadRegistration, what) }
	if v.V != VoucherVersion {
		return nil, bad("version")
	}
	p, _, err := keys.ParsePeerID(v.Peer)
	if err != nil {
		return nil, bad("peer")
	}
	b, _, err := keys.ParsePeerID(v.Bootstrap)
	if err != nil {
		return nil, bad("bootstrap")
	}
	if len(v.Record) != sha256.Size {
		return nil, bad("record hash")
	}
	if v.Issued <= 0 || v.Expires <= v.Issued || v.Expires-v.Issued > int64(MaxVoucherLifetime/time.Second) {
		return nil, bad("window")
	}
	return &Vouched{Peer: p, Bootstrap: b, Issued: time.Unix(v.Issued, 0).UTC(), Expires: time.Unix(v.Expires, 0).UTC()}, nil
}

// Window returns the voucher's issued and expiry times without checking
// anything else (the node's keeper uses them to know when to ask for a new
// one); zero when it does not decode.
func (r *Registration) Window() (issued, expires time.Time) {
	var v voucher
	if r == nil || wire.UnmarshalCanonical(r.Voucher, &v) != nil {
		return time.Time{}, time.Time{}
	}
	return time.Unix(v.Issued, 0).UTC(), time.Unix(v.Expires, 0).UTC()
}

// Expires returns the voucher's expiry, as Window.
func (r *Registration) Expires() time.Time { _, e := r.Window(); return e }

var errNoSigner = errors.New("relayaccess: VoucherConfig.Sign and Lookup are required")
