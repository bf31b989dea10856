package uigateway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// TLS numbers the parser reads (RFC 8446, RFC 6066).
const (
	recordTypeHandshake  = 22
	handshakeClientHello = 1
	extensionServerName  = 0
	nameTypeHostName     = 0
	sessionIDMaxLen      = 32
	randomLen            = 32
)

// Why a ClientHello is refused. Every error ParseSNI and the gateway's
// reader return matches exactly one of them with errors.Is.
var (
	// ErrNotTLS: the first bytes are not a TLS handshake record (plain
	// HTTP on the TLS port, say).
	ErrNotTLS = errors.New("the connection did not start with a TLS handshake")
	// ErrMalformed: a handshake record, but not one whole, well-formed
	// ClientHello.
	ErrMalformed = errors.New("the TLS ClientHello is malformed")
	// ErrNoSNI: a well-formed ClientHello that names no server.
	ErrNoSNI = errors.New("the TLS ClientHello names no server (no SNI)")
)

// malformed is ErrMalformed with what was wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// checkRecordHeader checks the 5 bytes that start a connection and returns
// the length of the record they announce.
func checkRecordHeader(h []byte) (int, error) {
	if h[0] != recordTypeHandshake {
		return 0, ErrNotTLS
	}
	if h[1] != 3 || h[2] < 1 || h[2] > 3 {
		return 0, fmt.Errorf("%w: the record's version is %d.%d, want 3.1 to 3.3", ErrNotTLS, h[1], h[2])
	}
	n := int(binary.BigEndian.Uint16(h[3:5]))
	if n == 0 || n > maxRecordLen {
		return 0, malformed("the first record announces %d bytes, want 1 to %d", n, maxRecordLen)
	}
	return n, nil
}

// readHello reads the first TLS record of r, exactly: its header, then
// the length the header announces (at most MaxHello bytes in all). It
// returns the bytes it read even on an error, so they can be counted.
func readHello(r io.Reader) ([]byte, error) {
	buf := make([]byte, recordHeaderLen, MaxHello)
	if n, err := io.ReadFull(r, buf); err != nil {
		return buf[:n], err
	}
	n, err := checkRecordHeader(buf)
	if err != nil {
		return buf, err
	}
	buf = buf[:recordHeaderLen+n]
	got, err := io.ReadFull(r, buf[recordHeaderLen:])
	return buf[:recordHeaderLen+got], err
}

// ParseSNI returns the server name (SNI, RFC 6066) of the TLS ClientHello
// that hello starts with, lowercased. hello must start with one whole
// handshake record of at most MaxHello bytes holding exactly one whole
// ClientHello; bytes after that record are not read. The ClientHello is
// read field by field and each length checked against what holds it; no
// TLS is spoken and no key is involved. It refuses, with an error
// matching ErrNotTLS, ErrMalformed or ErrNoSNI:
//
//   - a record that is not a handshake, or of a version other than 3.1
//     to 3.3, or of 0 or more than 16384 bytes;
//   - a ClientHello split over several records, or a record holding
//     more than it;
//   - any length that overruns what holds it, or leaves bytes over;
//   - an extension that appears twice;
//   - a server_name extension that holds other than exactly one
//     host_name, or a name that is not a DNS name (letters, digits, "-"
//     and "_", labels of 1 to 63 bytes, at most 253 bytes, no trailing
//     dot);
//   - a ClientHello without extensions or without a server_name.
func ParseSNI(hello []byte) (string, error) {
	if len(hello) < recordHeaderLen {
		if len(hello) > 0 && hello[0] != recordTypeHandshake {
			return "", ErrNotTLS
		}
		return "", malformed("it ends after %d bytes, inside the record header", len(hello))
	}
	n, err := checkRecordHeader(hello)
	if err != nil {
		return "", err
	}
	if len(hello) < recordHeaderLen+n {
		return "", malformed("the first record announces %d bytes and %d follow", n, len(hello)-recordHeaderLen)
	}
	rec := cryptobyte.String(hello[recordHeaderLen : recordHeaderLen+n])
	var typ uint8
	var body cryptobyte.String
	if !rec.ReadUint8(&typ) || typ != handshakeClientHello {
		return "", malformed("the first handshake message is not a ClientHello")
	}
	if !rec.ReadUint24LengthPrefixed(&body) || !rec.Empty() {
		return "", malformed("the first record does not hold exactly one whole ClientHello")
	}
	var version uint16
	if !body.ReadUint16(&version) || version>>8 != 3 {
		return "", malformed("the ClientHello's version is not 3.x")
	}
	var sessionID, suites, compression, extensions cryptobyte.String
	switch {
	case !body.Skip(randomLen):
		return "", malformed("the ClientHello ends inside its random")
	case !body.ReadUint8LengthPrefixed(&sessionID) || len(sessionID) > sessionIDMaxLen:
		return "", malformed("the ClientHello's session ID is not 0 to %d bytes", sessionIDMaxLen)
	case !body.ReadUint16LengthPrefixed(&suites) || len(suites) < 2 || len(suites)%2 != 0:
		return "", malformed("the ClientHello's cipher suites are not a non-empty list of pairs of bytes")
	case !body.ReadUint8LengthPrefixed(&compression) || len(compression) < 1:
		return "", malformed("the ClientHello's compression methods are not a non-empty list")
	case body.Empty():
		return "", ErrNoSNI // no extensions at all
	case !body.ReadUint16LengthPrefixed(&extensions) || !body.Empty():
		return "", malformed("the ClientHello's extensions do not end where it does")
	}
	seen := make(map[uint16]bool)
	name, found := "", false
	for !extensions.Empty() {
		var ext uint16
		var data cryptobyte.String
		if !extensions.ReadUint16(&ext) || !extensions.ReadUint16LengthPrefixed(&data) {
			return "", malformed("an extension overruns the ClientHello")
		}
		if seen[ext] {
			return "", malformed("extension %d appears twice", ext)
		}
		seen[ext] = true
		if ext != extensionServerName {
			continue
		}
		if name, err = parseServerName(data); err != nil {
			return "", err
		}
		found = true
	}
	if !found {
		return "", ErrNoSNI
	}
	return name, nil
}

// parseServerName reads a server_name extension's body: a list holding
// exactly one host_name.
func parseServerName(data cryptobyte.String) (string, error) {
	var list, host cryptobyte.String
	var nameType uint8
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
		return "", malformed("the server_name extension's list does not fill it")
	}
	if list.Empty() {
		return "", ErrNoSNI
	}
	if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&host) {
		return "", malformed("the server_name overruns its list")
	}
	if nameType != nameTypeHostName {
		return "", malformed("the server_name is of type %d, not a host name", nameType)
	}
	if !list.Empty() {
		return "", malformed("the server_name extension names more than one server")
	}
	return hostName(string(host))
}

// hostName checks that s is a DNS name as SNI carries it and returns it
// lowercased.
func hostName(s string) (string, error) {
	if len(s) == 0 || len(s) > maxHostLen {
		return "", malformed("the server name is %d bytes, want 1 to %d", len(s), maxHostLen)
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", malformed("the server name has an empty label")
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", malformed("the server name holds a byte other than a letter, a digit, '-', '_' or '.'")
		}
		if label++; label > maxLabelLen {
			return "", malformed("a label of the server name is longer than %d bytes", maxLabelLen)
		}
	}
	if label == 0 {
		return "", malformed("the server name ends with a dot")
	}
	return strings.ToLower(s), nil
}
