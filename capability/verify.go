package capability

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// Config configures a Verifier. The zero value works.
type Config struct {
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// Skew is the tolerance on not-before and expiry. Default DefaultSkew
	// (60 s); there is no way to ask for less than one second or more than
	// MaxSkew (5 min): values outside are raised or lowered to those.
	Skew time.Duration
	// Revocations says whether a token ID is revoked. Default: nothing is
	// revoked, which is only right in tests; nodes pass the gossiped set.
	Revocations RevocationChecker
	// Replay counts uses of tokens with a max-uses budget. Default: a
	// MemoryReplay of DefaultMaxReplayEntries owned by the Verifier.
	Replay ReplayStore
	// Cache remembers chains whose signatures and chain rules held, so a
	// token verified again skips them (see ChainCache). Default: a cache
	// of DefaultCacheEntries chains and DefaultCacheBytes owned by the
	// Verifier; NewChainCache(0, 0) turns caching off. Share one between
	// the verifier and the revocation validator, and evict revoked
	// tokens from it (Set's Config.OnAdd).
	Cache *ChainCache
}

// Verifier checks tokens presented to this node. It is safe for concurrent
// use.
type Verifier struct {
	clock  func() time.Time
	skew   time.Duration
	revs   RevocationChecker
	replay ReplayStore
	cache  *ChainCache
}

// NewVerifier applies the defaults documented on Config.
func NewVerifier(cfg Config) *Verifier {
	v := &Verifier{clock: cfg.Clock, skew: normSkew(cfg.Skew), revs: cfg.Revocations, replay: cfg.Replay, cache: cfg.Cache}
	if v.clock == nil {
		v.clock = time.Now
	}
	if v.revs == nil {
		v.revs = noRevocations{}
	}
	if v.replay == nil {
		v.replay = NewMemoryReplay(DefaultMaxReplayEntries)
	}
	if v.cache == nil {
		v.cache = NewChainCache(DefaultCacheEntries, DefaultCacheBytes)
	}
	return v
}

// normSkew applies Config.Skew's rules: zero or less is DefaultSkew, and
// the result lies within [1 s, MaxSkew].
func normSkew(skew time.Duration) time.Duration {
	switch {
	case skew <= 0:
		return DefaultSkew
	case skew < time.Second:
		return time.Second
	case skew > MaxSkew:
		return MaxSkew
	}
	return skew
}

// Skew is the clock tolerance this verifier allows on not-before and
// expiry, Config.Skew after its defaults and bounds.
func (v *Verifier) Skew() time.Duration { return v.skew }

// Cache is the verifier's cache of verified chains: evict revoked tokens
// from it, or share it with the revocation validator.
func (v *Verifier) Cache() *ChainCache { return v.cache }

// Decode is capability.Decode through the verifier's cache: a chain it
// verified before is not decoded again. Servers decode presented wire
// bytes with it and then call Verify, which skips the signatures of a
// cached chain too.
func (v *Verifier) Decode(raw []byte) (*Token, error) { return v.cache.Decode(raw) }

// Request is what the presenter of a token asks for.
type Request struct {
	Remote   peer.ID      // the authenticated libp2p remote peer of the stream
	Owner    peer.ID      // this node: the root issuer must be it
	Resource ResourcePath // a concrete path in Owner's namespace
	Action   Actions      // exactly one action

	anyResource bool // set by VerifyListing only
}

// Verified is the outcome of a successful Verify.
type Verified struct {
	Token     *Token       // the leaf token presented
	Chain     []*Token     // root first; Chain[len-1] == Token
	Owner     peer.ID      // the root issuer (== Request.Owner)
	Holder    peer.ID      // the leaf audience (== Request.Remote)
	Resource  ResourcePath // what was allowed
	Action    Actions      // the one action allowed
	NotBefore time.Time    // the chain's effective window: latest not-before
	Expiry    time.Time    // and earliest expiry
}

// errNilToken is the error for a nil *Token.
var errNilToken = fmt.Errorf("%w: nil token", ErrMalformed)

// Verify checks tok for req, in the order doc.go specifies, and on success
// spends one use of every token in the chain that has a max-uses budget.
// Every error wraps one of the sentinels doc.go lists (a resource that
// breaks the grammar wraps ErrMalformed and ErrBadPattern, and is named
// ErrMalformed); ErrRevoked comes as a *RevokedError, ErrExpired and
// ErrNotYetValid as a *TimeError.
//
// Steps 2 to 4 depend on tok's bytes alone: a token whose chain is in the
// verifier's cache skips them, and one that passes every step is added to
// it. Every other step runs on every call, so the outcome is the same.
func (v *Verifier) Verify(ctx context.Context, tok *Token, req Request) (*Verified, error) {
	if tok == nil {
		return nil, errNilToken
	}
	chain := tok.Chain()
	cached := v.cache.has(tok.id)
	if !cached {
		if err := checkChain(chain); err != nil {
			return nil, err
		}
	}
	vd, err := v.verifyChecked(ctx, tok, chain, req)
	if err == nil && !cached {
		// Only a chain that earned a request is kept: a stranger's
		// well-signed tokens for other owners never take the room.
		v.cache.add(tok)
	}
	return vd, err
}

// verifyChecked runs steps 5 to 10 on a chain whose steps 2 to 4 held.
func (v *Verifier) verifyChecked(ctx context.Context, tok *Token, chain []*Token, req Request) (*Verified, error) {
	if err := checkTime(chain, v.clock(), v.skew); err != nil {
		return nil, err
	}
	if err := checkRevoked(chain, v.revs); err != nil {
		return nil, err
	}
	if tok.audience != req.Remote {
		return nil, fmt.Errorf("%w: audience %s, remote %s", ErrWrongAudience, tok.audience, req.Remote)
	}
	root := chain[0]
	if root.issuer != req.Owner {
		return nil, fmt.Errorf("%w: root issuer %s, owner %s", ErrWrongOwner, root.issuer, req.Owner)
	}
	if !req.Action.Single() {
		return nil, fmt.Errorf("%w: request action %s is not one action", ErrNotPermitted, req.Action)
	}
	if !tok.Actions().Has(req.Action) {
		return nil, fmt.Errorf("%w: %s not in %s", ErrNotPermitted, req.Action, tok.Actions())
	}
	if !req.anyResource && !tok.Resource().Match(req.Resource) {
		return nil, fmt.Errorf("%w: %q not matched by %q", ErrNotPermitted, req.Resource, tok.p.Resource)
	}
	if err := v.spend(ctx, chain); err != nil {
		return nil, err
	}
	vd := &Verified{Token: tok, Chain: chain, Owner: root.issuer, Holder: tok.audience,
		Resource: req.Resource, Action: req.Action}
	vd.NotBefore, vd.Expiry = tok.NotBefore(), tok.Expiry() // the leaf's window is the narrowest
	return vd, nil
}

// spend records one use of each counted token in the chain, atomically.
func (v *Verifier) spend(ctx context.Context, chain []*Token) error {
	if !slices.ContainsFunc(chain, func(t *Token) bool { return t.p.MaxUses > 0 }) {
		return nil // no budget to spend: nothing allocated on the common path
	}
	var buf [MaxDepth]Budget
	uses := buf[:0]
	for _, t := range chain {
		if t.p.MaxUses > 0 {
			uses = append(uses, Budget{ID: t.id, Max: int(t.p.MaxUses), Until: useUntil(t)})
		}
	}
	if len(uses) == 0 {
		return nil
	}
	return v.replay.Spend(ctx, v.clock(), uses)
}

// useUntil is the Budget.Until of t: its expiry plus MaxSkew plus a
// second, after which no verifier, whatever its configured skew, accepts
// it. It does not depend on v.skew, so a persistent store's records stay
// long enough after the skew is raised.
func useUntil(t *Token) time.Time { return t.Expiry().Add(MaxSkew + time.Second) }

// checkChain runs the checks that need no clock, store or request:
// signatures, then the link rules, then ceilings, each root first.
func checkChain(chain []*Token) error {
	n := len(chain)
	if n > MaxDepth {
		return fmt.Errorf("%w: %d tokens", ErrTooDeep, n)
	}
	for i, t := range chain {
		if !t.issuerKey.Verify(keys.TokenMessage(t.payload), t.sig) {
			return linkErr(i+1, n, ErrBadSignature, "token %s by %s", t.id.Short(), t.issuer)
		}
	}
	for i, t := range chain {
		if err := t.checkLink(); err != nil {
			return linkErr(i+1, n, err, "token %s", t.id.Short())
		}
	}
	for i, t := range chain {
		if err := t.checkCeiling(); err != nil {
			return linkErr(i+1, n, err, "token %s", t.id.Short())
		}
	}
	return nil
}

// checkTime requires now within [not-before − skew, expiry + skew) of every
// link. The chain rules make the leaf's window the narrowest, but each link
// is checked so that the reported link is the one that lapsed first.
func checkTime(chain []*Token, now time.Time, skew time.Duration) error {
	n := len(chain)
	for i, t := range chain {
		w := Window{NotBefore: t.NotBefore(), Expiry: t.Expiry(), Skew: skew}
		if w.early(now) || w.late(now) {
			return &TimeError{Window: w, Now: now, Link: i + 1, Of: n}
		}
	}
	return nil
}

// checkRevoked fails on the first revoked token, root first: revoking any
// link kills every chain through it and no other.
func checkRevoked(chain []*Token, revs RevocationChecker) error {
	n := len(chain)
	for i, t := range chain {
		if revs.IsRevoked(t.id) {
			return &RevokedError{ID: t.id, Link: i + 1, Of: n}
		}
	}
	return nil
}

// VerifyListing checks tok for a listing: every rule of Verify except the
// match against one resource, which the caller applies to each name it
// lists with Verified.Token.Resource().Match. req.Resource is ignored and
// req.Action must be List.
func (v *Verifier) VerifyListing(ctx context.Context, tok *Token, req Request) (*Verified, error) {
	if req.Action != List {
		return nil, fmt.Errorf("%w: a listing needs the list action", ErrNotPermitted)
	}
	req.anyResource = true
	return v.Verify(ctx, tok, req)
}
