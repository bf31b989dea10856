package broker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is one entry of a secret's allowlist: a scheme, a host, a port
// and a path prefix. A request matches it when its normalized URL has the
// same scheme, host and port, and a path equal to the prefix or below it
// (the prefix "/v1" matches "/v1" and "/v1/embeddings", not "/v1beta").
type Endpoint struct {
	Scheme string     // "https", or "http" for a loopback host with the override
	Host   string     // a lowercase DNS name, or "" for an IP literal
	Addr   netip.Addr // the IP literal, when Host is ""
	Port   int        // explicit or the scheme's default
	Prefix string     // the path prefix, starting with "/"
}

// String is the endpoint as a URL.
func (e Endpoint) String() string {
	h := e.Host
	if h == "" {
		h = e.Addr.String()
		if e.Addr.Is6() {
			h = "[" + h + "]"
		}
	}
	if e.Port != defaultPort(e.Scheme) {
		h += ":" + strconv.Itoa(e.Port)
	}
	return e.Scheme + "://" + h + e.Prefix
}

// target is a request URL after normalization: what is matched is what is
// sent.
type target struct {
	Endpoint        // Prefix holds the whole path
	query    string // the raw query, passed through
}

func (t target) url() *url.URL {
	e := t.Endpoint
	e.Prefix = ""
	u, _ := url.Parse(e.String())
	u.Path = t.Prefix
	u.RawQuery = t.query
	return u
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// ParseEndpoint reads an allowlist entry such as
// "https://api.openai.com/v1". It refuses what a request URL would be
// refused for, and also a query or a fragment. http is accepted only for
// a loopback host when allowLoopbackHTTP is set (a local test or a local
// embeddings server).
func ParseEndpoint(s string, allowLoopbackHTTP bool) (Endpoint, error) {
	t, err := normalize(s, allowLoopbackHTTP)
	if err != nil {
		return Endpoint{}, err
	}
	if t.query != "" || strings.Contains(s, "#") {
		return Endpoint{}, fmt.Errorf("%w: an allowlist entry is a scheme, a host and a path prefix, without a query or a fragment", ErrRefused)
	}
	return t.Endpoint, nil
}

// normalize parses an absolute URL and refuses every form whose meaning
// could differ between the broker and the server or resolver that reads
// it: no userinfo, no host but a lowercase DNS name or a plain IP literal,
// no dot segments or encoded slashes in the path.
func normalize(raw string, allowLoopbackHTTP bool) (target, error) {
	var t target
	if len(raw) > MaxURLBytes {
		return t, fmt.Errorf("%w: the URL is longer than %d bytes", ErrRefused, MaxURLBytes)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return t, fmt.Errorf("%w: the URL holds a space, a control character, a backslash or a character outside ASCII", ErrRefused)
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return t, fmt.Errorf("%w: %q is not an absolute URL such as https://api.example.com/v1/embeddings", ErrRefused, raw)
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return t, fmt.Errorf("%w: the URL holds a user name or password; the broker adds the credential itself", ErrRefused)
	}
	t.Scheme = u.Scheme // url.Parse lowercases it
	if t.Scheme != "https" && t.Scheme != "http" {
		return t, fmt.Errorf("%w: the scheme is %q; the broker speaks https", ErrRefused, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	t.Port = defaultPort(t.Scheme)
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
			return t, fmt.Errorf("%w: the port %q is not a number from 1 to 65535", ErrRefused, port)
		}
		t.Port = p
	} else if strings.HasSuffix(u.Host, ":") {
		return t, fmt.Errorf("%w: the URL has an empty port", ErrRefused)
	}
	if err := parseHost(host, strings.HasPrefix(u.Host, "["), &t.Endpoint); err != nil {
		return t, err
	}
	if t.Scheme == "http" && !(allowLoopbackHTTP && t.loopback()) {
		if allowLoopbackHTTP {
			return t, fmt.Errorf("%w: plain http is allowed for a loopback host only (127.0.0.1, ::1 or localhost); use https", ErrRefused)
		}
		return t, fmt.Errorf("%w: plain http would send the key in the clear; use https", ErrRefused)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	low := strings.ToLower(path)
	if strings.Contains(low, "%2f") || strings.Contains(low, "%5c") || strings.Contains(low, "%2e") || strings.Contains(path, "//") {
		return t, fmt.Errorf("%w: the URL path holds an encoded slash or dot, or an empty segment", ErrRefused)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return t, fmt.Errorf("%w: the URL path holds a \".\" or \"..\" segment", ErrRefused)
		}
	}
	if u.Path == "" {
		t.Prefix = "/"
	} else {
		t.Prefix = u.Path
	}
	t.query = u.RawQuery
	return t, nil
}

// parseHost accepts a lowercase ASCII DNS name whose last label is not
// numeric, or an IP literal in its plain form (IPv6 in brackets, no zone).
// Whatever a resolver might read as an address ("2130706433", "0x7f.1",
// "127.1", "1.2.3.4.") is refused.
func parseHost(host string, bracketed bool, e *Endpoint) error {
	if host == "" {
		return fmt.Errorf("%w: the URL has no host", ErrRefused)
	}
	if bracketed || strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("%w: %q is not a plain IPv6 address", ErrRefused, host)
		}
		e.Addr = a.Unmap()
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		e.Addr = a
		return nil
	}
	if len(host) > 253 || strings.HasSuffix(host, ".") {
		return fmt.Errorf("%w: %q is not a host name the broker accepts (no trailing dot, at most 253 bytes)", ErrRefused, host)
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%w: %q is not a valid host name", ErrRefused, host)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				if c >= 'A' && c <= 'Z' {
					return fmt.Errorf("%w: write the host %q in lowercase", ErrRefused, host)
				}
				return fmt.Errorf("%w: %q is not a valid host name (letters, digits and '-'; punycode for other scripts)", ErrRefused, host)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return fmt.Errorf("%w: the host reads as a numeric address; write an IP address in its usual form", ErrRefused)
	}
	e.Host = host
	return nil
}

func (e Endpoint) loopback() bool {
	if e.Host != "" {
		return e.Host == "localhost"
	}
	return e.Addr.IsLoopback()
}

// matches reports whether t falls under e.
func (e Endpoint) matches(t target) bool {
	if e.Scheme != t.Scheme || e.Host != t.Host || e.Addr != t.Addr || e.Port != t.Port {
		return false
	}
	p := e.Prefix
	if p == "/" || t.Prefix == p {
		return true
	}
	return strings.HasPrefix(t.Prefix, strings.TrimSuffix(p, "/")+"/")
}

// loopbackOnly is the dialer check behind plain http: the address the
// connection reaches must be loopback, whatever "localhost" resolved to.
func loopbackOnly(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return errors.New("plain http to an address that is not loopback")
	}
	return nil
}
