package groupvault

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// change counts an admin's approval of a membership change; the K-th
// re-splits a fresh group key among the new admins and re-seals every
// secret under it, in one batch with the record that audits it. The
// group is locked afterwards: its old key and the old shares open
// nothing the vault keeps.
func (s *Service) change(ctx context.Context, g *state, remote peer.ID, req *groupwire.Request) (*groupwire.Info, error) {
	a, err := group.ParseApproval(req.Approval)
	if err != nil {
		return nil, wire.Errorf(wire.BadRequest, "the approval does not parse: %v", err)
	}
	if a.Admin != remote {
		if aerr := s.commit(ctx, g, event{kind: "change.refuse", actor: remote, detail: fmt.Sprintf("offered an approval signed by %s; an approval is offered by the admin who signed it", a.Admin)}, nil); aerr != nil {
			return nil, aerr
		}
		return nil, wire.Errorf(wire.Forbidden, "an approval is offered by the admin who signed it")
	}
	cw, admins, err := groupwire.ParseChange(req.Change)
	if err != nil {
		return nil, err
	}
	ch := group.Change{Admins: admins, Threshold: int(cw.Threshold), Window: time.Duration(cw.Window) * time.Second}
	if err := ch.Check(); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "%v", err)
	}
	digest := ch.Digest(g.name, g.c.ID())
	t := g.tallies[digest]
	fresh := t == nil
	if fresh {
		t = group.NewTally(g.c, digest, group.LockConfig{Now: s.cfg.Now, Nonces: s.nonces})
	}
	what := describe(ch)
	approvers, done, err := t.OfferSealed(a, s.cfg.Key)
	if err != nil {
		if fresh {
			t.Wipe()
		}
		if aerr := s.commit(ctx, g, event{kind: "change.refuse", actor: remote, detail: err.Error()}, nil); aerr != nil {
			return nil, aerr
		}
		return nil, refusal(err)
	}
	if fresh {
		if len(g.order) >= maxTallies {
			old := g.order[0]
			g.tallies[old].Wipe()
			delete(g.tallies, old)
			g.order = g.order[1:]
		}
		g.tallies[digest], g.order = t, append(g.order, digest)
	}
	nonce := hex.EncodeToString(a.Nonce[:])
	if err := s.commit(ctx, g, event{kind: "change.approve", actor: remote,
		detail: fmt.Sprintf("approved %s; %d of %d", what, len(approvers), g.c.Threshold)}, func(b ds.Batch) error {
		return b.Put(ctx, gkey(g.name, "n", nonce), []byte(strconv.FormatInt(a.Time.Unix(), 10)))
	}); err != nil {
		return nil, err
	}
	if !done {
		return g.info(groupwire.RoleAdmin), nil
	}
	old, err := t.Key()
	t.Wipe()
	g.dropTally(digest)
	if err != nil {
		return nil, err
	}
	defer old.Wipe()
	if err := s.resplit(ctx, g, old, ch, remote, what); err != nil {
		return nil, err
	}
	return g.info(groupwire.RoleAdmin), nil
}

func (g *state) dropTally(d [32]byte) {
	delete(g.tallies, d)
	for i, o := range g.order {
		if o == d {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
}

// describe is a change in words for the audit chain.
func describe(ch group.Change) string {
	names := make([]string, len(ch.Admins))
	for i, id := range ch.Admins {
		names[i] = id.String()
	}
	s := fmt.Sprintf("admins %s, %d to unlock", strings.Join(names, ", "), ch.Threshold)
	if ch.Window > 0 {
		s += ", window " + duration.Format(ch.Window)
	}
	return s
}

// resplit deals a fresh key among the change's admins, seals each share
// to its admin, re-seals every secret under the new key, and commits it
// all with the record of the change.
func (s *Service) resplit(ctx context.Context, g *state, old *group.Key, ch group.Change, remote peer.ID, what string) error {
	d, key, err := group.Deal(s.cfg.Rand, g.name, ch.Threshold, ch.Admins)
	if err != nil {
		return wire.Errorf(wire.BadRequest, "%v", err)
	}
	defer key.Wipe()
	rec := g.rec
	rec.Commitments = d.Commitments.Encode()
	rec.Shares = make([][]byte, len(d.Shares))
	for i, sh := range d.Shares {
		if rec.Shares[i], err = group.SealShare(sh, ch.Admins[i]); err != nil {
			return err
		}
		sh.Wipe()
	}
	if ch.Window > 0 {
		rec.Window = int64(ch.Window / time.Second)
	}
	rb, err := wire.Marshal(rec)
	if err != nil {
		return err
	}
	names, err := s.names(ctx, g.name)
	if err != nil {
		return err
	}
	resealed := make(map[string][]byte, len(names))
	for _, n := range names {
		sealed, err := s.cfg.Store.Get(ctx, secretKey(g.name, n))
		if err != nil {
			return err
		}
		v, release, err := group.OpenSecret(old, g.name, n, sealed)
		if err != nil {
			return fmt.Errorf("re-sealing %q: %w", n, err)
		}
		resealed[n], err = group.SealSecret(key, g.name, n, release, v)
		clear(v)
		if err != nil {
			return err
		}
	}
	err = s.commit(ctx, g, event{kind: "group.change", actor: remote,
		detail: fmt.Sprintf("%s; a fresh key re-sealed %d secrets; the group is locked", what, len(names))},
		func(b ds.Batch) error {
			for n, v := range resealed {
				if err := b.Put(ctx, secretKey(g.name, n), v); err != nil {
					return err
				}
			}
			return b.Put(ctx, gkey(g.name, "r"), rb)
		})
	if err != nil {
		return err
	}
	return g.setRecord(s, rec)
}
