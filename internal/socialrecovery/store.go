package socialrecovery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/vault"
)

// Where the node keeps its social recovery state (doc.go "Store").
var (
	// Prefix is the namespace of the node's clear store this package
	// writes (internal/store's layout lists it).
	Prefix        = ds.NewKey("/recovery/social")
	requestPrefix = Prefix.ChildString("req")
	heldPrefix    = Prefix.ChildString("held")
	pendingPrefix = Prefix.ChildString("pending")
	outboxPrefix  = Prefix.ChildString("outbox")
)

// NS is the vault namespace of the shares a friend keeps, one record per
// owner named by the owner's peer ID: the owner's signed share delivery.
const NS vault.Namespace = "recovery"

// record is a request as a node keeps it (doc.go "Store").
type record struct {
	Message   []byte `cbor:"1,keyasint"`
	Received  int64  `cbor:"2,keyasint"`
	Mine      bool   `cbor:"3,keyasint,omitempty"`
	Approved  int64  `cbor:"4,keyasint,omitempty"`
	ReadyAt   int64  `cbor:"5,keyasint,omitempty"`
	Release   []byte `cbor:"6,keyasint,omitempty"`
	Vetoed    int64  `cbor:"7,keyasint,omitempty"`
	Released  int64  `cbor:"8,keyasint,omitempty"`
	Recovered int64  `cbor:"9,keyasint,omitempty"`
	Replayed  bool   `cbor:"10,keyasint,omitempty"`
	// req is Message checked (not stored).
	req *recovery.Request
}

// held is an owner whose share a friend keeps.
type held struct {
	Handle  string `cbor:"1,keyasint,omitempty"`
	Time    int64  `cbor:"2,keyasint"` // the share delivery's time
	Wait    int64  `cbor:"3,keyasint"` // seconds
	K       int    `cbor:"4,keyasint"`
	N       int    `cbor:"5,keyasint"`
	Pending bool   `cbor:"6,keyasint,omitempty"` // in the clear store until the vault is unlocked
}

func requestKey(id [32]byte) ds.Key { return requestPrefix.ChildString(hex.EncodeToString(id[:])) }

// parseRecord decodes a stored request and checks its message again,
// dated at its arrival (it was fresh then).
func parseRecord(b []byte) (*record, error) {
	var r record
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	o, err := recovery.Open(r.Message)
	if err != nil {
		return nil, err
	}
	if r.req, err = recovery.CheckRequest(o, time.Unix(r.Received, 0)); err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Service) getRecord(ctx context.Context, id [32]byte) (*record, error) {
	b, err := s.cfg.Store.Get(ctx, requestKey(id))
	if err != nil {
		return nil, err
	}
	return parseRecord(b)
}

func (s *Service) putRecord(ctx context.Context, r *record) error {
	b, err := wire.Marshal(r)
	if err != nil {
		return err
	}
	return s.cfg.Store.Put(ctx, requestKey(r.req.ID), b)
}

// records lists the stored requests, deleting those past Keep and those
// that no longer parse.
func (s *Service) records(ctx context.Context) ([]*record, error) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: requestPrefix.String()})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var out []*record
	for _, e := range entries {
		r, err := parseRecord(e.Value)
		if err != nil || now.Sub(time.Unix(r.Received, 0)) > Keep {
			s.cfg.Store.Delete(ctx, ds.NewKey(e.Key))
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// find is the one request whose hex ID starts with prefix.
func (s *Service) find(ctx context.Context, prefix string) (*record, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if len(prefix) < minIDPrefix {
		return nil, fmt.Errorf("give at least %d characters of the request's ID (mesh recovery requests lists them)", minIDPrefix)
	}
	rs, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	var found *record
	for _, r := range rs {
		if strings.HasPrefix(hex.EncodeToString(r.req.ID[:]), prefix) {
			if found != nil {
				return nil, fmt.Errorf("more than one request starts with %s: give more of its ID", prefix)
			}
			found = r
		}
	}
	if found == nil {
		return nil, fmt.Errorf("this node holds no recovery request %s (mesh recovery requests lists them)", prefix)
	}
	return found, nil
}

func heldKey(owner peer.ID) ds.Key { return heldPrefix.ChildString(owner.String()) }

func (s *Service) getHeld(ctx context.Context, owner peer.ID) (*held, error) {
	b, err := s.cfg.Store.Get(ctx, heldKey(owner))
	if err != nil {
		return nil, err
	}
	var h held
	if err := wire.UnmarshalCanonical(b, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func (s *Service) putHeld(ctx context.Context, owner peer.ID, h *held) error {
	b, err := wire.Marshal(h)
	if err != nil {
		return err
	}
	return s.cfg.Store.Put(ctx, heldKey(owner), b)
}

// helds lists the owners whose shares the node keeps.
func (s *Service) helds(ctx context.Context) (map[peer.ID]*held, error) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: heldPrefix.String()})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := map[peer.ID]*held{}
	for _, e := range entries {
		id, err := peer.Decode(ds.NewKey(e.Key).BaseNamespace())
		var h held
		if err != nil || wire.UnmarshalCanonical(e.Value, &h) != nil {
			continue
		}
		out[id] = &h
	}
	return out, nil
}

func notFound(err error) bool { return errors.Is(err, ds.ErrNotFound) }
