package uigateway

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParseSNI: any bytes either are refused with exactly one of
// ErrNotTLS, ErrMalformed and ErrNoSNI, or give a lowercase DNS name that
// the hello's first record carries and that crypto/tls's own server
// reads too. Each input also runs a crypto/tls handshake, so minimizing a
// new input takes a while: `-fuzzminimizetime 3s` keeps it short.
func FuzzParseSNI(f *testing.F) {
	for _, h := range realHellos(f) {
		f.Add(h)
	}
	f.Add(buildHello(exts(other(10), sni(0, "bob.ui.test"))))
	f.Add(buildHello(sni(0, "alice.ui.test", 0, "bob.ui.test")))
	f.Add(buildHello(nil))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{22, 3, 1, 0, 0})
	f.Fuzz(func(t *testing.T, hello []byte) {
		name, err := ParseSNI(hello)
		if err != nil {
			n := 0
			for _, e := range []error{ErrNotTLS, ErrMalformed, ErrNoSNI} {
				if errors.Is(err, e) {
					n++
				}
			}
			if n != 1 || name != "" {
				t.Fatalf("refusal %q (name %q) matches %d of the sentinels", err, name, n)
			}
			return
		}
		if _, err := hostName(name); err != nil || name != strings.ToLower(name) {
			t.Fatalf("read %q, not a lowercase DNS name", name)
		}
		n, _ := checkRecordHeader(hello)
		if !bytes.Contains(bytes.ToLower(hello[:recordHeaderLen+n]), []byte(name)) {
			t.Fatalf("read %q, which the hello's first record does not carry", name)
		}
		if ref, ok := tlsServerName(hello); ok && !strings.EqualFold(strings.TrimSuffix(ref, "."), name) {
			t.Fatalf("read %q, crypto/tls reads %q", name, ref)
		}
	})
}
