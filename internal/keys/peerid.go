package keys

import (
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// CheckPeerPublic is the one check every Ed25519 peer public key passes
// before the mesh uses it: as a token's issuer or audience, a revoker, a
// directory record's peer, a sealing recipient, a peer ID typed by a user.
// Every constructor of PeerPublic and every peer-ID parser in this package
// calls it, and PeerPublic.Verify calls it again. It refuses
//
//   - a length other than 32 bytes (ErrNotEd25519);
//   - a non-canonical encoding, y ≥ p = 2²⁵⁵ − 19 (ErrBadPeerKey). The
//     standard library decodes y ≥ p as y − p, so such a key would be a
//     second name, and a second peer ID, for the key with y − p;
//   - the eight points of small order, those with [8]P = O, under either
//     sign bit (ErrBadPeerKey). The sign bit on the two points with x = 0
//     is the other non-canonical encoding, and those points are among the
//     eight. Under a small-order key A, crypto/ed25519's cofactorless
//     check [S]B = R + [k]A holds for R = [S]B whenever [k]A = O, which a
//     forger hits at once for the identity and one time in eight at worst:
//     anyone can sign for such a "peer", and libp2p would authenticate him
//     as it.
//
// The small-order test compares the encoding's y (sign bit cleared) with
// the five y coordinates of the eight points, as libsodium does, rather
// than decompressing the point and computing [8]P: decompression is a
// field exponentiation, 6–8 µs, paid on every key of every token
// decoded. The list is complete because the torsion subgroup of
// edwards25519 has exactly eight elements; the tests derive them from the
// definition with filippo.io/edwards25519 and compare.
//
// It does not refuse 32 bytes that are not a curve point at all (about
// half of all strings): crypto/ed25519 fails every signature under them,
// libp2p cannot authenticate a peer with one, and peerseal fails to convert
// one, so no one can act as such a peer. Nor does it refuse points with a
// small-order component (A + T, A of prime order): signing for one takes
// A's discrete logarithm, so it is a key of whoever made it, and honest
// key generation never produces one; telling them apart costs a full
// scalar multiplication.
func CheckPeerPublic(raw []byte) error {
	if len(raw) != ed25519.PublicKeySize {
		return ErrNotEd25519
	}
	if !canonicalY(raw) {
		return errNonCanonical
	}
	if hasSmallOrder(raw) {
		return errSmallOrder
	}
	return nil
}

var (
	errNonCanonical = fmt.Errorf("%w: non-canonical encoding (y ≥ 2^255 − 19)", ErrBadPeerKey)
	errSmallOrder   = fmt.Errorf("%w: a point of small order, anyone can sign for it", ErrBadPeerKey)
	errPeerIDForm   = fmt.Errorf("%w: not a canonical Ed25519 peer ID (identity multihash of the protobuf key)", ErrNotEd25519)
)

// canonicalY reports whether the 255-bit little-endian y is below
// p = 2²⁵⁵ − 19: y ≥ p only if bytes 1 to 30 are 0xff, the top byte without
// the sign bit is 0x7f and the low byte is at least 0xed.
func canonicalY(raw []byte) bool {
	if raw[31]&0x7f != 0x7f || raw[0] < 0xed {
		return true
	}
	for _, b := range raw[1:31] {
		if b != 0xff {
			return true
		}
	}
	return false
}

// smallOrderY holds the y coordinates of the eight points with [8]P = O,
// canonical and little-endian, sign bit clear: y = 1 (the identity),
// y = p − 1 (order 2), y = 0 (the two points of order 4), and the two y
// of the four points of order 8.
var smallOrderY = [5][32]byte{
	{0x01},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
}

// hasSmallOrder reports whether a canonical encoding is one of the eight
// small-order points, whatever its sign bit.
func hasSmallOrder(raw []byte) bool {
	for i := range smallOrderY {
		y := &smallOrderY[i]
		if raw[31]&0x7f == y[31] && string(raw[:31]) == string(y[:31]) {
			return true
		}
	}
	return false
}

// peerIDPrefix starts every Ed25519 peer ID with the key inlined: the
// identity multihash (code 0x00, length 36) of the protobuf PublicKey
// {Type (field 1) = Ed25519 (1), Data (field 2) = 32 bytes}. libp2p writes
// exactly these bytes for every Ed25519 key.
const peerIDPrefix = "\x00\x24\x08\x01\x12\x20"

// PeerIDLen is the length of an Ed25519 peer ID in its canonical form.
const PeerIDLen = len(peerIDPrefix) + ed25519.PublicKeySize

// ParsePeerID parses a peer ID from its bytes (as carried in tokens,
// revocations, directory records and protocol messages). It accepts only
// the canonical Ed25519 form, PeerIDLen bytes, so that each key has one
// peer ID, and a key that passes CheckPeerPublic. It never decodes
// protobuf or multihash.
func ParsePeerID(b []byte) (peer.ID, PeerPublic, error) {
	id := peer.ID(b)
	p, err := publicOfID(string(id))
	if err != nil {
		return "", PeerPublic{}, err
	}
	return id, p, nil
}

// DecodePeerID parses the text form of a peer ID (base58btc or CID, as
// peer.Decode does) and applies ParsePeerID's rules to its bytes. Use it
// instead of peer.Decode wherever a peer ID comes from outside.
func DecodePeerID(s string) (peer.ID, error) {
	id, err := peer.Decode(s)
	if err != nil {
		return "", err
	}
	if err := CheckPeerID(id); err != nil {
		return "", err
	}
	return id, nil
}

// PeerIDFromBytes is ParsePeerID for callers that need only the ID: use it
// instead of peer.IDFromBytes wherever a peer ID comes from outside.
func PeerIDFromBytes(b []byte) (peer.ID, error) {
	id, _, err := ParsePeerID(b)
	return id, err
}

// CheckPeerID applies ParsePeerID's rules to a peer.ID, for IDs that came
// from somewhere else (a libp2p connection, a multiaddr).
func CheckPeerID(id peer.ID) error {
	_, err := publicOfID(string(id))
	return err
}

func publicOfID(s string) (PeerPublic, error) {
	if len(s) != PeerIDLen || s[:len(peerIDPrefix)] != peerIDPrefix {
		return PeerPublic{}, errPeerIDForm
	}
	raw := s[len(peerIDPrefix):]
	var p PeerPublic
	copy(p.pub[:], raw)
	if err := CheckPeerPublic(p.pub[:]); err != nil {
		return PeerPublic{}, err
	}
	return p, nil
}
