package recovery

import (
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// EscrowMeta is the escrow method's meta: the institution's age recipient
// and signing key, the recovery key sealed to the recipient, the waiting
// period, and the owner.
type EscrowMeta struct {
	Version     uint64 `cbor:"1,keyasint"`
	Recipient   string `cbor:"2,keyasint"`
	Institution []byte `cbor:"3,keyasint"`
	Sealed      []byte `cbor:"4,keyasint"`
	Wait        int64  `cbor:"5,keyasint"`
	Owner       []byte `cbor:"6,keyasint"`
}

// EnableEscrow draws a recovery key and seals it to the institution's age
// recipient; institution is the peer ID whose key signs release
// statements.
func EnableEscrow(owner peer.ID, recipient string, institution peer.ID, wait, minWait time.Duration) (*[32]byte, []byte, error) {
	if err := checkWait(wait, minWait); err != nil {
		return nil, nil, err
	}
	if _, err := keys.PeerPublicFromID(institution); err != nil {
		return nil, nil, fmt.Errorf("recovery: the institution's key %s is not an Ed25519 peer ID", institution)
	}
	rk, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sealed, err := sealTo(recipient, rk)
	if err != nil {
		return nil, nil, err
	}
	meta, err := wire.Marshal(EscrowMeta{Version: version, Recipient: strings.TrimSpace(recipient), Institution: []byte(institution),
		Sealed: sealed, Wait: int64(wait / time.Second), Owner: []byte(owner)})
	return rk, meta, err
}

// ParseEscrowMeta decodes and checks the escrow method's meta.
func ParseEscrowMeta(b []byte) (*EscrowMeta, peer.ID, error) {
	var m EscrowMeta
	if len(b) > maxMetaBytes || wire.UnmarshalCanonical(b, &m) != nil || m.Version != version || len(m.Sealed) == 0 ||
		len(m.Sealed) > maxSealedBytes || m.Wait <= 0 || m.Wait > int64(MaxWait/time.Second) {
		return nil, "", fmt.Errorf("%w: escrow meta", ErrMalformed)
	}
	inst, _, err := keys.ParsePeerID(m.Institution)
	if err != nil {
		return nil, "", fmt.Errorf("%w: escrow meta's institution", ErrMalformed)
	}
	if _, _, err := keys.ParsePeerID(m.Owner); err != nil {
		return nil, "", fmt.Errorf("%w: escrow meta's owner", ErrMalformed)
	}
	return &m, inst, nil
}

// EscrowRequestBody is what the owner sends the institution
// (KindEscrowRequest, signed by the owner's peer key): the sealed
// recovery key from the vault's escrow meta, and a one-time recipient the
// institution re-seals it to.
type EscrowRequestBody struct {
	Owner  []byte `cbor:"1,keyasint"`
	Vault  []byte `cbor:"2,keyasint"`
	Sealed []byte `cbor:"3,keyasint"`
	Reply  string `cbor:"4,keyasint"`
	Time   int64  `cbor:"5,keyasint"`
}

// NewEscrowRequest makes the owner's request for its escrow meta and
// vault: it returns the signed request and the one-time identity (to keep
// until the release comes back; it opens the release).
func NewEscrowRequest(owner *keys.PeerKey, vaultID, meta []byte, now time.Time) (req []byte, identity string, err error) {
	m, _, err := ParseEscrowMeta(meta)
	if err != nil {
		return nil, "", err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, "", err
	}
	req, err = sign(owner, KindEscrowRequest, EscrowRequestBody{Owner: []byte(owner.ID()), Vault: vaultID, Sealed: m.Sealed,
		Reply: id.Recipient().String(), Time: now.Unix()})
	return req, id.String(), err
}

// EscrowReleaseBody is the institution's release statement
// (KindEscrowRelease, signed by the institution's key under
// ocmt-mesh/escrow-release/v1): for this owner and vault, the recovery key
// re-sealed to the request's one-time recipient, and the request it
// answers.
type EscrowReleaseBody struct {
	Owner   []byte `cbor:"1,keyasint"`
	Vault   []byte `cbor:"2,keyasint"`
	Sealed  []byte `cbor:"3,keyasint"`
	Time    int64  `cbor:"4,keyasint"`
	Request []byte `cbor:"5,keyasint"`
}

// InstitutionRelease is the institution's side (mesh recovery
// escrow-release): it checks an owner's request (signed by the owner it
// names, fresh), opens the sealed recovery key with the institution's age
// identities, re-seals it to the request's one-time recipient, and signs
// the release statement with the institution's key. The institution
// verifies the owner's identity out of band before it runs this.
func InstitutionRelease(inst *keys.PeerKey, identities io.Reader, request []byte, now time.Time) ([]byte, error) {
	o, err := Open(request)
	if err != nil {
		return nil, err
	}
	if o.Kind != KindEscrowRequest {
		return nil, fmt.Errorf("%w: a %s, not an escrow request", ErrMalformed, o.Kind)
	}
	var b EscrowRequestBody
	if err := wire.UnmarshalCanonical(o.Body, &b); err != nil || len(b.Vault) != 16 || len(b.Sealed) > maxSealedBytes {
		return nil, fmt.Errorf("%w: escrow request body", ErrMalformed)
	}
	owner, _, err := keys.ParsePeerID(b.Owner)
	if err != nil || owner != o.Signer {
		return nil, fmt.Errorf("%w: an escrow request signed by another key than its owner's", ErrBadSignature)
	}
	if err := fresh(time.Unix(b.Time, 0), now); err != nil {
		return nil, err
	}
	ids, err := age.ParseIdentities(io.LimitReader(identities, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("recovery: the institution's identity file holds no age identity: %w", err)
	}
	rk, err := openWith(b.Sealed, ids...)
	if err != nil {
		return nil, err
	}
	defer clear(rk[:])
	sealed, err := sealTo(b.Reply, rk)
	if err != nil {
		return nil, err
	}
	return sign(inst, KindEscrowRelease, EscrowReleaseBody{Owner: b.Owner, Vault: b.Vault, Sealed: sealed, Time: now.Unix(), Request: o.ID[:]})
}

// EscrowRelease is a checked release statement.
type EscrowRelease struct {
	Time   time.Time
	Sealed []byte
	ID     [32]byte
}

// CheckEscrowRelease checks a release statement for the owner's vault
// against its escrow meta: signed by the meta's institution, for this
// owner and vault, fresh.
func CheckEscrowRelease(release []byte, meta []byte, owner peer.ID, vaultID []byte, now time.Time) (*EscrowRelease, error) {
	m, inst, err := ParseEscrowMeta(meta)
	if err != nil {
		return nil, err
	}
	o, err := Open(release)
	if err != nil {
		return nil, err
	}
	if o.Kind != KindEscrowRelease {
		return nil, fmt.Errorf("%w: a %s, not a release statement", ErrMalformed, o.Kind)
	}
	if o.Signer != inst {
		return nil, fmt.Errorf("%w: signed by %s, not by the institution this vault named (%s)", ErrNotReleased, o.Signer, inst)
	}
	var b EscrowReleaseBody
	if err := wire.UnmarshalCanonical(o.Body, &b); err != nil || len(b.Sealed) > maxSealedBytes {
		return nil, fmt.Errorf("%w: release body", ErrMalformed)
	}
	if string(b.Owner) != string(owner) || string(b.Vault) != string(vaultID) || string(m.Owner) != string(owner) {
		return nil, fmt.Errorf("%w: it names another user or vault", ErrNotReleased)
	}
	at := time.Unix(b.Time, 0)
	if err := fresh(at, now); err != nil {
		return nil, err
	}
	return &EscrowRelease{Time: at, Sealed: b.Sealed, ID: o.ID}, nil
}

// EscrowKey opens a checked release with the request's one-time identity.
func EscrowKey(r *EscrowRelease, identity string) (*[32]byte, error) {
	id, err := age.ParseX25519Identity(strings.TrimSpace(identity))
	if err != nil {
		return nil, fmt.Errorf("recovery: the request's identity does not parse: %w", err)
	}
	return openWith(r.Sealed, id)
}
