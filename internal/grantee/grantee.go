package grantee

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/cached"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/hibernate"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// Directory names peers (internal/resolve).
type Directory interface {
	// Resolve finds the peer of a handle and how to reach it.
	Resolve(ctx context.Context, handle string) (*directory.Record, error)
	// NameOf names a peer for messages, or "".
	NameOf(ctx context.Context, id peer.ID) string
}

// Own is the node's own resources, used when the handle is its own.
type Own interface {
	GetResource(ctx context.Context, path string) ([]byte, error)
	PutResource(ctx context.Context, path string, data []byte) error
	RemoveResource(ctx context.Context, path string) error
}

// Config is what a Client uses of its node.
type Config struct {
	Host      host.Host
	Net       *meshnet.Net
	Directory Directory
	Own       Own
	// Handle returns the node's own handle ("" when it has none).
	Handle func(context.Context) (string, error)
	// Received lists the grants the node holds, with their states.
	Received func(context.Context) ([]localapi.Grant, error)
	// Revocations is the node's revocation set.
	Revocations *revocation.Set
	// Unlocked returns vault.ErrLocked while the vault is locked: a
	// locked node uses no capability it holds.
	Unlocked func() error
	// Retry is how a call to an owner retries transport failures.
	Retry meshnet.Retry
	// Logger receives transport details the user is spared. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Cache reads an offline owner's snapshots from its relays. Default
	// none: reads need the owner's node.
	Cache *cached.Reader
}

// Client uses the grants one node holds.
type Client struct{ cfg Config }

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg}
}

func (c *Client) now() time.Time { return c.cfg.Now() }

// roughly rounds a clock offset, measured across a request, to what is
// worth saying: seconds under a minute, minutes under an hour, else hours.
func roughly(d time.Duration) time.Duration {
	switch {
	case d < time.Minute:
		return d.Round(time.Second)
	case d < time.Hour:
		return d.Round(time.Minute)
	}
	return d.Round(time.Hour)
}

// grantFor picks the newest active received grant from owner that allows
// action on path.
func (c *Client) grantFor(ctx context.Context, handle string, owner peer.ID, path capability.ResourcePath, action capability.Actions) (*capability.Token, error) {
	gs, err := c.cfg.Received(ctx)
	if err != nil {
		return nil, err
	}
	var best *capability.Token
	var bestStatus string
	var covers capability.Actions // what active shares allow on path, when not action
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != owner.String() {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || (path != "" && !tok.Resource().Match(path)) {
			continue
		}
		if !tok.Actions().Has(action) {
			if g.Status == meshstate.Active {
				covers |= tok.Actions()
			}
			continue
		}
		if g.Status == meshstate.Active {
			return tok, nil
		}
		if best == nil {
			best, bestStatus = tok, g.Status
		}
	}
	if best != nil {
		if err := c.knownRevoked(ctx, handle, owner, best); err != nil {
			return nil, err // who revoked it, and when
		}
		if note := capability.WindowOf(best).Note(c.now()); note != "" && bestStatus != meshstate.Revoked {
			return nil, fmt.Errorf("the share for that is %s: %s", bestStatus, note)
		}
		return nil, fmt.Errorf("the share for that is %s", bestStatus)
	}
	if covers != 0 {
		return nil, fmt.Errorf("what %s shared with you allows %s there, not %s", handle, words.ActionList(covers), words.ActionList(action))
	}
	return nil, words.Say(vault.ErrNotFound, "nothing %s shared with you covers that", handle)
}

// splitRemote splits HANDLE/PATH.
func splitRemote(s string) (string, string, error) {
	h, p, ok := strings.Cut(s, "/")
	if !ok || h == "" {
		return "", "", fmt.Errorf("%q is not HANDLE/PATH, such as alice/calendar/work", s)
	}
	return h, p, nil
}

// Fetch reads HANDLE/PATH (mesh get) and returns its bytes.
func (c *Client) Fetch(ctx context.Context, remote string) ([]byte, error) {
	f, err := c.Get(ctx, localapi.FetchRequest{Remote: remote})
	return f.Data, err
}

// Get reads HANDLE/PATH: one's own handle from the vault (Config.Own,
// audited), another's from its node, or, when that node cannot be
// reached and req.Live is not set, from the cached copy at its relays.
func (c *Client) Get(ctx context.Context, req localapi.FetchRequest) (localapi.Fetched, error) {
	out := localapi.Fetched{Source: localapi.SourceOwner}
	offline := func(ctx context.Context, rec *directory.Record, tok *capability.Token, p string, unreachable error) error {
		if c.cfg.Cache != nil && !req.Live {
			data, s, err := c.cfg.Cache.Read(ctx, rec, tok, p)
			if err == nil {
				out = localapi.Fetched{Data: data, Source: localapi.SourceCache, Relay: s.Relay.String(), Version: s.Version, Sealed: s.Created.UTC(), Why: "offline"}
				if wire.StatusOf(unreachable) == wire.TooLarge {
					out.Why = "too large"
				}
				return nil
			}
			if unreachable = c.explainCache(string(rec.Handle), unreachable, err); !errors.Is(unreachable, ErrUnreachable) {
				return unreachable // the cache refused the token
			}
		}
		if req.Wake {
			return c.wakeAndRead(ctx, rec, tok, p, &out)
		}
		if req.Quick {
			return unreachable
		}
		return c.readAgain(ctx, rec, tok, p, &out, false) // it may be re-reserving
	}
	err := c.onOwner(ctx, req.Remote, capability.Read, func(ctx context.Context, owner peer.ID, tok *capability.Token, p string) (err error) {
		out.Data, err = share.Read(ctx, c.cfg.Host, owner, tok, p)
		return err
	}, func(p string) (err error) {
		out.Source = localapi.SourceOwn
		out.Data, err = c.cfg.Own.GetResource(ctx, p)
		return err
	}, offline)
	return out, err
}

// wakeAndRead wakes a hibernating owner through its relays, then reads
// from it.
func (c *Client) wakeAndRead(ctx context.Context, rec *directory.Record, tok *capability.Token, p string, out *localapi.Fetched) error {
	handle := string(rec.Handle)
	if err := hibernate.Wake(ctx, c.cfg.Host, rec, tok); err != nil {
		if errors.Is(err, hibernate.ErrNotAsleep) {
			if err := c.readAgain(ctx, rec, tok, p, out, false); !errors.Is(err, ErrUnreachable) {
				return err // it was back, or answered
			}
			return words.Say(errors.Join(ErrUnreachable, err), "%s's node is offline and did not hibernate at its relays, so it cannot be woken; try again when it is back", handle)
		}
		var we *wire.Error
		if errors.As(err, &we) && (we.Status == wire.Revoked || we.Status == wire.Expired || we.Status == wire.Forbidden) {
			return words.Say(err, "%s's relay would not wake it for your share: %s", handle, words.Refusal(we.Message))
		}
		return words.Say(errors.Join(ErrUnreachable, err), "could not wake %s: %s", handle, words.Refusal(wireMessage(err)))
	}
	out.Source = localapi.SourceWoken
	return c.readAgain(ctx, rec, tok, p, out, true)
}

// readAgain reads from the owner with the usual retries: after a wake
// (fresh: it is back at its relay, whatever failed dials were before),
// or when a first quick attempt found it unreachable.
func (c *Client) readAgain(ctx context.Context, rec *directory.Record, tok *capability.Token, p string, out *localapi.Fetched, fresh bool) error {
	r := c.cfg.Retry
	r.Fresh = fresh
	err := c.callOwner(ctx, rec, r, func(ctx context.Context) (err error) {
		out.Data, err = share.Read(ctx, c.cfg.Host, rec.Peer, tok, p)
		return err
	})
	if err != nil {
		return c.explain(ctx, string(rec.Handle), rec.Peer, err)
	}
	return nil
}

// wireMessage is a relay's message, or the error's text.
func wireMessage(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return err.Error()
}

// explainCache words a cached read that failed after the owner could not
// be reached: a refusal of the token is the answer, anything else adds
// to "offline".
func (c *Client) explainCache(handle string, unreachable, err error) error {
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Status {
		case wire.Revoked:
			return words.Say(errors.Join(capability.ErrRevoked, err), "%s's node is offline, and the cache at its relay refused your share as revoked", handle)
		case wire.Expired:
			return words.Say(errors.Join(capability.ErrExpired, err), "%s's node is offline, and the cache at its relay refused your share as expired", handle)
		}
	}
	c.cfg.Logger.Info("cached read failed", "owner", handle, "err", err)
	why := "no relay of theirs holds a copy you can read"
	if errors.Is(err, snapshot.ErrRolledBack) || errors.Is(err, snapshot.ErrSwapped) || errors.Is(err, snapshot.ErrWrongSigner) {
		why = "a relay's cached copy failed its checks (" + err.Error() + ")"
	}
	return fmt.Errorf("%w; %s", unreachable, why)
}

// Put writes an owner's resource HANDLE/PATH with a share that allows
// write (mesh put).
func (c *Client) Put(ctx context.Context, remote string, data []byte) error {
	return c.onOwner(ctx, remote, capability.Write, func(ctx context.Context, owner peer.ID, tok *capability.Token, p string) error {
		return share.Write(ctx, c.cfg.Host, owner, tok, p, data)
	}, func(p string) error { return c.cfg.Own.PutResource(ctx, p, data) }, nil)
}

// Remove deletes an owner's resource HANDLE/PATH with a share that allows
// delete (mesh rm).
func (c *Client) Remove(ctx context.Context, remote string) error {
	return c.onOwner(ctx, remote, capability.Delete, func(ctx context.Context, owner peer.ID, tok *capability.Token, p string) error {
		return share.Delete(ctx, c.cfg.Host, owner, tok, p)
	}, func(p string) error { return c.cfg.Own.RemoveResource(ctx, p) }, nil)
}

// onOwner runs one share request against the owner of HANDLE/PATH with the
// newest share we hold that allows action there: resolve the handle,
// refuse early what our own set knows to be revoked, call the owner with
// retries and explain its refusal. own runs instead when the handle is
// ours. offline, when set, runs when the owner could not be reached, with
// the error that says so.
func (c *Client) onOwner(ctx context.Context, remote string, action capability.Actions,
	call func(ctx context.Context, owner peer.ID, tok *capability.Token, path string) error, own func(path string) error,
	offline func(ctx context.Context, rec *directory.Record, tok *capability.Token, path string, unreachable error) error) error {
	handle, path, err := splitRemote(remote)
	if err != nil {
		return err
	}
	p, err := capability.ParsePath(path)
	if err != nil {
		return words.BadPath(path, err, false)
	}
	if mine, _ := c.cfg.Handle(ctx); mine != "" && mine == handle {
		return own(string(p))
	}
	if err := c.cfg.Unlocked(); err != nil {
		return err // a locked node uses no capability it holds
	}
	rec, err := c.cfg.Directory.Resolve(ctx, handle)
	if err != nil {
		return err
	}
	tok, err := c.grantFor(ctx, handle, rec.Peer, p, action)
	if err != nil {
		return err
	}
	if err := c.knownRevoked(ctx, handle, rec.Peer, tok); err != nil {
		return err
	}
	retry := c.cfg.Retry
	if offline != nil {
		// Once by every address, once more by relay circuits, at once.
		retry = meshnet.Retry{Attempts: 2}
	}
	ask := func(ctx context.Context) error { return call(ctx, rec.Peer, tok, string(p)) }
	err = c.callOwner(ctx, rec, retry, ask)
	var we *wire.Error
	if offline != nil && err != nil && !errors.As(err, &we) && !relay.IsNoReservation(err) {
		// Not "its relay holds no reservation for it" (asleep or gone,
		// where the cache answers at once): a slow dial on a loaded
		// machine, a relay restarting. The usual paused retries first.
		err = c.callOwner(ctx, rec, c.cfg.Retry, ask)
	}
	if err != nil {
		c.cfg.Net.Forget(handle)
		err = c.explain(ctx, handle, rec.Peer, err)
		if offline != nil && (errors.Is(err, ErrUnreachable) || wire.StatusOf(err) == wire.TooLarge) {
			return offline(ctx, rec, tok, string(p), err) // too large to move live: the cache carries any size
		}
		return err
	}
	return nil
}

// List lists an owner's resources HANDLE[/PREFIX] that the shares held
// from it allow listing (mesh ls --from).
func (c *Client) List(ctx context.Context, remote string) ([]string, error) {
	if err := c.cfg.Unlocked(); err != nil {
		return nil, err // a locked node uses no capability it holds
	}
	handle, prefix, _ := strings.Cut(remote, "/")
	rec, err := c.cfg.Directory.Resolve(ctx, handle)
	if err != nil {
		return nil, err
	}
	toks, err := c.listGrants(ctx, rec.Peer)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		_, err := c.grantFor(ctx, handle, rec.Peer, "", capability.List) // says why: none, expired, revoked
		return nil, err
	}
	// Each share is listed under its own pattern: the answer is the union.
	seen := map[string]bool{}
	var names []string
	for _, tok := range toks {
		var got []string
		err = c.callOwner(ctx, rec, c.cfg.Retry, func(ctx context.Context) error {
			got, err = share.List(ctx, c.cfg.Host, rec.Peer, tok, prefix)
			return err
		})
		if err != nil {
			return nil, c.explain(ctx, handle, rec.Peer, err)
		}
		for _, name := range got {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// listGrants returns owner's active grants to us that allow listing, one
// per resource pattern (the newest).
func (c *Client) listGrants(ctx context.Context, owner peer.ID) ([]*capability.Token, error) {
	gs, err := c.cfg.Received(ctx)
	if err != nil {
		return nil, err
	}
	patterns := map[capability.Pattern]bool{}
	var out []*capability.Token
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != owner.String() || g.Status != meshstate.Active {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || !tok.Actions().Has(capability.List) || patterns[tok.Resource()] {
			continue
		}
		patterns[tok.Resource()] = true
		out = append(out, tok)
	}
	return out, nil
}

// callOwner runs call against the owner, retrying with growing pauses
// while the failure is a transport one (a relay restarting, an owner
// re-reserving).
func (c *Client) callOwner(ctx context.Context, rec *directory.Record, r meshnet.Retry, call func(context.Context) error) error {
	return c.cfg.Net.Call(ctx, rec, r, call)
}

// knownRevoked refuses early when our own set already holds a revocation
// for a link of tok (it arrived by gossip or revsync).
func (c *Client) knownRevoked(ctx context.Context, handle string, owner peer.ID, tok *capability.Token) error {
	for _, t := range tok.Chain() {
		if r, ok := c.cfg.Revocations.RevokedBy(t.ID()); ok {
			return c.revokedError(ctx, handle, owner, r.Revoker(), r.Time())
		}
	}
	return nil
}

// ErrUnreachable means the owner's node could not be reached: nothing was
// asked, nothing refused.
var ErrUnreachable = localapi.ErrUnreachable

// explain turns an owner's refusal, or a failure to reach it, into words.
// The error explained stays wrapped (errors.Is sees wire statuses,
// ErrUnreachable and capability sentinels); transport details go to the
// log, not to the user.
func (c *Client) explain(ctx context.Context, handle string, owner peer.ID, err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		c.cfg.Logger.Info("owner unreachable", "owner", owner, "err", err)
		if relay.IsNoReservation(err) {
			// Its relay answered: the node holds no reservation, so it is not running.
			return words.Say(errors.Join(ErrUnreachable, err), "%s's node is offline (its relay holds no reservation for it); try again when it is back", handle)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return words.Say(errors.Join(ErrUnreachable, err), "%s's node did not answer in time; it may be offline or unreachable from here", handle)
		}
		return words.Say(errors.Join(ErrUnreachable, err), "could not reach %s's node: it is offline or unreachable from here (the node's log, mesh node -v, has the details)", handle)
	}
	switch we.Status {
	case wire.Revoked:
		d, ok := share.Revoked(err)
		if !ok || d.By == "" {
			return words.Say(errors.Join(capability.ErrRevoked, err), "%s refused the share as revoked", handle)
		}
		return c.revokedError(ctx, handle, owner, d.By, d.At)
	case wire.Expired:
		d, ok := share.Window(err)
		if !ok {
			return words.Say(err, "your share from %s has expired", handle)
		}
		te := d.Err()
		what := "has expired"
		if d.Early() {
			what = "is not valid yet"
		}
		msg := fmt.Sprintf("your share from %s %s on %s's clock: %s", handle, what, handle, te.Note(d.Now))
		if off := d.ClockOffset(c.now()); off > 5*time.Second || off < -5*time.Second {
			msg += fmt.Sprintf("; %s's clock is %s %s yours", handle, duration.Format(roughly(off.Abs())), map[bool]string{true: "ahead of", false: "behind"}[off > 0])
		}
		return words.Say(errors.Join(te, err), "%s", msg)
	case wire.Locked:
		return words.Say(err, "%s's vault is locked right now; try again later", handle)
	case wire.NotFound:
		return words.Say(err, "%s has no such resource", handle)
	case wire.Forbidden:
		return words.Say(err, "%s refused: %s", handle, words.Refusal(we.Message))
	case wire.RateLimited:
		return words.Say(err, "%s's node asked you to slow down; try again in a moment", handle)
	case wire.Unavailable:
		return words.Say(err, "%s's node is not ready to answer yet (it is catching up on revocations); try again in a few seconds", handle)
	case wire.TooLarge:
		return words.Say(err, "that is larger than one exchange with %s's node carries (%d MiB): read it from the cache (without --live); only %s can write it", handle, share.MaxData>>20, handle)
	case wire.BadRequest:
		return words.Say(err, "%s's node did not understand the request; it may run another version of mesh", handle)
	}
	c.cfg.Logger.Info("owner failed", "owner", owner, "err", err)
	return words.Say(err, "%s's node failed to answer (an error on its side)", handle)
}

// revokedError explains a revoked share from the grantee's side: who
// revoked it, by handle where we know it.
func (c *Client) revokedError(ctx context.Context, handle string, owner, by peer.ID, when time.Time) error {
	who := by.String()
	if by == owner {
		who = handle
	} else if name := c.cfg.Directory.NameOf(ctx, by); name != "" {
		who = name // the delegator, by handle
	}
	if when.IsZero() {
		return words.Say(capability.ErrRevoked, "%s revoked this share", who)
	}
	return words.Say(capability.ErrRevoked, "%s revoked this share at %s", who, when.Local().Format(time.DateTime))
}

// Delegate makes p (a share for another peer) a delegation of the newest
// active grant held from owner that allows passing on p's actions over
// p's resources, never outliving it nor starting before it.
func (c *Client) Delegate(ctx context.Context, owner peer.ID, p *capability.Params) error {
	gs, err := c.cfg.Received(ctx)
	if err != nil {
		return err
	}
	for i := len(gs) - 1; i >= 0 && p.Parent == nil; i-- {
		g := gs[i]
		if g.Owner != owner.String() || g.Status != meshstate.Active {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err == nil && tok.Actions().Has(capability.Share|p.Actions) && p.Resource.Within(tok.Resource()) {
			p.Parent = tok
		}
	}
	if p.Parent == nil {
		return words.Say(vault.ErrNotFound, "nothing shared with you covers %s with %s and the right to pass it on", p.Resource, words.ActionList(p.Actions))
	}
	if pe := p.Parent.Expiry(); p.Expiry.After(pe) {
		p.Expiry = pe // a delegation never outlives its parent
	}
	if !p.NotBefore.After(p.Parent.NotBefore()) {
		p.NotBefore = p.Parent.NotBefore()
	}
	return nil
}
