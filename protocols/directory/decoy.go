package directory

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// Decoys (doc.go, "Decoys"): a bootstrap answers a lookup of a handle
// nobody holds with a record that looks like a real one, so that a
// stranger cannot list who is in the directory by asking.

// DecoySecretSize is the size of a bootstrap's decoy secret.
const DecoySecretSize = 32

// Decoy timing (doc.go, "Decoys"): a decoy looks like a node that comes
// online for a moment on some days, as a home node that is mostly off would.
const (
	// DecoyDay is the period of a decoy's possible republishes.
	DecoyDay = 24 * time.Hour
	// DecoyPublishOdds is the chance, out of 256, that a decoy republished
	// on a given day: 37/256, about one day a week.
	DecoyPublishOdds = 37
	// DecoyScanDays is how many days back every derivation looks, found or
	// not, so that the work of a derivation does not depend on the handle
	// (it looks further, up to DecoyMaxDays, in the rare case it found none).
	DecoyScanDays = 32
	// DecoyMaxDays bounds the look back: (219/256)^365 ≈ 10^-25.
	DecoyMaxDays = 365
)

// HMAC labels of the derivations, one per purpose (internal/keys style:
// a domain label and a zero byte before the input).
const (
	decoyKeyLabel = "ocmt-mesh/directory/decoy-key/v1"
	decoyDayLabel = "ocmt-mesh/directory/decoy-day/v1"
)

// DecoyMaker derives the decoy of a handle from a bootstrap's secret. Its
// String never shows the secret.
type DecoyMaker struct {
	secret [DecoySecretSize]byte
}

// NewDecoyMaker copies secret (DecoySecretSize bytes).
func NewDecoyMaker(secret []byte) (*DecoyMaker, error) {
	if len(secret) != DecoySecretSize {
		return nil, fmt.Errorf("directory: a decoy secret is %d bytes, not %d", DecoySecretSize, len(secret))
	}
	m := &DecoyMaker{}
	copy(m.secret[:], secret)
	return m, nil
}

// String hides the secret.
func (m *DecoyMaker) String() string { return "directory.DecoyMaker(<secret>)" }

// GoString hides the secret.
func (m *DecoyMaker) GoString() string { return m.String() }

// Wipe clears the secret.
func (m *DecoyMaker) Wipe() { clear(m.secret[:]) }

// Decoy is a handle's decoy record.
type Decoy struct {
	Handle Handle
	Record *SignedRecord
	// Envelope is Record encoded, as a stored record is.
	Envelope []byte
	Peer     peer.ID
	// Issued is when the decoy was last (notionally) published; its seq
	// is Issued in unix nanoseconds, as SeqAt gives a node.
	Issued time.Time
	// Slot is a secret-derived number, stable per handle, for the
	// bootstrap's bounded memory of the decoys it handed out: an
	// attacker who sees the decoy cannot tell which slot it took.
	Slot uint64
}

func (m *DecoyMaker) mac(label string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, m.secret[:])
	h.Write([]byte(label))
	h.Write([]byte{0})
	for _, p := range parts {
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

// Issued returns when h's decoy was last published as of now: the latest
// instant t ≤ now on a publish day. With kh = HMAC(day label, h), day j
// (unix days) is one when the first byte of SHA-256(kh || j, 8 bytes
// big-endian) is below DecoyPublishOdds, and t is that day's start plus
// the next 8 bytes, big-endian, modulo a day in nanoseconds. (SHA-256 of
// a secret 32-byte key and a fixed-length input is a PRF; one HMAC per
// handle keeps the derivation cheap.) It changes only at its own instant,
// as a republish would.
func (m *DecoyMaker) Issued(h Handle, now time.Time) time.Time {
	var in [sha256.Size + 8]byte
	copy(in[:], m.mac(decoyDayLabel, []byte(h)))
	defer clear(in[:])
	day := int64(DecoyDay)
	today := now.UnixNano() / day
	var found int64 = -1
	for i := int64(0); i < DecoyMaxDays && (i < DecoyScanDays || found < 0); i++ {
		j := today - i
		binary.BigEndian.PutUint64(in[sha256.Size:], uint64(j))
		v := sha256.Sum256(in[:])
		if v[0] >= DecoyPublishOdds {
			continue
		}
		t := j*day + int64(binary.BigEndian.Uint64(v[1:9])%uint64(day))
		if found < 0 && t <= now.UnixNano() {
			found = t
		}
	}
	if found < 0 { // ≈ never: a stable instant all the same
		found = (today - DecoyMaxDays) * day
	}
	if found <= 0 {
		found = 1e9 // a clock before 1970: any fixed valid time
	}
	return time.Unix(0, found).UTC()
}

// Make derives h's decoy as of now, naming relays: a record of the form
// a home node publishes (its name is the handle, its seq SeqAt(issued)),
// signed by the Ed25519 key whose seed is HMAC(key label, h). The same
// handle, relays and issued instant give the same bytes (Ed25519 is
// deterministic), so two lookups agree.
func (m *DecoyMaker) Make(h Handle, relays []ma.Multiaddr, now time.Time) (*Decoy, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	seed := m.mac(decoyKeyLabel, []byte(h))
	k, err := keys.PeerKeyFromSeed(seed)
	slot := binary.BigEndian.Uint64(seed[24:])
	clear(seed)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	issued := m.Issued(h, now)
	sr, err := SignRecord(&k, Record{Handle: h, Relays: relays, Name: string(h), Seq: SeqAt(issued), Issued: issued})
	if err != nil {
		return nil, err
	}
	env, err := sr.Marshal()
	if err != nil {
		return nil, err
	}
	return &Decoy{Handle: h, Record: sr, Envelope: env, Peer: k.ID(), Issued: issued, Slot: slot}, nil
}

// Unverified decodes the envelope's payload and checks every field as
// Verify does, but not the signature: for a store reading back records it
// verified when they were published (a bootstrap counting which relays
// its records name). Never use it on anything read from the network.
func (sr *SignedRecord) Unverified() (*Record, error) {
	if sr == nil || len(sr.Payload) == 0 || len(sr.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload size", ErrBadRecord)
	}
	var p payload
	if err := wire.UnmarshalCanonical(sr.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	return p.record()
}

// CheckRelays reports whether addrs may be a record's relays: at most
// MaxRelays addresses, each of the form "Relay addresses" allows.
func CheckRelays(addrs []ma.Multiaddr) error {
	if len(addrs) > MaxRelays {
		return fmt.Errorf("%w: %d relays, cap %d", ErrBadRecord, len(addrs), MaxRelays)
	}
	for i, a := range addrs {
		if n := len(a.Bytes()); n == 0 || n > MaxAddrBytes {
			return fmt.Errorf("%w: relay %d: %d bytes", ErrBadRecord, i, n)
		}
		if err := checkRelay(a); err != nil {
			return fmt.Errorf("%w: relay %d: %v", ErrBadRecord, i, err)
		}
	}
	return nil
}
