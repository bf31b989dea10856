package capability

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// Params describes a token to issue. Times are truncated to whole seconds.
type Params struct {
	Audience  peer.ID   // who may use the token; an Ed25519 peer ID
	Resource  Pattern   // in the root issuer's namespace
	Actions   Actions   // non-empty
	NotBefore time.Time // required
	Expiry    time.Time // required, after NotBefore
	MaxUses   int       // 0 = unlimited; 1 = single use; at most MaxMaxUses
	Ceiling   Actions   // 0 = none; never Delete, Admin or Share
	Parent    *Token    // set to delegate: the signer must be its audience
	Rand      io.Reader // nonce source; nil means crypto/rand
}

// Issue signs a new token. With a Parent it delegates, and fails with the
// same sentinels verification would (ErrBrokenChain, ErrNoShare,
// ErrEscalation, ErrWidened, ErrValidityExtended, ErrTooDeep, ErrCeiling),
// so a token Issue returns passes the chain rules. It does not re-verify
// the parent's signatures: verification does.
func Issue(signer *keys.PeerKey, p Params) (*Token, error) {
	return mint(signer, p, true)
}

// mint is Issue with the delegation rules optional, so tests can build the
// invalid chains verification must reject.
func mint(signer *keys.PeerKey, p Params, rules bool) (*Token, error) {
	if signer == nil || signer.IsZero() {
		return nil, errors.New("capability: no signing key")
	}
	issuer := signer.ID()
	pl := payload{
		Version:   Version,
		Issuer:    []byte(issuer),
		Resource:  string(p.Resource),
		Actions:   uint64(p.Actions),
		NotBefore: p.NotBefore.Unix(),
		Expiry:    p.Expiry.Unix(),
		Ceiling:   uint64(p.Ceiling),
		Nonce:     make([]byte, NonceSize),
	}
	var err error
	if pl.Audience, err = peerToBytes(p.Audience); err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	if p.MaxUses < 0 || p.MaxUses > MaxMaxUses {
		return nil, fmt.Errorf("%w: max-uses %d, cap %d", ErrMalformed, p.MaxUses, MaxMaxUses)
	}
	pl.MaxUses = uint64(p.MaxUses)
	if p.NotBefore.IsZero() || p.Expiry.IsZero() {
		return nil, fmt.Errorf("%w: not-before and expiry are required", ErrMalformed)
	}
	r := p.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, pl.Nonce); err != nil {
		return nil, fmt.Errorf("capability: nonce: %w", err)
	}
	t := &Token{p: pl, issuer: issuer, issuerKey: signer.Public(), depth: 1}
	if err := t.checkFields(); err != nil {
		return nil, err
	}
	if p.Parent != nil {
		if rules && p.Parent.depth >= MaxDepth {
			return nil, fmt.Errorf("%w: parent chain already has %d tokens", ErrTooDeep, p.Parent.depth)
		}
		t.parent, t.depth, t.p.Parent = p.Parent, p.Parent.depth+1, p.Parent.raw
	}
	if rules {
		if err := t.checkLink(); err != nil {
			return nil, err
		}
		if err := t.checkCeiling(); err != nil {
			return nil, err
		}
	}
	if t.payload, err = encMode.Marshal(&t.p); err != nil {
		return nil, fmt.Errorf("capability: encoding payload: %w", err)
	}
	sig := signer.Sign(keys.TokenMessage(t.payload))
	t.sig = sig[:]
	if t.raw, err = encMode.Marshal(envelope{Payload: t.payload, Signature: t.sig}); err != nil {
		return nil, fmt.Errorf("capability: encoding envelope: %w", err)
	}
	if len(t.raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(t.raw), MaxTokenBytes)
	}
	t.id = sha256.Sum256(t.raw)
	return t, nil
}

// checkLink applies the delegation rules between t and its parent; a root
// passes. Each rule only narrows: UCAN's principal alignment, attenuation
// and time bounds.
func (t *Token) checkLink() error {
	pt := t.parent
	if pt == nil {
		return nil
	}
	switch {
	case t.issuer != pt.audience:
		return fmt.Errorf("%w: issuer %s, parent audience %s", ErrBrokenChain, t.issuer, pt.audience)
	case !pt.Actions().Has(Share):
		return fmt.Errorf("%w: parent grants %s", ErrNoShare, pt.Actions())
	case !pt.Actions().Has(t.Actions()):
		return fmt.Errorf("%w: %s not within %s", ErrEscalation, t.Actions(), pt.Actions())
	case !t.Resource().Within(pt.Resource()):
		return fmt.Errorf("%w: %q not within %q", ErrWidened, t.p.Resource, pt.p.Resource)
	case t.p.NotBefore < pt.p.NotBefore || t.p.Expiry > pt.p.Expiry:
		return fmt.Errorf("%w: [%d, %d) not within [%d, %d)", ErrValidityExtended,
			t.p.NotBefore, t.p.Expiry, pt.p.NotBefore, pt.p.Expiry)
	}
	return nil
}

// checkCeiling checks t's actions against every ceiling at or above it.
func (t *Token) checkCeiling() error {
	for c := t; c != nil; c = c.parent {
		if c.p.Ceiling != 0 && !c.Ceiling().Has(t.Actions()) {
			return fmt.Errorf("%w: %s exceeds ceiling %s set at depth %d", ErrCeiling, t.Actions(), c.Ceiling(), c.depth)
		}
	}
	return nil
}
