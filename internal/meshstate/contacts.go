package meshstate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

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

// contact is a contact record as stored: what mesh contacts shows, and the
// relay circuit addresses of the last directory record seen for the pinned
// key, so the contact can still be reached while the bootstrap is down
// (Remember, Pinned). Readers that decode a localapi.Contact skip them.
type contact struct {
	localapi.Contact
	Relays []string `json:"relays,omitempty"`
}

// MaxRelays bounds the relay addresses kept per contact (a directory
// record names at most 8).
const MaxRelays = 8

// Pin checks handle → id against the pinned contact (trust on first use).
// A first sighting pins it; a different key is recorded as pending and
// refused (ErrKeyChanged) until Accept.
func (s *State) Pin(ctx context.Context, handle string, id peer.ID) error {
	s.contacts.Lock()
	defer s.contacts.Unlock()
	var c contact
	err := s.get(ctx, contactKey(handle), &c)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		c = contact{Contact: localapi.Contact{Handle: handle, Peer: id.String(), FirstSeen: s.now().UTC()}}
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

// Accept pins a contact's pending key (the relays known for the old key
// are dropped).
func (s *State) Accept(ctx context.Context, handle string) error {
	s.contacts.Lock()
	defer s.contacts.Unlock()
	var c contact
	if err := s.get(ctx, contactKey(handle), &c); errors.Is(err, ds.ErrNotFound) {
		return fmt.Errorf("%w: no contact %q", vault.ErrNotFound, handle)
	} else if err != nil {
		return err
	}
	if c.Pending == "" {
		return fmt.Errorf("%s has no pending key change", handle)
	}
	old := c.Peer
	c.Peer, c.Pending, c.FirstSeen, c.Relays = c.Pending, "", s.now().UTC(), nil
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

// Remember keeps relays, the relay circuit addresses of a directory record
// just seen for handle, with the contact if id is its pinned key (at most
// MaxRelays; nothing is written when they did not change). They are
// routing hints, not trust: whoever answers at them must still prove the
// pinned key, so they are written without an audit record.
func (s *State) Remember(ctx context.Context, handle string, id peer.ID, relays []ma.Multiaddr) error {
	s.contacts.Lock()
	defer s.contacts.Unlock()
	var c contact
	if err := s.get(ctx, contactKey(handle), &c); errors.Is(err, ds.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if c.Peer != id.String() {
		return nil
	}
	addrs := make([]string, 0, min(len(relays), MaxRelays))
	for _, a := range relays[:min(len(relays), MaxRelays)] {
		addrs = append(addrs, a.String())
	}
	if slices.Equal(addrs, c.Relays) {
		return nil
	}
	c.Relays = addrs
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, contactKey(handle), raw)
}

// Reach is a pinned contact as the node can reach it without the
// directory: its handle, pinned key and last-known relay addresses.
type Reach struct {
	Handle string
	Peer   peer.ID
	Relays []ma.Multiaddr
	// Pending is a key the directory gave for the handle since, not
	// accepted yet ("" when none).
	Pending string
}

// Pinned returns the contact pinned to handle; ok is false when there is
// none.
func (s *State) Pinned(ctx context.Context, handle string) (Reach, bool) {
	var c contact
	if err := s.get(ctx, contactKey(handle), &c); err != nil {
		return Reach{}, false
	}
	return c.reach()
}

// PinnedPeer returns the contact whose pinned key is id; ok is false when
// there is none.
func (s *State) PinnedPeer(ctx context.Context, id peer.ID) (Reach, bool) {
	cs, err := list[contact](ctx, s.store, contactsPrefix)
	if err != nil {
		return Reach{}, false
	}
	for _, c := range cs {
		if c.Peer == id.String() {
			return c.reach()
		}
	}
	return Reach{}, false
}

func (c contact) reach() (Reach, bool) {
	id, err := keys.DecodePeerID(c.Peer)
	if err != nil {
		return Reach{}, false
	}
	r := Reach{Handle: c.Handle, Peer: id, Pending: c.Pending}
	for _, a := range c.Relays {
		if m, err := ma.NewMultiaddr(a); err == nil {
			r.Relays = append(r.Relays, m)
		}
	}
	return r, true
}
