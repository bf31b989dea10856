package broker

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redacted replaces every occurrence of a secret, in any form the
// redactor knows, in what the agent receives.
const Redacted = "[REDACTED]"

// redactor replaces the forms of a set of secret values.
type redactor struct {
	forms []string
	r     *strings.Replacer
}

// newRedactor builds the forms of each value (doc.go, "Redaction"),
// longest first, so a longer form is replaced whole before a shorter one
// inside it could be.
func newRedactor(values ...[]byte) *redactor {
	seen := map[string]bool{}
	var forms []string
	add := func(f string) {
		if len(f) >= MinSecretBytes && !seen[f] {
			seen[f] = true
			forms = append(forms, f)
		}
	}
	for _, v := range values {
		if len(v) == 0 {
			continue
		}
		for _, f := range encodings(v) {
			add(f)
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	return &redactor{forms: forms, r: strings.NewReplacer(pairs...)}
}

// encodings lists the forms of v that redaction covers.
func encodings(v []byte) []string {
	s := string(v)
	out := []string{s}
	// base64, both alphabets: the whole value padded and unpadded, then
	// the characters that depend on the value alone at each of the three
	// alignments it can have inside a longer encoded text.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString(v), enc.WithPadding(base64.NoPadding).EncodeToString(v))
		raw := enc.WithPadding(base64.NoPadding)
		for off := 0; off < 3; off++ {
			buf := make([]byte, off+len(v))
			copy(buf[off:], v)
			e := raw.EncodeToString(buf)
			start := [3]int{0, 2, 3}[off]
			end := len(buf) * 8 / 6 // characters whose six bits all come from buf
			if start < end {
				out = append(out, e[start:end])
			}
		}
	}
	// hex, both cases.
	h := hex.EncodeToString(v)
	out = append(out, h, strings.ToUpper(h))
	// URL escaping (query and path), with upper- and lowercase hex digits.
	for _, e := range []string{url.QueryEscape(s), url.PathEscape(s)} {
		out = append(out, e, lowerEscapes(e))
	}
	// A JSON string's escapes, Go's (<, >, & as \u00XX) and with "\/".
	if j, err := json.Marshal(s); err == nil && len(j) >= 2 {
		js := string(j[1 : len(j)-1])
		out = append(out, js, strings.ReplaceAll(js, "/", `\/`))
	}
	// UTF-16, both byte orders, of a value that is valid UTF-8.
	if utf8.Valid(v) {
		var le, be strings.Builder
		for _, r := range s {
			if r > 0xffff {
				le.Reset()
				be.Reset()
				break
			}
			le.WriteByte(byte(r))
			le.WriteByte(byte(r >> 8))
			be.WriteByte(byte(r >> 8))
			be.WriteByte(byte(r))
		}
		if le.Len() > 0 {
			out = append(out, le.String(), be.String())
		}
	}
	return out
}

// lowerEscapes lowercases the hex digits of each %XX escape.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// String redacts s and counts the replacements. It repeats until no form
// is left, so no occurrence survives by overlapping a replaced one.
func (r *redactor) String(s string) (string, int) {
	before := strings.Count(s, Redacted)
	for range 4 {
		out := r.r.Replace(s)
		if out == s {
			break
		}
		s = out
	}
	return s, max(0, strings.Count(s, Redacted)-before)
}

// Header redacts names and values; it returns a new header.
func (r *redactor) Header(h http.Header) (http.Header, int) {
	out := make(http.Header, len(h))
	total := 0
	for k, vs := range h {
		name, n := r.String(k)
		total += n
		for _, v := range vs {
			v, n := r.String(v)
			total += n
			out[name] = append(out[name], v)
		}
	}
	return out, total
}
