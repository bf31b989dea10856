package uigateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/ocmt/mesh/internal/testkit"
)

// captureHello returns the first record a crypto/tls client sends with
// cfg: its ClientHello, as a browser's would reach the gateway.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() { _ = tls.Client(a, cfg).Handshake() }()
	hello, err := readHello(b)
	b.Close()
	if err != nil {
		t.Fatalf("reading a ClientHello crypto/tls sent: %v", err)
	}
	return hello
}

// tlsServerName is the server name crypto/tls's own server reads from
// hello: the reference ParseSNI must agree with. ok is false when
// crypto/tls refuses the bytes before it gets to the name.
func tlsServerName(hello []byte) (name string, ok bool) {
	a, b := net.Pipe()
	// Whatever crypto/tls waits for, it gives up after a while.
	a.SetDeadline(time.Now().Add(2 * time.Second))
	b.SetDeadline(time.Now().Add(2 * time.Second))
	go io.Copy(io.Discard, a) // the server's alert, which net.Pipe would block on
	go func() {
		a.Write(hello)
		a.Close()
	}()
	got := make(chan string, 1)
	srv := tls.Server(b, &tls.Config{GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		got <- chi.ServerName
		return nil, errors.New("enough")
	}})
	_ = srv.Handshake()
	b.Close()
	select {
	case n := <-got:
		return n, true
	default:
		return "", false
	}
}

// realHellos are ClientHellos of crypto/tls clients, by what differs.
func realHellos(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"TLS 1.3":            captureHello(t, &tls.Config{ServerName: "alice.ui.test"}),
		"TLS 1.2 only":       captureHello(t, &tls.Config{ServerName: "alice.ui.test", MaxVersion: tls.VersionTLS12}),
		"ALPN h2":            captureHello(t, &tls.Config{ServerName: "alice.ui.test", NextProtos: []string{"h2", "http/1.1"}}),
		"post-quantum share": captureHello(t, &tls.Config{ServerName: "alice.ui.test", CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}}),
		"upper case":         captureHello(t, &tls.Config{ServerName: "Alice.UI.Test"}),
		"trailing dot":       captureHello(t, &tls.Config{ServerName: "alice.ui.test."}),
	}
}

func TestParseSNIReadsWhatBrowsersSend(t *testing.T) {
	for what, hello := range realHellos(t) {
		name, err := ParseSNI(hello)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if name != "alice.ui.test" {
			t.Errorf("%s: read %q, want alice.ui.test", what, name)
		}
		if ref, ok := tlsServerName(hello); !ok || !strings.EqualFold(ref, name) {
			t.Errorf("%s: crypto/tls reads %q (parsed: %v), ParseSNI %q", what, ref, ok, name)
		}
		// Bytes after the first record belong to the connection.
		if again, err := ParseSNI(append(bytes.Clone(hello), 23, 3, 3, 0, 1, 0)); err != nil || again != name {
			t.Errorf("%s: with bytes after the record: %q, %v", what, again, err)
		}
	}
}

// record wraps a handshake message in one record.
func record(body []byte) []byte {
	return append([]byte{recordTypeHandshake, 3, 1, byte(len(body) >> 8), byte(len(body))}, body...)
}

// buildHello is a minimal ClientHello whose extensions exts writes; nil
// writes none, not even the length.
func buildHello(exts func(b *cryptobyte.Builder)) []byte {
	var hs cryptobyte.Builder
	hs.AddUint8(handshakeClientHello)
	hs.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, randomLen))
		b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1301) })
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		if exts != nil {
			b.AddUint16LengthPrefixed(exts)
		}
	})
	return record(hs.BytesOrPanic())
}

// sni writes a server_name extension of the given (type, name) entries.
func sni(entries ...any) func(b *cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) {
		b.AddUint16(extensionServerName)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for i := 0; i < len(entries); i += 2 {
					b.AddUint8(uint8(entries[i].(int)))
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(entries[i+1].(string))) })
				}
			})
		})
	}
}

func exts(fs ...func(b *cryptobyte.Builder)) func(b *cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) {
		for _, f := range fs {
			f(b)
		}
	}
}

func other(typ uint16) func(b *cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) {
		b.AddUint16(typ)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte{1, 2}) })
	}
}

func TestParseSNIBuiltHellos(t *testing.T) {
	if name, err := ParseSNI(buildHello(exts(other(10), sni(0, "Bob.UI.test"), other(43)))); err != nil || name != "bob.ui.test" {
		t.Fatalf("a minimal hello: %q, %v", name, err)
	}
	long := strings.Repeat("a", 63)
	if name, err := ParseSNI(buildHello(sni(0, long+"."+long+"."+long+"."+strings.Repeat("b", 61)))); err != nil || len(name) != 253 {
		t.Fatalf("a 253-byte name: %d bytes, %v", len(name), err)
	}
}

func TestParseSNIRefuses(t *testing.T) {
	real := captureHello(t, &tls.Config{ServerName: "alice.ui.test"})
	// The handshake message split over two records.
	msg := real[recordHeaderLen:]
	fragmented := append(record(msg[:40]), record(msg[40:])...)
	long := strings.Repeat("a", 63)
	cases := []struct {
		what  string
		hello []byte
		want  error
		says  string
	}{
		{"nothing", nil, ErrMalformed, "inside the record header"},
		{"plain HTTP", []byte("GET / HTTP/1.1\r\nHost: alice.ui.test\r\n\r\n"), ErrNotTLS, "did not start with a TLS handshake"},
		{"an application data record", append([]byte{23}, real[1:]...), ErrNotTLS, "TLS handshake"},
		{"record version 3.4", append([]byte{22, 3, 4}, real[3:]...), ErrNotTLS, "want 3.1 to 3.3"},
		{"SSL 2", append([]byte{22, 2, 0}, real[3:]...), ErrNotTLS, "want 3.1 to 3.3"},
		{"an empty record", []byte{22, 3, 1, 0, 0}, ErrMalformed, "announces 0 bytes"},
		{"a record too long", append([]byte{22, 3, 1, 0x40, 1}, make([]byte, 16385)...), ErrMalformed, "want 1 to 16384"},
		{"a record cut short", real[:len(real)-1], ErrMalformed, "follow"},
		{"fragmented", fragmented, ErrMalformed, "exactly one whole ClientHello"},
		{"a record with more after the hello", record(append(bytes.Clone(msg), 0)), ErrMalformed, "exactly one whole ClientHello"},
		{"a ServerHello", record(append([]byte{2}, msg[1:]...)), ErrMalformed, "not a ClientHello"},
		{"no extensions", buildHello(nil), ErrNoSNI, "names no server"},
		{"no server_name", buildHello(other(10)), ErrNoSNI, "names no server"},
		{"an empty server_name list", buildHello(sni()), ErrNoSNI, "names no server"},
		{"two names", buildHello(sni(0, "alice.ui.test", 0, "bob.ui.test")), ErrMalformed, "more than one server"},
		{"a name of another type", buildHello(sni(1, "alice.ui.test")), ErrMalformed, "of type 1"},
		{"two server_name extensions", buildHello(exts(sni(0, "alice.ui.test"), sni(0, "bob.ui.test"))), ErrMalformed, "appears twice"},
		{"another extension twice", buildHello(exts(other(10), sni(0, "alice.ui.test"), other(10))), ErrMalformed, "appears twice"},
		{"an empty name", buildHello(sni(0, "")), ErrMalformed, "want 1 to 253"},
		{"a name too long", buildHello(sni(0, long+"."+long+"."+long+"."+strings.Repeat("b", 62))), ErrMalformed, "want 1 to 253"},
		{"a label too long", buildHello(sni(0, long+"a.ui.test")), ErrMalformed, "longer than 63"},
		{"a trailing dot", buildHello(sni(0, "alice.ui.test.")), ErrMalformed, "ends with a dot"},
		{"an empty label", buildHello(sni(0, "alice..test")), ErrMalformed, "empty label"},
		{"a leading dot", buildHello(sni(0, ".alice.ui.test")), ErrMalformed, "empty label"},
		{"a space", buildHello(sni(0, "alice ui.test")), ErrMalformed, "other than a letter"},
		{"a NUL", buildHello(sni(0, "alice\x00.ui.test")), ErrMalformed, "other than a letter"},
		{"UTF-8", buildHello(sni(0, "alicé.ui.test")), ErrMalformed, "other than a letter"},
	}
	for _, c := range cases {
		name, err := ParseSNI(c.hello)
		if name != "" {
			t.Errorf("%s: read %q", c.what, name)
		}
		testkit.Sentence(t, c.what, err, c.says, c.want)
	}
	// Every prefix of a real hello is refused, none panics.
	for n := range len(real) {
		if _, err := ParseSNI(real[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("the first %d bytes of a hello: %v", n, err)
		}
	}
}

// TestReadHelloReadsOneRecordExactly: the gateway reads the first record
// and not a byte more, and stops at a header that is no TLS.
func TestReadHelloReadsOneRecordExactly(t *testing.T) {
	real := captureHello(t, &tls.Config{ServerName: "alice.ui.test"})
	r := bytes.NewReader(append(bytes.Clone(real), "after"...))
	got, err := readHello(r)
	if err != nil || !bytes.Equal(got, real) || r.Len() != len("after") {
		t.Fatalf("read %d bytes (%v), %d left; want %d and 5", len(got), err, r.Len(), len(real))
	}
	r = bytes.NewReader([]byte("GET / HTTP/1.1\r\n"))
	if got, err := readHello(r); !errors.Is(err, ErrNotTLS) || len(got) != recordHeaderLen {
		t.Fatalf("plain HTTP: read %d bytes, %v", len(got), err)
	}
}
