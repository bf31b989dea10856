package groupclient

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/wire"
)

// membership is one group this node is in (/groups/m/GROUP).
type membership struct {
	Group       string `cbor:"1,keyasint"`
	Vault       []byte `cbor:"2,keyasint"`
	VaultHandle string `cbor:"3,keyasint,omitempty"`
	Commitments []byte `cbor:"4,keyasint"`
	// Height and Head are the last verified audit record's.
	Height uint64 `cbor:"5,keyasint,omitempty"`
	Head   []byte `cbor:"6,keyasint,omitempty"`
	// Fork is the evidence of a fork, in words, once one was seen.
	Fork string `cbor:"7,keyasint,omitempty"`
	// Role is "admin" (empty) or a member's "read" or "write", whose
	// group capability is Token.
	Role  string `cbor:"8,keyasint,omitempty"`
	Token []byte `cbor:"9,keyasint,omitempty"`
}

func (m *membership) admin() bool { return m.Role == "" || m.Role == "admin" }

func (m *membership) vault() peer.ID { return peer.ID(m.Vault) }

func (m *membership) vaultName() string {
	if m.VaultHandle != "" {
		return m.VaultHandle
	}
	return m.vault().String()
}

var (
	memberPrefix = ds.NewKey("/groups/m")
	recordPrefix = ds.NewKey("/groups/a")
)

func memberKey(group string) ds.Key { return memberPrefix.ChildString(group) }

func recordKey(group string, h uint64) ds.Key {
	return recordPrefix.ChildString(group).ChildString(fmt.Sprintf("%020d", h))
}

// errNotIn is the answer about a group this node is not in.
func errNotIn(group string) error {
	return fmt.Errorf("you are not in a group named %q (mesh group list shows yours; mesh group join %s --vault HANDLE takes your share)", group, group)
}

func (s *Service) membership(ctx context.Context, group string) (*membership, error) {
	b, err := s.cfg.Store.Get(ctx, memberKey(group))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, errNotIn(group)
	} else if err != nil {
		return nil, err
	}
	var m membership
	if err := wire.UnmarshalCanonical(b, &m); err != nil {
		return nil, fmt.Errorf("the record of group %q does not parse: %w", group, err)
	}
	return &m, nil
}

func (s *Service) memberships(ctx context.Context) ([]*membership, error) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: memberPrefix.String()})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	var out []*membership
	for _, e := range entries {
		var m membership
		if err := wire.UnmarshalCanonical(e.Value, &m); err != nil {
			s.log.Warn("a group record does not parse", "key", e.Key)
			continue
		}
		out = append(out, &m)
	}
	return out, nil
}

func (s *Service) save(ctx context.Context, m *membership) error {
	b, err := wire.Marshal(m)
	if err != nil {
		return err
	}
	return s.cfg.Store.Put(ctx, memberKey(m.Group), b)
}
