package testkit

import (
	"io"
	"math/rand/v2"
	"runtime/metrics"
)

// Stream returns n pseudo-random bytes fixed by seed, made as they are
// read: content of any size for a test that must not hold it in memory.
func Stream(seed byte, n int64) io.Reader {
	return &stream{r: rand.NewChaCha8([32]byte{seed}), n: n}
}

type stream struct {
	r *rand.ChaCha8
	n int64
}

func (s *stream) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	s.r.Read(p)
	s.n -= int64(len(p))
	return len(p), nil
}

// HeapBytes is the live heap now (runtime/metrics' heap objects), cheap
// enough to sample every millisecond for a peak.
func HeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
