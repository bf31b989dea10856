package meshstate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// ErrKeyChanged means the directory now maps a known handle to another key.
var ErrKeyChanged = errors.New("contact's key changed")

// SafetyCode is the verification code two peers share: both compute the
// same 20 digits from their two peer IDs, in any order.
func SafetyCode(a, b peer.ID) string {
	x, y := []byte(a), []byte(b)
	if string(x) > string(y) {
		x, y = y, x
	}
	h := sha256.New()
	h.Write([]byte("ocmt-mesh/safety-code/v1\x00"))
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(x))))
	h.Write(x)
	h.Write(y)
	sum := h.Sum(nil)
	groups := make([]string, 4)
	for i := range groups {
		groups[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint32(sum[4*i:])%100000)
	}
	return strings.Join(groups, " ")
}

func contactKey(handle string) ds.Key { return contactsPrefix.ChildString(handle) }

// Pin checks handle → id against the pinned contact (trust on first use).
// A first sighting pins it; a different key is recorded as pending and
// refused (ErrKeyChanged) until Accept.
func (s *State) Pin(ctx context.Context, handle string, id peer.ID) error {
	var c localapi.Contact
	err := s.get(ctx, contactKey(handle), &c)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		c = localapi.Contact{Handle: handle, Peer: id.String(), FirstSeen: s.now().UTC()}
		return s.commit(ctx, vault.AuditEntry{Actor: s.actor, Op: OpContactNew, Target: handle, Outcome: vault.OutcomeOK, Detail: id.String()},
			contactKey(handle), c)
	case err != nil:
		return err
	case c.Peer == id.String():
		return nil
	}
	if c.Pending != id.String() {
		c.Pending = id.String()
		err := s.commit(ctx, vault.AuditEntry{Actor: s.actor, Op: OpContactChange, Target: handle, Outcome: vault.OutcomeDenied,
			Detail: "was " + c.Peer + ", now " + id.String()}, contactKey(handle), c)
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s was %s and is now %s; check the new verification code with them, then run `mesh contacts accept %s`",
		ErrKeyChanged, handle, c.Peer, id, handle)
}

// Contacts lists the pinned contacts, each with the verification code it
// shares with self.
func (s *State) Contacts(ctx context.Context, self peer.ID) ([]localapi.Contact, error) {
	cs, err := list[localapi.Contact](ctx, s.store, contactsPrefix)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if id, err := keys.DecodePeerID(cs[i].Peer); err == nil {
			cs[i].Code = SafetyCode(self, id)
		}
	}
	return cs, nil
}

// Accept pins a contact's pending key.
func (s *State) Accept(ctx context.Context, handle string) error {
	var c localapi.Contact
	if err := s.get(ctx, contactKey(handle), &c); errors.Is(err, ds.ErrNotFound) {
		return fmt.Errorf("%w: no contact %q", vault.ErrNotFound, handle)
	} else if err != nil {
		return err
	}
	if c.Pending == "" {
		return fmt.Errorf("%s has no pending key change", handle)
	}
	old := c.Peer
	c.Peer, c.Pending, c.FirstSeen = c.Pending, "", s.now().UTC()
	return s.commit(ctx, vault.AuditEntry{Actor: s.actor, Op: OpContactAccept, Target: handle, Outcome: vault.OutcomeOK,
		Detail: "was " + old + ", now " + c.Peer}, contactKey(handle), c)
}

// NameOf returns the handle pinned to id among the contacts, or "".
func (s *State) NameOf(ctx context.Context, id peer.ID) string {
	cs, err := list[localapi.Contact](ctx, s.store, contactsPrefix)
	if err != nil {
		return ""
	}
	for _, c := range cs {
		if c.Peer == id.String() {
			return c.Handle
		}
	}
	return ""
}

// PeerOf returns the peer pinned to handle among the contacts.
func (s *State) PeerOf(ctx context.Context, handle string) (peer.ID, bool) {
	var c localapi.Contact
	if err := s.get(ctx, contactKey(handle), &c); err != nil {
		return "", false
	}
	id, err := keys.DecodePeerID(c.Peer)
	return id, err == nil
}
