// Package testmesh holds helpers for tests that run a whole mesh: a host
// wrapper that records every byte a peer's services read and write, so
// zero-knowledge tests can search it for canaries.
package testmesh

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Recorder keeps every byte tapped streams carried, in both directions.
type Recorder struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	streams int
}

// Bytes returns a copy of everything recorded.
func (r *Recorder) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// Streams returns how many streams were tapped.
func (r *Recorder) Streams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams
}

func (r *Recorder) add(p []byte) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
}

// TapHost wraps a host so that every stream handler registered through it
// sees a stream whose reads and writes are recorded.
type TapHost struct {
	host.Host
	Rec *Recorder
}

// NewTapHost wraps h.
func NewTapHost(h host.Host) *TapHost { return &TapHost{Host: h, Rec: &Recorder{}} }

// SetStreamHandler registers handler behind the tap.
func (t *TapHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	t.Host.SetStreamHandler(pid, func(s network.Stream) {
		t.Rec.mu.Lock()
		t.Rec.streams++
		t.Rec.mu.Unlock()
		handler(&tapStream{Stream: s, rec: t.Rec})
	})
}

// SetStreamHandlerMatch registers handler behind the tap.
func (t *TapHost) SetStreamHandlerMatch(pid protocol.ID, m func(protocol.ID) bool, handler network.StreamHandler) {
	t.Host.SetStreamHandlerMatch(pid, m, func(s network.Stream) {
		handler(&tapStream{Stream: s, rec: t.Rec})
	})
}

type tapStream struct {
	network.Stream
	rec *Recorder
}

func (s *tapStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.rec.add(p[:n])
	return n, err
}

func (s *tapStream) Write(p []byte) (int, error) {
	n, err := s.Stream.Write(p)
	s.rec.add(p[:n])
	return n, err
}

// Forms returns a canary in the encodings a leak might take: raw, hex,
// base64 and base64url.
func Forms(canary []byte) [][]byte {
	return [][]byte{canary, []byte(hex.EncodeToString(canary)),
		[]byte(base64.StdEncoding.EncodeToString(canary)), []byte(base64.RawURLEncoding.EncodeToString(canary)),
		[]byte(base64.RawStdEncoding.EncodeToString(canary))}
}

// Find reports the first canary form found in hay, or nil.
func Find(hay []byte, canaries ...[]byte) []byte {
	for _, c := range canaries {
		for _, f := range Forms(c) {
			if bytes.Contains(hay, f) {
				return f
			}
		}
	}
	return nil
}
