package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

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

// pinContact checks handle → id against the pinned contact (trust on first
// use). A first sighting pins it; a different key is recorded as pending
// and refused until AcceptContact.
func (l *Local) pinContact(ctx context.Context, handle string, id peer.ID) error {
	var c localapi.Contact
	err := getJSON(ctx, l.store, contactKey(handle), &c)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		c = localapi.Contact{Handle: handle, Peer: id.String(), FirstSeen: time.Now().UTC()}
		return l.vault.Commit(ctx, vault.AuditEntry{Actor: l.actor, Op: OpContactNew, Target: handle, Outcome: vault.OutcomeOK, Detail: id.String()},
			func(b ds.Batch) error { return putJSON(ctx, b, contactKey(handle), c) })
	case err != nil:
		return err
	case c.Peer == id.String():
		return nil
	}
	if c.Pending != id.String() {
		c.Pending = id.String()
		err := l.vault.Commit(ctx, vault.AuditEntry{Actor: l.actor, Op: OpContactChange, Target: handle, Outcome: vault.OutcomeDenied,
			Detail: "was " + c.Peer + ", now " + id.String()}, func(b ds.Batch) error { return putJSON(ctx, b, contactKey(handle), c) })
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s was %s and is now %s; check the new verification code with them, then run `mesh contacts accept %s`",
		ErrKeyChanged, handle, c.Peer, id, handle)
}

// Contacts implements localapi.Backend.
func (l *Local) Contacts(ctx context.Context) ([]localapi.Contact, error) {
	cs, err := listJSON[localapi.Contact](ctx, l.store, contactsPrefix)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if id, err := peer.Decode(cs[i].Peer); err == nil {
			cs[i].Code = SafetyCode(l.peer.ID(), id)
		}
	}
	return cs, nil
}

// AcceptContact implements localapi.Backend: it pins the pending key.
func (l *Local) AcceptContact(ctx context.Context, handle string) error {
	var c localapi.Contact
	if err := getJSON(ctx, l.store, contactKey(handle), &c); errors.Is(err, ds.ErrNotFound) {
		return fmt.Errorf("%w: no contact %q", vault.ErrNotFound, handle)
	} else if err != nil {
		return err
	}
	if c.Pending == "" {
		return fmt.Errorf("%s has no pending key change", handle)
	}
	old := c.Peer
	c.Peer, c.Pending, c.FirstSeen = c.Pending, "", time.Now().UTC()
	return l.vault.Commit(ctx, vault.AuditEntry{Actor: l.actor, Op: OpContactAccept, Target: handle, Outcome: vault.OutcomeOK,
		Detail: "was " + old + ", now " + c.Peer}, func(b ds.Batch) error { return putJSON(ctx, b, contactKey(handle), c) })
}

// nameOf names a peer for messages: its pinned contact handle, else the
// handle its own signed directory record claims (looked up briefly), else "".
func (l *Local) nameOf(id peer.ID) string {
	if name := l.contactName(id); name != "" {
		return name
	}
	if l.net == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rec, err := l.net.lookupPeer(ctx, id)
	if err != nil || rec.Peer != id {
		return ""
	}
	return string(rec.Handle)
}

// contactName returns the handle pinned to id among our contacts, or "".
func (l *Local) contactName(id peer.ID) string {
	cs, err := listJSON[localapi.Contact](context.Background(), l.store, contactsPrefix)
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
