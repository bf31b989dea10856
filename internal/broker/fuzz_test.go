package broker

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
)

// FuzzDecodeIndex: the decoder of a stored index either refuses with
// ErrIndex or gives an index that encodes back to the same bytes and
// keeps Add's rules.
func FuzzDecodeIndex(f *testing.F) {
	x, _ := NewIndex(3)
	x.Add("memory/a", []float32{1, 2, 3})
	x.Add("memory/b", []float32{-1, 0, 0})
	b, _ := x.Encode()
	f.Add(b)
	e, _ := NewIndex(1)
	b, _ = e.Encode()
	f.Add(b)
	f.Add([]byte{0xa4, 0x01, 0x01, 0x02, 0x01, 0x03, 0x80, 0x04, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		y, err := DecodeIndex(b)
		if err != nil {
			if !errors.Is(err, ErrIndex) {
				t.Fatalf("refusal %v is not ErrIndex", err)
			}
			return
		}
		again, err := y.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a decoded index does not encode back: %v", err)
		}
		if y.size(y.Len(), y.idBytes) != len(b) {
			t.Fatal("the kept size is not the encoding's")
		}
		for _, f := range y.vecs {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				t.Fatal("a value that is not finite")
			}
		}
		if y.Len() > 0 {
			q := make([]float32, y.Dim())
			q[0] = 1
			if _, err := y.Search(q, 1); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzNormalize: a URL is refused with ErrRefused, or normalizes to a
// target whose URL normalizes to itself (what is sent is what was
// matched) and which matches itself as an allowlist entry.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"https://api.openai.com/v1/embeddings?x=1",
		"http://127.0.0.1:8080/v1",
		"https://[::ffff:127.0.0.1]:443/a/b",
		"https://a.b/%7e/x",
		"https://a.b:0443/",
		"https://0x7f.1/",
		"https://user@a.b/",
		"HTTPS://a.b/c#frag",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, loop bool) {
		tg, err := normalize(s, loop)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("refusal %v is not ErrRefused", err)
			}
			return
		}
		sent := tg.url().String()
		again, err := normalize(sent, loop)
		if err != nil {
			t.Fatalf("%q normalized to %q, which is refused: %v", s, sent, err)
		}
		if again != tg {
			t.Fatalf("%q normalized to %+v, and its URL %q to %+v", s, tg, sent, again)
		}
		if !tg.Endpoint.matches(tg) {
			t.Fatalf("%q does not match itself", s)
		}
		u, _ := url.Parse(sent)
		if u.User != nil || u.Fragment != "" {
			t.Fatalf("%q sends userinfo or a fragment", sent)
		}
		if tg.Scheme == "http" && !(loop && tg.loopback()) {
			t.Fatalf("%q: plain http to a host that is not loopback", s)
		}
	})
}

// FuzzRedact: whatever surrounds a value, in whatever form redaction
// covers, no form of it survives.
func FuzzRedact(f *testing.F) {
	f.Add([]byte("sk-test+CANARY/4f9a1c2e7b=Zq"), "before ", " after", uint8(0))
	f.Add([]byte("aaaaaaaaaa"), "aaaa", "aaaa", uint8(3))
	f.Add([]byte("abababababab"), "ab", "aba", uint8(7))
	f.Fuzz(func(t *testing.T, v []byte, pre, post string, form uint8) {
		if len(v) < MinSecretBytes || len(v) > 256 || strings.Contains(string(v), Redacted) {
			return
		}
		forms := encodings(v)
		embedded := forms[int(form)%len(forms)]
		if form%5 == 4 { // inside a longer base64 text, at any alignment
			embedded = base64.StdEncoding.EncodeToString([]byte(pre + string(v) + post))
		}
		red := newRedactor(v)
		out, _ := red.String(pre + embedded + post)
		for _, f := range forms {
			if len(f) >= MinSecretBytes && strings.Contains(out, f) {
				t.Fatalf("the form %q of %q survives in %q", f, v, out)
			}
		}
	})
}

// FuzzParseEmbeddings: the embeddings answer parser refuses with
// ErrEmbedding or gives n finite vectors of one bounded dimension.
func FuzzParseEmbeddings(f *testing.F) {
	f.Add([]byte(`{"data":[{"index":0,"embedding":[0.1,0.2]},{"index":1,"embedding":[1,2]}]}`), uint8(2), uint16(0))
	f.Add([]byte(`{"data":[{"index":0,"embedding":[1e39]}]}`), uint8(1), uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, n uint8, dim uint16) {
		vs, err := parseEmbeddings(b, int(n), int(dim))
		if err != nil {
			if !errors.Is(err, ErrEmbedding) {
				t.Fatalf("refusal %v is not ErrEmbedding", err)
			}
			return
		}
		if len(vs) != int(n) {
			t.Fatalf("%d vectors for %d texts", len(vs), n)
		}
		for _, v := range vs {
			if len(v) != len(vs[0]) || len(v) == 0 || len(v) > MaxDimension || (dim != 0 && len(v) != int(dim)) {
				t.Fatalf("a vector of dimension %d", len(v))
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatal("a value that is not finite")
				}
			}
		}
	})
}

// FuzzCheckHeaders: the agent's headers either are refused or pass
// without a reserved one and within the caps.
func FuzzCheckHeaders(f *testing.F) {
	f.Add("Content-Type", "application/json", "authorization", "x")
	f.Add("X-Api-Key", "k", "accept", "*/*")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h, err := checkHeaders(map[string][]string{k1: {v1}, k2: {v2}})
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatal(err)
			}
			return
		}
		for k := range h {
			if _, bad := reserved[k]; bad || strings.HasPrefix(k, "Proxy-") {
				t.Fatalf("the reserved header %q passed", k)
			}
		}
	})
}
