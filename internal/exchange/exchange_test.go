package exchange

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/ocmt/mesh/internal/wire"
)

const testProto = "/ocmt/wiretest/1"

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

type echoReq struct {
	Say string `cbor:"1,keyasint"`
}

func TestServeAndCall(t *testing.T) {
	server, client := newHost(t), newHost(t)
	lim := Limits{MaxRequest: 64, MaxResponse: 128, Timeout: 3 * time.Second}
	server.SetStreamHandler(testProto, func(s network.Stream) {
		Serve(s, lim, nil, func(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
			var req echoReq
			if err := wire.Unmarshal(raw, &req); err != nil {
				return nil, err
			}
			switch req.Say {
			case "who":
				return echoReq{Say: remote.String()}, nil
			case "missing":
				return nil, wire.Errorf(wire.NotFound, "nothing called %q", req.Say)
			case "crash":
				return nil, errors.New("db path /var/secret failed")
			}
			return req, nil
		})
	})
	client.Peerstore().AddAddrs(server.ID(), server.Addrs(), time.Minute)
	ctx := context.Background()

	t.Run("the handler sees the authenticated remote peer", func(t *testing.T) {
		var out echoReq
		if err := Call(ctx, client, server.ID(), testProto, lim, echoReq{Say: "who"}, &out); err != nil {
			t.Fatal(err)
		}
		if out.Say != client.ID().String() {
			t.Fatalf("got %q", out.Say)
		}
	})
	t.Run("a wire error crosses with its status and message", func(t *testing.T) {
		err := Call(ctx, client, server.ID(), testProto, lim, echoReq{Say: "missing"}, nil)
		var we *wire.Error
		if !errors.Is(err, wire.NotFound) || !errors.As(err, &we) || we.Message == "" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a local failure crosses as a bare wire.Internal", func(t *testing.T) {
		err := Call(ctx, client, server.ID(), testProto, lim, echoReq{Say: "crash"}, nil)
		var we *wire.Error
		if !errors.As(err, &we) || we.Status != wire.Internal || we.Message != "" {
			t.Fatalf("got %#v", err)
		}
	})
	t.Run("an oversized request is answered wire.TooLarge without reading it", func(t *testing.T) {
		s, err := client.NewStream(ctx, server.ID(), testProto)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wire.WriteFrame(s, make([]byte, 1000), 1<<20)
		var rep Reply
		if err := wire.ReadMsg(s, 128, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Status != wire.TooLarge {
			t.Fatalf("got %v", rep.Status)
		}
	})
	t.Run("a malformed request is answered wire.BadRequest", func(t *testing.T) {
		err := Call(ctx, client, server.ID(), testProto, lim, map[string]int{"zz": 1}, nil)
		if !errors.Is(err, wire.BadRequest) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a silent client is cut off by the read deadline", func(t *testing.T) {
		short := lim
		short.Timeout = 200 * time.Millisecond
		server.SetStreamHandler(testProto+"/slow", func(s network.Stream) {
			Serve(s, short, nil, func(context.Context, peer.ID, []byte) (any, error) { return nil, nil })
		})
		s, err := client.NewStream(ctx, server.ID(), testProto+"/slow")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(3 * time.Second))
		start := time.Now()
		var b [1]byte
		_, err = s.Read(b[:])
		if err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("server kept the stream open: %v after %v", err, time.Since(start))
		}
	})
}

func TestServeRefusesWhenMemoryIsNotGranted(t *testing.T) {
	// The server's resource manager grants each stream 1 KiB; a request
	// whose declared size needs more is answered Unavailable before its
	// body is allocated, while a small request under a big cap is served.
	cfg := rcmgr.PartialLimitConfig{Stream: rcmgr.ResourceLimits{Memory: 1024}}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(cfg.Build(rcmgr.InfiniteLimits)))
	if err != nil {
		t.Fatal(err)
	}
	server, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.ResourceManager(rm))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client := newHost(t)
	client.Peerstore().AddAddrs(server.ID(), server.Addrs(), time.Minute)

	small := Limits{MaxRequest: 256, MaxResponse: 256, Timeout: 3 * time.Second}
	big := Limits{MaxRequest: 4096, MaxResponse: 256, Timeout: 3 * time.Second}
	called := 0
	handler := func(context.Context, peer.ID, []byte) (any, error) { called++; return nil, nil }
	server.SetStreamHandler(testProto+"/small", func(s network.Stream) { Serve(s, small, nil, handler) })
	server.SetStreamHandler(testProto+"/big", func(s network.Stream) { Serve(s, big, nil, handler) })

	ctx := context.Background()
	if err := Call(ctx, client, server.ID(), testProto+"/small", small, echoReq{Say: "hi"}, nil); err != nil {
		t.Fatalf("within the grant: %v", err)
	}
	if err := Call(ctx, client, server.ID(), testProto+"/big", small, echoReq{Say: "hi"}, nil); err != nil {
		t.Fatalf("a small request under a big cap: %v", err)
	}
	err = Call(ctx, client, server.ID(), testProto+"/big", big, echoReq{Say: strings.Repeat("x", 2000)}, nil)
	if !errors.Is(err, wire.Unavailable) {
		t.Fatalf("over the grant: %v", err)
	}
	if called != 2 {
		t.Fatalf("handler ran %d times", called)
	}
}
