package groupclient

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// chainLock is the group's chain mutex: records are taken in order.
func (s *Service) chainLock(g string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.chains[g]
	if l == nil {
		l = &sync.Mutex{}
		s.chains[g] = l
	}
	return l
}

// follow subscribes to the group's audit topic; each record that arrives
// is taken (a gap makes the node sync).
func (s *Service) follow(ctx context.Context, m *membership) {
	if s.cfg.PubSub == nil || !m.admin() {
		return
	}
	s.mu.Lock()
	if s.subs[m.Group] != nil {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	t, err := groupwire.JoinAudit(s.cfg.PubSub, m.vault(), m.Group)
	if err != nil {
		s.log.Debug("joining a group's audit topic failed", "group", m.Group, "err", err)
		return
	}
	sub, err := t.Subscribe()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.subs[m.Group] = sub
	s.mu.Unlock()
	group := m.Group
	go func() {
		defer sub.Cancel()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if err := s.gossiped(ctx, group, msg); err != nil {
				s.log.Debug("a gossiped audit record was not taken", "group", group, "err", err)
			}
		}
	}()
}

func (s *Service) gossiped(ctx context.Context, g string, msg *pubsub.Message) error {
	m, err := s.membership(ctx, g)
	if err != nil {
		return err
	}
	r, err := group.ParseRecord(msg.GetData())
	if err != nil {
		return err
	}
	gap, err := s.take(ctx, m, []*group.Record{r})
	if gap {
		return s.sync(ctx, m)
	}
	return err
}

// take verifies records against the node's chain and keeps those that
// extend it. It reports a gap (a record beyond the head's next), which
// the caller fills by syncing. A fork is kept as evidence.
func (s *Service) take(ctx context.Context, m *membership, rs []*group.Record) (gap bool, err error) {
	l := s.chainLock(m.Group)
	l.Lock()
	defer l.Unlock()
	if fresh, err := s.membership(ctx, m.Group); err == nil {
		*m = *fresh
	}
	c := group.NewChain(m.vault(), m.Group)
	if m.Height > 0 {
		last, err := s.record(ctx, m.Group, m.Height)
		if err != nil {
			return false, err
		}
		c.Resume(last)
	}
	b, err := s.cfg.Store.Batch(ctx)
	if err != nil {
		return false, err
	}
	changed := false
	for _, r := range rs {
		if r.Height <= m.Height { // one we hold: the same, or a fork
			have, err := s.record(ctx, m.Group, r.Height)
			if err != nil {
				return false, err
			}
			if have.Hash() != r.Hash() {
				if err := r.Verify(m.vault()); err != nil {
					return false, err // not the vault's: noise, not a fork
				}
				s.fork(m, &group.ForkError{Height: r.Height, Have: have.Hash(), Got: r.Hash()})
				changed = true
			}
			continue
		}
		out, err := c.Add(r)
		var fe *group.ForkError
		switch {
		case errors.As(err, &fe):
			s.fork(m, fe)
			changed = true
			continue
		case err != nil:
			return false, err
		case out == group.Gap:
			gap = true
			continue
		case out == group.Appended:
			if err := b.Put(ctx, recordKey(m.Group, r.Height), r.Encode()); err != nil {
				return false, err
			}
			h := r.Hash()
			m.Height, m.Head, changed = r.Height, h[:], true
		}
	}
	if !changed {
		return gap, nil
	}
	mb, err := wire.Marshal(m)
	if err != nil {
		return false, err
	}
	if err := b.Put(ctx, memberKey(m.Group), mb); err != nil {
		return false, err
	}
	return gap, b.Commit(ctx)
}

func (s *Service) fork(m *membership, fe *group.ForkError) {
	if m.Fork == "" {
		m.Fork = fe.Error()
		s.log.Error("the group vault showed two different audit chains", "group", m.Group, "vault", m.vault(), "fork", fe.Error())
	}
}

func (s *Service) record(ctx context.Context, g string, h uint64) (*group.Record, error) {
	b, err := s.cfg.Store.Get(ctx, recordKey(g, h))
	if err != nil {
		return nil, fmt.Errorf("reading audit record %d of group %s: %w", h, g, err)
	}
	return group.ParseRecord(b)
}

// sync fetches the records after the node's head from the vault.
func (s *Service) sync(ctx context.Context, m *membership) error {
	if !m.admin() {
		return nil // the chain is the admins'
	}
	c, err := s.reach(ctx, m)
	if err != nil {
		return err
	}
	for i := 0; i < 1<<16; i++ {
		page, err := c.Audit(ctx, m.Height+1)
		if err != nil {
			return say(err)
		}
		rs := make([]*group.Record, 0, len(page.Records))
		for _, raw := range page.Records {
			r, err := group.ParseRecord(raw)
			if err != nil {
				return fmt.Errorf("the group vault sent an audit record that does not parse: %w", err)
			}
			rs = append(rs, r)
		}
		before := m.Height
		if _, err := s.take(ctx, m, rs); err != nil {
			return err
		}
		if !page.More || m.Height == before {
			return nil
		}
	}
	return nil
}

func (s *Service) syncQuietly(ctx context.Context, m *membership) {
	if err := s.sync(ctx, m); err != nil {
		s.log.Debug("group audit sync failed", "group", m.Group, "err", err)
	}
}

// audit syncs, then verifies the whole kept chain again from its first
// record, and lists it.
func (s *Service) audit(ctx context.Context, m *membership) (localapi.GroupReply, error) {
	syncErr := s.sync(ctx, m)
	if fresh, err := s.membership(ctx, m.Group); err == nil {
		m = fresh
	}
	ch := &localapi.GroupChain{Records: []localapi.GroupRecord{}, Verified: true}
	var names []string // peer IDs in details, with the names people know them by
	if com, err := group.ParseCommitments(m.Commitments); err == nil {
		for _, id := range com.Admins {
			names = append(names, id.String(), s.cfg.NameOf(ctx, id))
		}
	}
	named := strings.NewReplacer(names...)
	var prev *group.Record
	for h := uint64(1); h <= m.Height; h++ {
		r, err := s.record(ctx, m.Group, h)
		if err == nil {
			err = r.Verify(m.vault())
		}
		if err == nil {
			err = group.Follows(prev, r)
		}
		if err != nil {
			ch.Verified, ch.Problem = false, fmt.Sprintf("record %d: %v", h, err)
			break
		}
		hash := r.Hash()
		gr := localapi.GroupRecord{Height: r.Height, Time: r.Time.UTC(), Kind: r.Kind, Detail: named.Replace(r.Detail), Hash: hex.EncodeToString(hash[:])}
		if r.Actor != "" {
			gr.Actor = s.cfg.NameOf(ctx, r.Actor)
		}
		ch.Records = append(ch.Records, gr)
		ch.Head, prev = gr.Hash, r
	}
	if m.Fork != "" {
		ch.Verified, ch.Problem = false, "FORK: "+m.Fork
	} else if syncErr != nil && ch.Problem == "" {
		ch.Problem = "the records after " + fmt.Sprint(m.Height) + " could not be fetched: " + syncErr.Error()
	}
	return localapi.GroupReply{Chain: ch}, nil
}
