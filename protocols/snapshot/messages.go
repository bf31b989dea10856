package snapshot

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/wire"
)

// ID is the protocol ID.
const ID = "/ocmt/snapshot/1"

// Operations.
const (
	OpPush  = 1
	OpFetch = 2
)

// Request is the first frame of every stream (doc.go "Request").
type Request struct {
	Op       uint64 `cbor:"1,keyasint"`
	Manifest []byte `cbor:"2,keyasint,omitempty"`
	Owner    []byte `cbor:"3,keyasint,omitempty"`
	Resource string `cbor:"4,keyasint,omitempty"`
	Token    []byte `cbor:"5,keyasint,omitempty"`
}

// FetchReply is the body of a fetch's OK reply: the manifest, and how many
// block frames follow it (the root and the chunks).
type FetchReply struct {
	Manifest []byte `cbor:"1,keyasint"`
	Blocks   uint64 `cbor:"2,keyasint"`
}

// fetchReq is a checked fetch request.
type fetchReq struct {
	owner    peer.ID
	resource string
	token    []byte
}

// parseRequest decodes a request frame canonically and checks which
// fields its operation takes (doc.go "Request"). Every failure is
// BadRequest.
func parseRequest(b []byte) (*Request, error) {
	var r Request
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error { return wire.Errorf(wire.BadRequest, format, args...) }
	switch r.Op {
	case OpPush:
		if len(r.Manifest) == 0 || len(r.Owner) != 0 || r.Resource != "" || len(r.Token) != 0 {
			return nil, bad("a push takes a manifest and nothing else")
		}
		if len(r.Manifest) > snap.MaxManifestBytes {
			return nil, bad("manifest of %d bytes, cap %d", len(r.Manifest), snap.MaxManifestBytes)
		}
	case OpFetch:
		if len(r.Manifest) != 0 || len(r.Owner) == 0 || r.Resource == "" || len(r.Token) == 0 {
			return nil, bad("a fetch takes an owner, a resource and a token, and nothing else")
		}
		if len(r.Token) > capability.MaxTokenBytes {
			return nil, bad("token of %d bytes, cap %d", len(r.Token), capability.MaxTokenBytes)
		}
		if _, err := capability.ParsePath(r.Resource); err != nil {
			return nil, bad("resource: %v", err)
		}
		if _, _, err := keys.ParsePeerID(r.Owner); err != nil {
			return nil, bad("owner: %v", err)
		}
	default:
		return nil, bad("unknown operation %d", r.Op)
	}
	return &r, nil
}

func (r *Request) fetch() fetchReq {
	id, _, _ := keys.ParsePeerID(r.Owner) // checked by parseRequest
	return fetchReq{owner: id, resource: r.Resource, token: r.Token}
}

// parseFetchReply decodes the body of a fetch's OK reply.
func parseFetchReply(b []byte) (*FetchReply, error) {
	var r FetchReply
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	if len(r.Manifest) == 0 || len(r.Manifest) > snap.MaxManifestBytes {
		return nil, wire.Errorf(wire.BadRequest, "manifest of %d bytes", len(r.Manifest))
	}
	if r.Blocks < 2 || r.Blocks > snap.MaxChunks+1 {
		return nil, wire.Errorf(wire.BadRequest, "%d blocks, want 2..%d", r.Blocks, snap.MaxChunks+1)
	}
	return &r, nil
}

func describe(r *Request) string {
	switch r.Op {
	case OpPush:
		return "push"
	case OpFetch:
		return fmt.Sprintf("fetch %q", r.Resource)
	}
	return "?"
}
