package socialrecovery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/recoverywire"
	"github.com/ocmt/mesh/vault"
)

// statusOf is where request r stands at now (recoverywire Status).
func statusOf(r *record, now time.Time) recoverywire.Status {
	switch {
	case r.Recovered != 0:
		return recoverywire.Status{State: recoverywire.StateRecovered, Text: "the device said it recovered"}
	case r.Vetoed != 0:
		return recoverywire.Status{State: recoverywire.StateVetoed, Text: "the owner vetoed this request"}
	case r.Mine:
		return recoverywire.Status{State: recoverywire.StateTaken, Text: "the owner's node was told of this request"}
	case r.Approved == 0 && now.Sub(r.req.Time) > recovery.MaxRequestAge:
		return recoverywire.Status{State: recoverywire.StateExpired, Text: "this request is too old; ask again"}
	case r.Approved == 0:
		return recoverywire.Status{State: recoverywire.StateWaiting, Text: "waiting for the friend to approve"}
	case now.Unix() < r.ReadyAt:
		return recoverywire.Status{State: recoverywire.StateHelping, Until: r.ReadyAt, Text: "approved; the waiting period runs"}
	}
	return recoverywire.Status{State: recoverywire.StateReleased, Release: r.Release}
}

// refuse audits a refusal a remote peer or a mail caused (coalesced:
// strangers are free) and returns it.
func (s *Service) refuse(from string, err error) error {
	s.refused.Add(from, OpRefused, "", err.Error())
	return err
}

// Deliver implements recoverywire.Handler: a request or a veto, live.
func (s *Service) Deliver(ctx context.Context, remote peer.ID, message []byte) (recoverywire.Status, error) {
	o, err := recovery.Open(message)
	if err != nil {
		return recoverywire.Status{}, s.refuse(remote.String(), wire.Errorf(wire.BadRequest, "not a signed recovery message"))
	}
	switch o.Kind {
	case recovery.KindRequest:
		return s.takeRequest(ctx, remote.String(), o, message)
	case recovery.KindVeto:
		return s.takeVeto(ctx, remote.String(), o)
	}
	return recoverywire.Status{}, s.refuse(remote.String(), wire.Errorf(wire.BadRequest, "a %s is not delivered here: a request or a veto", o.Kind))
}

// Fetch implements recoverywire.Handler: the request's state, and the
// release once it is ready, to the request's device only.
func (s *Service) Fetch(ctx context.Context, remote peer.ID, id [32]byte) (recoverywire.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getRecord(ctx, id)
	if err != nil || r.req.Device != remote || r.Mine {
		return recoverywire.Status{}, wire.Errorf(wire.NotFound, "this node holds no such recovery request for you")
	}
	st := statusOf(r, s.cfg.Now())
	if st.State == recoverywire.StateReleased && r.Released == 0 {
		r.Released = s.cfg.Now().Unix()
		if err := s.putRecord(ctx, r); err != nil {
			return recoverywire.Status{}, err
		}
		s.audit(ctx, OpRelease, r.req.Handle, vault.OutcomeOK, fmt.Sprintf("your share of %s's vault was released to device %s (request %s)",
			r.req.Handle, r.req.Device, hex.EncodeToString(r.req.ID[:8])))
	}
	return st, nil
}

// Done implements recoverywire.Handler: the device says it recovered.
func (s *Service) Done(ctx context.Context, remote peer.ID, id [32]byte) (recoverywire.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getRecord(ctx, id)
	if err != nil || r.req.Device != remote || r.Mine {
		return recoverywire.Status{}, wire.Errorf(wire.NotFound, "this node holds no such recovery request for you")
	}
	return s.recovered(ctx, r, "")
}

func (s *Service) recovered(ctx context.Context, r *record, how string) (recoverywire.Status, error) {
	if r.Recovered == 0 && r.Vetoed == 0 {
		r.Recovered = s.cfg.Now().Unix()
		if err := s.putRecord(ctx, r); err != nil {
			return recoverywire.Status{}, err
		}
		s.audit(ctx, OpOutcome, r.req.Handle, vault.OutcomeOK, fmt.Sprintf("device %s says it recovered %s's vault%s (request %s)",
			r.req.Device, r.req.Handle, how, hex.EncodeToString(r.req.ID[:8])))
	}
	return statusOf(r, s.cfg.Now()), nil
}

// Mail takes one mailbox item if it is social recovery's: sealed to this
// node and a recoverywire.Mail. It reports whether it was (the node's
// mailbox round drops what nobody takes). Works while the vault is
// locked.
func (s *Service) Mail(ctx context.Context, sealed []byte) bool {
	var plain []byte
	if err := s.cfg.WithPeerKey(func(k *keys.PeerKey) (err error) {
		plain, err = peerseal.Open(k, sealed)
		return err
	}); err != nil {
		return false
	}
	m, err := recoverywire.ParseMail(plain)
	if err != nil {
		return false
	}
	if len(m.Done) > 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r, err := s.getRecord(ctx, [32]byte(m.Done)); err == nil && !r.Mine {
			s.recovered(ctx, r, " (by mail)")
		}
		return true
	}
	o, err := recovery.Open(m.Message)
	if err != nil {
		s.refuse("mail", fmt.Errorf("a mailed recovery message: %w", err))
		return true
	}
	switch o.Kind {
	case recovery.KindShare:
		if err := s.takeShare(ctx, o, m.Message); err != nil {
			s.refuse(o.Signer.String(), err)
		}
	case recovery.KindRequest:
		s.takeRequest(ctx, "mail", o, m.Message)
	case recovery.KindVeto:
		s.takeVeto(ctx, "mail", o)
	default:
		s.refuse(o.Signer.String(), fmt.Errorf("a mailed %s is not taken here", o.Kind))
	}
	return true
}

// takeRequest records a fresh request for an owner whose share the node
// holds, or for the node's own vault.
func (s *Service) takeRequest(ctx context.Context, from string, o *recovery.Opened, message []byte) (recoverywire.Status, error) {
	now := s.cfg.Now()
	req, err := recovery.CheckRequest(o, now)
	switch {
	case errors.Is(err, recovery.ErrStale):
		return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.Expired, "the recovery request is stale: %v", err))
	case err != nil:
		return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.BadRequest, "not a valid recovery request"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, err := s.getRecord(ctx, req.ID); err == nil {
		// The same request again: not a new one. The first replay of each
		// is audited; the reply is where it stands.
		if !r.Replayed {
			r.Replayed = true
			if s.putRecord(ctx, r) == nil {
				s.audit(ctx, OpReplayed, req.Handle, vault.OutcomeDenied, fmt.Sprintf("recovery request %s from device %s arrived again; it is not a new request",
					hex.EncodeToString(req.ID[:8]), req.Device))
			}
		}
		return statusOf(r, now), nil
	}
	mine := req.Owner == s.cfg.Self
	var h *held
	if !mine {
		if h, err = s.getHeld(ctx, req.Owner); err != nil {
			return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.NotFound, "this node holds nothing for that owner"))
		}
	}
	rs, err := s.records(ctx)
	if err != nil {
		return recoverywire.Status{}, err
	}
	perOwner := 0
	for _, r := range rs {
		if r.req.Owner == req.Owner {
			perOwner++
		}
	}
	if perOwner >= s.cfg.MaxPerOwner || len(rs) >= s.cfg.MaxRequests {
		return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.Unavailable, "this node already holds as many recovery requests as it keeps; try again later"))
	}
	r := &record{Message: message, Received: now.Unix(), Mine: mine, req: req}
	if err := s.putRecord(ctx, r); err != nil {
		return recoverywire.Status{}, err
	}
	id := hex.EncodeToString(req.ID[:])
	if mine {
		s.log.Warn("someone asks to recover this node's vault", "device", req.Device, "request", id)
		s.audit(ctx, OpRequest, recovery.Social, vault.OutcomeOK, fmt.Sprintf(
			"device %s asks your friends to recover your vault (code %s); if it is not you: mesh recovery veto %s", req.Device, req.Code(), id[:16]))
	} else {
		handle := req.Handle
		if h.Handle != "" {
			handle = h.Handle
		}
		s.log.Info("a recovery request arrived", "owner", handle, "device", req.Device, "request", id)
		s.audit(ctx, OpRequest, handle, vault.OutcomeOK, fmt.Sprintf(
			"device %s asks to recover %s's vault (code %s): compare the code with %s, then mesh recovery help %s", req.Device, handle, req.Code(), handle, id[:16]))
	}
	return statusOf(r, now), nil
}

// takeVeto marks a request vetoed by its owner.
func (s *Service) takeVeto(ctx context.Context, from string, o *recovery.Opened) (recoverywire.Status, error) {
	var b recovery.VetoBody
	if wire.UnmarshalCanonical(o.Body, &b) != nil || len(b.Request) != 32 {
		return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.BadRequest, "not a valid veto"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getRecord(ctx, [32]byte(b.Request))
	if err != nil {
		return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.NotFound, "this node holds no such recovery request"))
	}
	if err := recovery.CheckVeto(o, r.req); err != nil {
		return recoverywire.Status{}, s.refuse(from, wire.Errorf(wire.Forbidden, "only the vault's owner vetoes its recovery"))
	}
	if r.Vetoed == 0 && !r.Mine {
		r.Vetoed, r.Release = s.cfg.Now().Unix(), nil
		if err := s.putRecord(ctx, r); err != nil {
			return recoverywire.Status{}, err
		}
		s.audit(ctx, OpVeto, r.req.Handle, vault.OutcomeOK, fmt.Sprintf("%s vetoed the recovery request from device %s (request %s); your share will not be released",
			r.req.Handle, r.req.Device, hex.EncodeToString(r.req.ID[:8])))
	}
	st := statusOf(r, s.cfg.Now())
	st.State, st.Until, st.Release = recoverywire.StateVetoed, 0, nil
	return st, nil
}

// takeShare checks a share delivery and keeps it: in the vault when it is
// unlocked, else in the clear store (it is sealed to this node's key)
// until the next unlock.
func (s *Service) takeShare(ctx context.Context, o *recovery.Opened, message []byte) error {
	var h *recovery.HeldShare
	if err := s.cfg.WithPeerKey(func(k *keys.PeerKey) (err error) {
		h, err = recovery.CheckShare(o, k)
		return err
	}); err != nil {
		return fmt.Errorf("a recovery share from %s: %w", o.Signer, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.getHeld(ctx, h.Owner)
	if err == nil && old.Time >= h.Body.Time {
		return nil // the same share again, or an older one
	}
	if err != nil {
		hs, err := s.helds(ctx)
		if err != nil {
			return err
		}
		if len(hs) >= s.cfg.MaxHeld {
			return fmt.Errorf("a recovery share from %s: this node already keeps shares for %d owners", h.Owner, len(hs))
		}
	}
	hd := &held{Handle: h.Body.OwnerHandle, Time: h.Body.Time, Wait: h.Body.Wait, K: h.Commitments.Threshold, N: len(h.Commitments.Admins)}
	if err := s.keepShare(ctx, h.Owner, hd, message); err != nil {
		return err
	}
	return nil
}

// keepShare puts a share in the vault, or in the clear store while the
// vault is locked.
func (s *Service) keepShare(ctx context.Context, owner peer.ID, hd *held, message []byte) error {
	who := hd.Handle
	if who == "" {
		who = owner.String()
	}
	e := vault.AuditEntry{Actor: s.cfg.Actor, Op: OpShare, Target: who,
		Detail: fmt.Sprintf("%s (%s) made you one of %d recovery friends (%d needed); you keep the share in your vault", who, owner, hd.N, hd.K)}
	err := s.cfg.Vault.Put(ctx, NS, owner.String(), message, e)
	switch {
	case err == nil:
		hd.Pending = false
		s.cfg.Store.Delete(ctx, pendingPrefix.ChildString(owner.String()))
	case errors.Is(err, vault.ErrLocked):
		if err := s.cfg.Store.Put(ctx, pendingPrefix.ChildString(owner.String()), message); err != nil {
			return err
		}
		hd.Pending = true
		s.audit(ctx, OpShare, who, vault.OutcomeOK, fmt.Sprintf("%s (%s) made you one of %d recovery friends (%d needed); the share, sealed to your key, moves into your vault at the next unlock",
			who, owner, hd.N, hd.K))
	default:
		return err
	}
	return s.putHeld(ctx, owner, hd)
}

// settle moves the shares taken while the vault was locked into it.
func (s *Service) settle(ctx context.Context) {
	if s.cfg.Vault.Locked() {
		return
	}
	hs, err := s.helds(ctx)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for owner, h := range hs {
		if !h.Pending {
			continue
		}
		msg, err := s.cfg.Store.Get(ctx, pendingPrefix.ChildString(owner.String()))
		if err != nil {
			continue
		}
		if err := s.keepShare(ctx, owner, h, msg); err != nil {
			s.log.Warn("cannot move a recovery share into the vault", "owner", owner, "err", err)
		}
	}
}
