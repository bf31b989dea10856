package exchange

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

const detailProto = "/ocmt/wiretest-detail/1"

// sample is a small message for detail tests.
type sample struct {
	A uint64 `cbor:"1,keyasint"`
	B string `cbor:"2,keyasint,omitempty"`
	C []byte `cbor:"3,keyasint,omitempty"`
}

var (
	detailLimits  = Limits{MaxRequest: 64, MaxResponse: 2048, Timeout: 5 * time.Second}
	testDetail, _ = wire.Marshal(sample{A: 7, B: "why"})
)

// detailPair is a server and a client host, connected.
type detailPair struct {
	server, client host.Host
	ctx            context.Context
}

func newDetailPair(t *testing.T) *detailPair {
	t.Helper()
	p := &detailPair{server: testkit.Host(t, nil), client: testkit.Host(t, nil), ctx: testkit.Context(t, 10*time.Second)}
	testkit.Connect(t, p.client, p.server)
	return p
}

// serveErr has Serve answer with e and returns what Call makes of it.
func (p *detailPair) serveErr(proto string, e *wire.Error) error {
	p.server.SetStreamHandler(protoID(proto), func(s network.Stream) {
		Serve(s, detailLimits, nil, func(context.Context, peer.ID, []byte) (any, error) { return nil, e })
	})
	return Call(p.ctx, p.client, p.server.ID(), protoID(proto), detailLimits, sample{A: 1}, nil)
}

// rawReply has the server write rep as is and returns what Call makes of it.
func (p *detailPair) rawReply(proto string, rep Reply) error {
	p.server.SetStreamHandler(protoID(proto), func(s network.Stream) {
		defer s.Close()
		if _, err := wire.ReadFrame(s, detailLimits.MaxRequest); err != nil {
			s.Reset()
			return
		}
		wire.WriteMsg(s, detailLimits.MaxResponse, rep)
	})
	var out sample
	return Call(p.ctx, p.client, p.server.ID(), protoID(proto), detailLimits, sample{A: 1}, &out)
}

// TestRefusalDetail: a refusal's detail (Reply field 4) crosses Serve and
// Call with its status.
func TestRefusalDetail(t *testing.T) {
	p := newDetailPair(t)

	t.Run("a refusal's detail crosses with its status and message", func(t *testing.T) {
		err := p.serveErr("/a", &wire.Error{Status: wire.Revoked, Message: "gone", Detail: testDetail})
		var we *wire.Error
		if !errors.As(err, &we) || we.Status != wire.Revoked || we.Message != "gone" || !bytes.Equal(we.Detail, testDetail) {
			t.Fatalf("got %#v", err)
		}
		var back sample
		if err := wire.UnmarshalCanonical(we.Detail, &back); err != nil || back.B != "why" {
			t.Fatalf("detail decoded to %+v, %v", back, err)
		}
	})
	t.Run("a refusal without a detail has none", func(t *testing.T) {
		var we *wire.Error
		if err := p.serveErr("/b", wire.Errorf(wire.Forbidden, "no")); !errors.As(err, &we) || we.Detail != nil {
			t.Fatalf("got %#v", err)
		}
	})
	t.Run("the server drops a detail over MaxDetail and keeps the refusal", func(t *testing.T) {
		big, _ := wire.Marshal(sample{C: make([]byte, MaxDetail)})
		var we *wire.Error
		if err := p.serveErr("/c", &wire.Error{Status: wire.Revoked, Detail: big}); !errors.As(err, &we) || we.Status != wire.Revoked || we.Detail != nil {
			t.Fatalf("got %#v", err)
		}
	})
}

// TestReplyDetailChecks: Call never hands a caller a detail the envelope
// does not allow.
func TestReplyDetailChecks(t *testing.T) {
	p := newDetailPair(t)
	t.Run("the client drops a detail over MaxDetail and keeps the refusal", func(t *testing.T) {
		big, _ := wire.Marshal(sample{C: make([]byte, MaxDetail)})
		var we *wire.Error
		if err := p.rawReply("/d", Reply{Status: wire.Revoked, Detail: big}); !errors.As(err, &we) || we.Status != wire.Revoked || we.Detail != nil {
			t.Fatalf("got %#v", err)
		}
	})
	t.Run("an wire.OK reply carrying a detail is malformed", func(t *testing.T) {
		body, _ := wire.Marshal(sample{A: 2})
		if err := p.rawReply("/e", Reply{Status: wire.OK, Body: body, Detail: testDetail}); !errors.Is(err, wire.BadRequest) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an unknown status is wire.Internal and loses its detail", func(t *testing.T) {
		var we *wire.Error
		if err := p.rawReply("/f", Reply{Status: 999, Detail: testDetail}); !errors.As(err, &we) || we.Status != wire.Internal || we.Detail != nil {
			t.Fatalf("got %#v", err)
		}
	})
}

func protoID(suffix string) protocol.ID { return protocol.ID(detailProto + suffix) }
