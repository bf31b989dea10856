package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// grantFor picks the newest active received grant from owner that allows
// action on path.
func (n *Node) grantFor(ctx context.Context, handle string, owner peer.ID, path capability.ResourcePath, action capability.Actions) (*capability.Token, error) {
	gs, err := n.received(ctx)
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
		if err := n.knownRevoked(ctx, handle, owner, best); err != nil {
			return nil, err // who revoked it, and when
		}
		return nil, fmt.Errorf("the share for that is %s", bestStatus)
	}
	if covers != 0 {
		return nil, fmt.Errorf("what %s shared with you allows %s there, not %s", handle, actionList(covers), actionList(action))
	}
	return nil, say(vault.ErrNotFound, "nothing %s shared with you covers that", handle)
}

// splitRemote splits HANDLE/PATH.
func splitRemote(s string) (string, string, error) {
	h, p, ok := strings.Cut(s, "/")
	if !ok || h == "" {
		return "", "", fmt.Errorf("%q is not HANDLE/PATH, such as alice/calendar/work", s)
	}
	return h, p, nil
}

// Fetch implements localapi.Backend: `mesh get HANDLE/PATH`. One's own
// handle reads from the vault (audited).
func (n *Node) Fetch(ctx context.Context, remote string) ([]byte, error) {
	var data []byte
	err := n.onOwner(ctx, remote, capability.Read, func(ctx context.Context, owner peer.ID, tok *capability.Token, p string) (err error) {
		data, err = share.Read(ctx, n.host, owner, tok, p)
		return err
	}, func(p string) (err error) {
		data, err = n.GetResource(ctx, p)
		return err
	})
	return data, err
}

// PutRemote implements localapi.Backend: `mesh put HANDLE/PATH` writes an
// owner's resource with a share that allows write.
func (n *Node) PutRemote(ctx context.Context, remote string, data []byte) error {
	return n.onOwner(ctx, remote, capability.Write, func(ctx context.Context, owner peer.ID, tok *capability.Token, p string) error {
		return share.Write(ctx, n.host, owner, tok, p, data)
	}, func(p string) error { return n.PutResource(ctx, p, data) })
}

// RemoveRemote implements localapi.Backend: `mesh rm HANDLE/PATH` deletes
// an owner's resource with a share that allows delete.
func (n *Node) RemoveRemote(ctx context.Context, remote string) error {
	return n.onOwner(ctx, remote, capability.Delete, func(ctx context.Context, owner peer.ID, tok *capability.Token, p string) error {
		return share.Delete(ctx, n.host, owner, tok, p)
	}, func(p string) error { return n.RemoveResource(ctx, p) })
}

// onOwner runs one share request against the owner of HANDLE/PATH with the
// newest share we hold that allows action there: resolve the handle,
// refuse early what our own set knows to be revoked, call the owner with
// retries and explain its refusal. own runs instead when the handle is
// ours.
func (n *Node) onOwner(ctx context.Context, remote string, action capability.Actions,
	call func(ctx context.Context, owner peer.ID, tok *capability.Token, path string) error, own func(path string) error) error {
	handle, path, err := splitRemote(remote)
	if err != nil {
		return err
	}
	p, err := capability.ParsePath(path)
	if err != nil {
		return pathError(path, err, false)
	}
	if mine, _ := n.Handle(ctx); mine != "" && mine == handle {
		return own(string(p))
	}
	if err := n.signer.unlocked(); err != nil {
		return err // a locked node uses no capability it holds
	}
	rec, err := n.resolve(ctx, handle)
	if err != nil {
		return err
	}
	tok, err := n.grantFor(ctx, handle, rec.Peer, p, action)
	if err != nil {
		return err
	}
	if err := n.knownRevoked(ctx, handle, rec.Peer, tok); err != nil {
		return err
	}
	err = n.callOwner(ctx, rec, func(ctx context.Context) error { return call(ctx, rec.Peer, tok, string(p)) })
	if err != nil {
		n.net.Forget(handle)
		return n.explain(ctx, handle, rec.Peer, err)
	}
	return nil
}

// ListRemote implements localapi.Backend: `mesh ls HANDLE[/PREFIX]`.
func (n *Node) ListRemote(ctx context.Context, remote string) ([]string, error) {
	if err := n.signer.unlocked(); err != nil {
		return nil, err // a locked node uses no capability it holds
	}
	handle, prefix, _ := strings.Cut(remote, "/")
	rec, err := n.resolve(ctx, handle)
	if err != nil {
		return nil, err
	}
	toks, err := n.listGrants(ctx, rec.Peer)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		_, err := n.grantFor(ctx, handle, rec.Peer, "", capability.List) // says why: none, expired, revoked
		return nil, err
	}
	// Each share is listed under its own pattern: the answer is the union.
	seen := map[string]bool{}
	var names []string
	for _, tok := range toks {
		var got []string
		err = n.callOwner(ctx, rec, func(ctx context.Context) error {
			got, err = share.List(ctx, n.host, rec.Peer, tok, prefix)
			return err
		})
		if err != nil {
			return nil, n.explain(ctx, handle, rec.Peer, err)
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
func (n *Node) listGrants(ctx context.Context, owner peer.ID) ([]*capability.Token, error) {
	gs, err := n.received(ctx)
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
func (n *Node) callOwner(ctx context.Context, rec *directory.Record, call func(context.Context) error) error {
	return n.net.Call(ctx, rec, n.cfg.Timings.ownerRetry(), call)
}

// knownRevoked refuses early when our own set already holds a revocation
// for a link of tok (it arrived by gossip or revsync).
func (n *Node) knownRevoked(ctx context.Context, handle string, owner peer.ID, tok *capability.Token) error {
	for _, t := range tok.Chain() {
		if r, ok := n.rev.Set().RevokedBy(t.ID()); ok {
			return n.revokedError(ctx, handle, owner, r.Revoker(), r.Time())
		}
	}
	return nil
}

// ErrUnreachable means the owner's node could not be reached: nothing was
// asked, nothing refused.
var ErrUnreachable = errors.New("owner unreachable")

// explain turns an owner's refusal, or a failure to reach it, into words.
// The error explained stays wrapped (errors.Is sees wire statuses,
// ErrUnreachable and capability sentinels); transport details go to the
// log, not to the user.
func (n *Node) explain(ctx context.Context, handle string, owner peer.ID, err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		n.log.Info("owner unreachable", "owner", owner, "err", err)
		if relay.IsNoReservation(err) {
			// Its relay answered: the node holds no reservation, so it is not running.
			return say(errors.Join(ErrUnreachable, err), "%s's node is offline (its relay holds no reservation for it); try again when it is back", handle)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return say(errors.Join(ErrUnreachable, err), "%s's node did not answer in time; it may be offline or unreachable from here", handle)
		}
		return say(errors.Join(ErrUnreachable, err), "could not reach %s's node: it is offline or unreachable from here (the node's log, mesh node -v, has the details)", handle)
	}
	switch we.Status {
	case wire.Revoked:
		d, ok := share.Revoked(err)
		if !ok || d.By == "" {
			return say(errors.Join(capability.ErrRevoked, err), "%s refused the share as revoked", handle)
		}
		return n.revokedError(ctx, handle, owner, d.By, d.At)
	case wire.Expired:
		return say(err, "your share from %s has expired", handle)
	case wire.Locked:
		return say(err, "%s's vault is locked right now; try again later", handle)
	case wire.NotFound:
		return say(err, "%s has no such resource", handle)
	case wire.Forbidden:
		return say(err, "%s refused: %s", handle, refusalWords(we.Message))
	case wire.RateLimited:
		return say(err, "%s's node asked you to slow down; try again in a moment", handle)
	case wire.Unavailable:
		return say(err, "%s's node is not ready to answer yet (it is catching up on revocations); try again in a few seconds", handle)
	case wire.TooLarge:
		return say(err, "that is larger than %s's node takes: a resource holds at most %d MiB", handle, share.MaxData>>20)
	case wire.BadRequest:
		return say(err, "%s's node did not understand the request; it may run another version of mesh", handle)
	}
	n.log.Info("owner failed", "owner", owner, "err", err)
	return say(err, "%s's node failed to answer (an error on its side)", handle)
}

// refusalWords says why an owner refused a token, from the refusal's
// message ("token: ErrNotPermitted", protocols/capwire).
func refusalWords(msg string) string {
	name, ok := strings.CutPrefix(msg, "token: ")
	if !ok {
		return "the share does not allow that"
	}
	name, _, _ = strings.Cut(name, ":")
	if name == "ErrNotPermitted" {
		return "the share does not allow that"
	}
	return "the share " + strings.TrimPrefix(TokenProblem(name), "it ")
}
