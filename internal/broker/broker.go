package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ocmt/mesh/vault"
)

// Errors of a brokered call. Each error the broker returns matches one of
// them with errors.Is and is a sentence for the user; none holds a secret
// value in any form redaction knows.
var (
	// ErrRefused: the request breaks a rule (allowlist, method, header,
	// size) and was not sent.
	ErrRefused = errors.New("request refused")
	// ErrUnusable: the secret cannot be read or cannot be brokered (its
	// type, its length, an expired token).
	ErrUnusable = errors.New("secret not usable")
	// ErrRedirect: the provider answered with a redirect the broker does
	// not follow.
	ErrRedirect = errors.New("redirect not followed")
	// ErrTooLarge: the response body is over the cap.
	ErrTooLarge = errors.New("response too large")
	// ErrUnchecked: the response is in an encoding (compression) that
	// redaction cannot see through.
	ErrUnchecked = errors.New("response not checkable")
	// ErrUnreachable: the provider could not be reached or did not answer
	// in time.
	ErrUnreachable = errors.New("provider unreachable")
)

// Config is what the node gives a Broker.
type Config struct {
	// Secret reads a secret by name: the node's audited vault read. The
	// broker wipes what it returns when the call ends.
	Secret func(ctx context.Context, name string) (vault.Secret, error)
	// Endpoints is each brokered secret's allowlist, entries such as
	// "https://api.openai.com/v1" (ParseEndpoint). A secret without one
	// is never sent.
	Endpoints map[string][]string
	// AllowLoopbackHTTP lets an allowlist name plain http on a loopback
	// host: tests and a local embeddings server.
	AllowLoopbackHTTP bool
	// RootCAs replaces the system roots (tests with a local TLS server).
	RootCAs *x509.CertPool
	// Timeout bounds a whole call (0: DefaultTimeout).
	Timeout time.Duration
	// MaxResponse bounds a response body (0: MaxResponseBytes, and never
	// more).
	MaxResponse int64
	// Redirects is how many redirects the broker follows, each within the
	// same secret's allowlist and scheme (0, the default: none; at most
	// MaxRedirects).
	Redirects int
	// Now is the clock an OAuth token's expiry is checked on (nil:
	// time.Now).
	Now func() time.Time
	// Logf, when set, receives one line per call: secret name, method,
	// host and path, status, size, redactions. Never a value.
	Logf func(format string, args ...any)
}

// Broker makes HTTP calls with secrets the caller may use but not read.
// It is safe for concurrent use.
type Broker struct {
	cfg   Config
	allow map[string][]Endpoint
	tls   *http.Transport // https
	plain *http.Transport // http, loopback addresses only
	slots chan struct{}
}

// Request is an agent's call: the secret to use, and the HTTP request to
// make with it. Header must not hold a credential (doc.go, "Requests").
type Request struct {
	Secret string
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Response is what the agent receives: the provider's status, headers and
// body with every form of the secret replaced by Redacted.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Redacted int // the occurrences replaced
}

// methods are the methods an agent may use; TRACE (which echoes the
// request, credential included), CONNECT and OPTIONS are not among them.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// New checks cfg and builds a Broker.
func New(cfg Config) (*Broker, error) {
	if cfg.Secret == nil {
		return nil, errors.New("broker: no way to read secrets (Config.Secret)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponse <= 0 || cfg.MaxResponse > MaxResponseBytes {
		cfg.MaxResponse = MaxResponseBytes
	}
	if cfg.Redirects < 0 || cfg.Redirects > MaxRedirects {
		return nil, fmt.Errorf("broker: follows at most %d redirects, not %d", MaxRedirects, cfg.Redirects)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Broker{cfg: cfg, allow: map[string][]Endpoint{}, slots: make(chan struct{}, MaxInFlight)}
	for name, entries := range cfg.Endpoints {
		if len(entries) == 0 || len(entries) > MaxEndpoints {
			return nil, fmt.Errorf("broker: secret %q needs 1 to %d allowlist entries, not %d", name, MaxEndpoints, len(entries))
		}
		for _, s := range entries {
			e, err := ParseEndpoint(s, cfg.AllowLoopbackHTTP)
			if err != nil {
				return nil, fmt.Errorf("broker: secret %q's allowlist entry %q: %w", name, s, err)
			}
			b.allow[name] = append(b.allow[name], e)
		}
	}
	b.tls = b.transport(nil)
	b.plain = b.transport(func(_, address string, _ syscall.RawConn) error { return loopbackOnly(address) })
	return b, nil
}

func (b *Broker) transport(control func(network, address string, c syscall.RawConn) error) *http.Transport {
	d := &net.Dialer{Timeout: DialTimeout, Control: control}
	return &http.Transport{
		Proxy:                  nil, // never an environment proxy: it would see plain http, and route elsewhere
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: b.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    DialTimeout,
		ResponseHeaderTimeout:  b.cfg.Timeout,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
}

// Close drops idle connections.
func (b *Broker) Close() {
	b.tls.CloseIdleConnections()
	b.plain.CloseIdleConnections()
}

// Endpoints returns a secret's allowlist as URLs (nil for none).
func (b *Broker) Endpoints(secret string) []string {
	var out []string
	for _, e := range b.allow[secret] {
		out = append(out, e.String())
	}
	return out
}

// check applies every rule that needs no secret: the allowlist, the
// method, the headers and the body size. It returns the URL to send.
func (b *Broker) check(r *Request) (*url.URL, http.Header, error) {
	if _, ok := b.allow[r.Secret]; !ok {
		return nil, nil, fmt.Errorf("%w: secret %q has no endpoint allowlist, so the broker sends it nowhere", ErrRefused, r.Secret)
	}
	m := strings.ToUpper(r.Method)
	if m == "" {
		m = http.MethodGet
	}
	if !slices.Contains(methods, m) {
		return nil, nil, fmt.Errorf("%w: the method %q is not one the broker sends (GET, HEAD, POST, PUT, PATCH, DELETE)", ErrRefused, r.Method)
	}
	r.Method = m
	t, err := normalize(r.URL, b.cfg.AllowLoopbackHTTP)
	if err != nil {
		return nil, nil, err
	}
	if !b.allowed(r.Secret, t) {
		return nil, nil, fmt.Errorf("%w: %s is outside secret %q's allowlist (%s)", ErrRefused, t.Endpoint, r.Secret, strings.Join(b.Endpoints(r.Secret), ", "))
	}
	h, err := checkHeaders(r.Header)
	if err != nil {
		return nil, nil, err
	}
	if len(r.Body) > MaxRequestBody {
		return nil, nil, fmt.Errorf("%w: the body is over %d bytes", ErrRefused, MaxRequestBody)
	}
	return t.url(), h, nil
}

func (b *Broker) allowed(secret string, t target) bool {
	for _, e := range b.allow[secret] {
		if e.matches(t) {
			return true
		}
	}
	return false
}

// Do makes the call r describes, with the secret injected, and returns the
// provider's answer redacted. The secret is read (through Config.Secret)
// only once every rule that needs no secret has passed.
func (b *Broker) Do(ctx context.Context, r Request) (*Response, error) {
	u, h, err := b.check(&r)
	if err != nil {
		b.logf("broker: secret %q: refused: %v", r.Secret, err)
		return nil, err
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the broker was busy with %d calls until the request was given up", ErrUnreachable, MaxInFlight)
	}
	defer func() { <-b.slots }()

	s, err := b.cfg.Secret(ctx, r.Secret)
	defer s.Wipe()
	if err != nil {
		return nil, fmt.Errorf("%w: secret %q could not be read: %w", ErrUnusable, r.Secret, err)
	}
	if s.Name != r.Secret {
		return nil, fmt.Errorf("%w: the vault returned another secret than %q", ErrUnusable, r.Secret)
	}
	cred, err := inject(&s, b.cfg.Now())
	if err != nil {
		return nil, err
	}
	red := newRedactor(cred.hide...)
	resp, err := b.send(ctx, &r, u, h, cred)
	if err != nil {
		// A provider's redirect target, or a transport error, can quote
		// the URL it was given; nothing leaves unredacted.
		msg, _ := red.String(err.Error())
		b.logf("broker: secret %q: %s %s%s: %s", r.Secret, r.Method, u.Host, u.Path, msg)
		return nil, newRedactedError(msg, err)
	}
	body, n := red.String(string(resp.Body))
	resp.Body = []byte(body)
	var nh int
	resp.Header, nh = red.Header(resp.Header)
	resp.Redacted = n + nh
	b.logf("broker: secret %q: %s %s%s: %d, %d bytes, %d redacted", r.Secret, r.Method, u.Host, u.Path, resp.Status, len(resp.Body), resp.Redacted)
	return resp, nil
}

// sentinels are the errors a redacted error can match.
var sentinels = []error{ErrRefused, ErrUnusable, ErrRedirect, ErrTooLarge, ErrUnchecked, ErrUnreachable}

// redactedError is an error whose text was redacted. It keeps the
// sentinel the original matched and nothing else: the original's chain
// (a transport error, a Location) may print the key, and no Unwrap or %#v
// should reach it.
type redactedError struct {
	msg      string
	sentinel error
}

func newRedactedError(msg string, err error) *redactedError {
	e := &redactedError{msg: msg}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			e.sentinel = s
			break
		}
	}
	return e
}

func (e *redactedError) Error() string { return e.msg }

// Is matches the sentinel of the original error.
func (e *redactedError) Is(target error) bool { return e.sentinel != nil && target == e.sentinel }

// errStop ends a redirect chain from CheckRedirect.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func (b *Broker) send(ctx context.Context, r *Request, u *url.URL, h http.Header, cred credential) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("%w: the request could not be built", ErrRefused)
	}
	req.Header = h
	req.Header.Set(cred.header, cred.value)
	tr := b.tls
	if u.Scheme == "http" {
		tr = b.plain
	}
	client := &http.Client{Transport: tr, CheckRedirect: func(next *http.Request, via []*http.Request) error {
		if b.cfg.Redirects == 0 {
			return http.ErrUseLastResponse
		}
		if len(via) > b.cfg.Redirects {
			return errStop{fmt.Errorf("%w: the provider redirected more than %d times", ErrRedirect, b.cfg.Redirects)}
		}
		t, err := normalize(next.URL.String(), b.cfg.AllowLoopbackHTTP)
		if err != nil || t.Scheme != u.Scheme || !b.allowed(r.Secret, t) {
			return errStop{fmt.Errorf("%w: the provider redirected to %s, outside secret %q's allowlist", ErrRedirect, next.URL.Redacted(), r.Secret)}
		}
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		var stop errStop
		if errors.As(err, &stop) {
			return nil, stop.err
		}
		return nil, transportError(ctx, u, b.cfg.Timeout, err)
	}
	defer resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		return nil, fmt.Errorf("%w: the provider answered %d, a redirect to %s; the broker follows no redirect", ErrRedirect, resp.StatusCode, loc)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, fmt.Errorf("%w: the provider answered in the %q encoding, which the broker cannot check for the key", ErrUnchecked, ce)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, b.cfg.MaxResponse+1))
	if err != nil {
		return nil, transportError(ctx, u, b.cfg.Timeout, err)
	}
	if int64(len(body)) > b.cfg.MaxResponse {
		return nil, fmt.Errorf("%w: the provider's answer is over %d bytes", ErrTooLarge, b.cfg.MaxResponse)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// transportError words a failure to reach the provider.
func transportError(ctx context.Context, u *url.URL, timeout time.Duration, err error) error {
	where := u.Host
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		hostErr x509.HostnameError
		opErr   *net.OpError
	)
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer within %v", ErrUnreachable, where, timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: the call to %s was given up", ErrUnreachable, where)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: the name %s could not be resolved", ErrUnreachable, u.Hostname())
	case errors.As(err, &certErr), errors.As(err, &hostErr):
		return fmt.Errorf("%w: %s did not present a certificate the broker trusts", ErrUnreachable, where)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %s refused the connection", ErrUnreachable, where)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("%w: no connection to %s could be made", ErrUnreachable, where)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%w: %s did not answer within %v", ErrUnreachable, where, timeout)
	}
	return fmt.Errorf("%w: the connection to %s failed before the answer was read", ErrUnreachable, where)
}

func (b *Broker) logf(format string, args ...any) {
	if b.cfg.Logf != nil {
		b.cfg.Logf(format, args...)
	}
}
