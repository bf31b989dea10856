package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Message is one alert.
type Message struct {
	Title    string
	Body     string
	Priority int      // 1..5; 0 is 3 (default)
	Tags     []string // words a-z0-9_-
	// Click is an optional http(s) URL the phone opens when the alert is
	// tapped; one that CheckURL's rules (with plain http allowed) refuse
	// is left out.
	Click string
}

// Config configures a Notifier. URL is required.
type Config struct {
	// URL is where alerts are POSTed: an http(s) URL, as an ntfy topic
	// (https://ntfy.sh/my-topic). User info in it is refused: put a token
	// in the URL's path or query, as ntfy topics do.
	URL string
	// Client sends the requests; nil is a client with DefaultTimeout that
	// follows no redirect.
	Client *http.Client
	// Logger receives what happens to alerts; nil discards. Logs name the
	// URL's host only, never its path or query, which may hold a secret.
	Logger *slog.Logger
	// Now is the clock; default time.Now. It dates queued messages and
	// spaces the logs of dropped ones.
	Now func() time.Time
	// MaxQueue bounds the messages waiting; 0 is DefaultMaxQueue, and at
	// most MaxQueueCap.
	MaxQueue int
	// AllowInsecure allows a plain http URL to a host other than a
	// loopback one. Without it, such a URL is refused: the topic and the
	// alerts would cross the network in the clear.
	AllowInsecure bool
}

// Stats counts messages: Sent got a 2xx answer; Failed were refused, or
// were tried MaxAttempts times; Dropped never got their chance (the queue
// was full, the Notifier closed, or Close's time ran out).
type Stats struct{ Sent, Failed, Dropped uint64 }

// Notifier sends alerts from one goroutine, in the order given. Safe for
// concurrent use.
type Notifier struct {
	url    string
	host   string
	redact []string // parts of the URL no log or error may show
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time
	budget time.Duration // Close's time for the messages still queued

	queue  chan queued
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex
	closed bool
	once   sync.Once

	sent, failed, dropped atomic.Uint64
	loggedDrops           uint64    // sender only: Dropped when last logged
	lastDropLog           time.Time // sender only
}

type queued struct {
	m  Message
	at time.Time
}

// hooks are what tests replace: the backoff timer and Close's budget.
type hooks struct {
	after  func(time.Duration) <-chan time.Time
	budget time.Duration
}

// ErrBadURL is wrapped by every refusal of a URL. The refusal never
// repeats the URL: its path or query may hold a secret.
var ErrBadURL = errors.New("the alert URL is not usable")

// CheckURL is New's URL check alone, for a CLI flag: an absolute http or
// https URL of at most MaxURL bytes, with a host and no user info, and
// plain http only to a loopback host unless allowInsecure.
func CheckURL(raw string, allowInsecure bool) error {
	_, err := parseURL(raw, allowInsecure)
	return err
}

func parseURL(raw string, allowInsecure bool) (*url.URL, error) {
	if len(raw) > MaxURL {
		return nil, fmt.Errorf("%w: it has %d bytes, at most %d", ErrBadURL, len(raw), MaxURL)
	}
	// url.Parse's errors quote the URL: they are not passed on.
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: it does not parse as a URL", ErrBadURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: it must start with https:// (or http://)", ErrBadURL)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: it names no host", ErrBadURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: it holds a user name or password; put a token in the path or query instead", ErrBadURL)
	}
	if u.Scheme == "http" && !allowInsecure && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: plain http to %s would send the alerts in the clear; use https, or allow insecure URLs", ErrBadURL, u.Host)
	}
	return u, nil
}

// loopback says whether host is this machine without asking a resolver:
// "localhost" or a loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New checks cfg and starts the one goroutine that sends; Close stops it.
func New(cfg Config) (*Notifier, error) {
	return start(cfg, hooks{})
}

func start(cfg Config, h hooks) (*Notifier, error) {
	u, err := parseURL(cfg.URL, cfg.AllowInsecure)
	if err != nil {
		return nil, err
	}
	if cfg.MaxQueue < 0 || cfg.MaxQueue > MaxQueueCap {
		return nil, fmt.Errorf("the alert queue holds 1 to %d messages, not %d", MaxQueueCap, cfg.MaxQueue)
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if h.after == nil {
		h.after = time.After
	}
	if h.budget <= 0 {
		h.budget = DefaultTimeout
	}
	n := &Notifier{
		url: u.String(), host: u.Host, client: cfg.Client, log: cfg.Logger, now: cfg.Now,
		after: h.after, budget: h.budget,
		queue: make(chan queued, cfg.MaxQueue), stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, s := range []string{u.String(), cfg.URL, u.EscapedPath(), u.Path, u.RawQuery, u.Query().Encode()} {
		if s != "" && s != "/" {
			n.redact = append(n.redact, s)
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	go n.run()
	return n, nil
}

// Host is the URL's host, for messages to the user ("alerts go to ntfy.sh").
func (n *Notifier) Host() string { return n.host }

// Stats returns the counters so far.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Failed: n.failed.Load(), Dropped: n.dropped.Load()}
}

// Send queues m and returns at once: true if it was queued, false if it
// was dropped (and counted) because the queue is full or the Notifier is
// closed. It never blocks on the network.
func (n *Notifier) Send(m Message) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.dropped.Add(1)
		return false
	}
	select {
	case n.queue <- queued{m, n.now()}:
		return true
	default:
		n.dropped.Add(1)
		return false
	}
}

// Close stops the sender. The messages still queued are tried for at most
// DefaultTimeout in total, a POST under way included; those left then are
// dropped. Send after Close drops. Close may be called more than once.
func (n *Notifier) Close() {
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stop)
		t := time.AfterFunc(n.budget, n.cancel)
		<-n.done
		t.Stop()
		n.cancel()
	})
}

func (n *Notifier) run() {
	defer close(n.done)
	for {
		select {
		case q := <-n.queue:
			n.deliver(q)
		case <-n.stop:
			for {
				select {
				case q := <-n.queue:
					if n.ctx.Err() != nil {
						n.dropped.Add(1)
						continue
					}
					n.deliver(q)
				default:
					n.logDrops(true)
					return
				}
			}
		}
	}
}

// logDrops logs the messages dropped since it last did, at most once a
// dropLogInterval unless final.
func (n *Notifier) logDrops(final bool) {
	d := n.dropped.Load()
	if d == n.loggedDrops {
		return
	}
	now := n.now()
	if !final && !n.lastDropLog.IsZero() && now.Sub(n.lastDropLog) < dropLogInterval {
		return
	}
	n.log.Warn("alerts dropped", "host", n.host, "dropped", d-n.loggedDrops)
	n.loggedDrops, n.lastDropLog = d, now
}

// outcome of one attempt.
type outcome int

const (
	delivered outcome = iota
	retry
	refused
	stopped // Close's time ran out
)

func (n *Notifier) deliver(q queued) {
	n.logDrops(false)
	req := build(q.m)
	wait := backoffFirst
	for attempt := 1; ; attempt++ {
		res, why := n.attempt(req)
		switch {
		case res == delivered:
			n.sent.Add(1)
			n.log.Debug("alert sent", "host", n.host, "attempt", attempt)
			return
		case res == stopped:
			n.dropped.Add(1)
			return
		case res == refused || attempt == MaxAttempts:
			n.failed.Add(1)
			n.log.Warn("an alert could not be delivered", "host", n.host, "attempts", attempt, "reason", why,
				"queued_for", n.now().Sub(q.at).Round(time.Second).String())
			return
		}
		n.log.Debug("an alert attempt failed; trying again", "host", n.host, "attempt", attempt, "reason", why, "wait", wait.String())
		select {
		case <-n.after(wait):
		case <-n.ctx.Done():
			n.dropped.Add(1)
			return
		}
		wait *= 2
	}
}

// request is a message made ready for the wire.
type request struct {
	body    string
	headers [][2]string
}

// build cleans m into its request: every text clipped to its limit, valid
// UTF-8, and no header value holding a control character.
func build(m Message) request {
	r := request{body: cleanBody(m.Body)}
	r.headers = append(r.headers, [2]string{"Content-Type", "text/plain; charset=utf-8"})
	if t := cleanTitle(m.Title); t != "" {
		r.headers = append(r.headers, [2]string{"Title", headerText(t)})
	}
	r.headers = append(r.headers, [2]string{"Priority", strconv.Itoa(priority(m.Priority))})
	if tags := cleanTags(m.Tags); len(tags) > 0 {
		r.headers = append(r.headers, [2]string{"Tags", strings.Join(tags, ",")})
	}
	if m.Click != "" && len(m.Click) <= MaxURL {
		if u, err := parseURL(m.Click, true); err == nil {
			// String re-escapes: what is sent is printable ASCII.
			r.headers = append(r.headers, [2]string{"Click", u.String()})
		}
	}
	return r
}

// headerText is t as a header value: as is when printable ASCII, else
// RFC 2047 encoded words (base64 of UTF-8), which ntfy decodes. A title
// holding "=?" is encoded too, so that it reads as itself.
func headerText(t string) string {
	plain := !strings.Contains(t, "=?")
	for i := 0; i < len(t) && plain; i++ {
		plain = t[i] >= 0x20 && t[i] <= 0x7e
	}
	if plain {
		return t
	}
	// mime.BEncoding leaves ASCII as is, "=?" included: encode by hand,
	// whole runes, at most wordBytes a word (an encoded word is at most
	// 75 characters).
	const wordBytes = 45
	var words []string
	for len(t) > 0 {
		n := 0
		for n < len(t) {
			_, size := utf8.DecodeRuneInString(t[n:])
			if n+size > wordBytes {
				break
			}
			n += size
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(t[:n]))+"?=")
		t = t[n:]
	}
	return strings.Join(words, " ")
}

func (n *Notifier) attempt(r request) (outcome, string) {
	ctx, cancel := context.WithTimeout(n.ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, strings.NewReader(r.body))
	if err != nil {
		return refused, n.scrub(err.Error())
	}
	for _, h := range r.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := n.client.Do(req)
	if err != nil {
		switch {
		case n.ctx.Err() != nil:
			return stopped, "the notifier closed"
		case ctx.Err() != nil:
			return retry, fmt.Sprintf("no answer within %s", DefaultTimeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return retry, n.scrub(err.Error())
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c/100 == 2:
		return delivered, ""
	case c == http.StatusTooManyRequests || c/100 == 5:
		return retry, "answered " + strconv.Itoa(c)
	default:
		return refused, "answered " + strconv.Itoa(c)
	}
}

// scrub removes the URL's secret parts from a message meant for the log,
// whatever error carried them.
func (n *Notifier) scrub(s string) string {
	for _, r := range n.redact {
		s = strings.ReplaceAll(s, r, "…")
	}
	return s
}

// cleanTitle is t as sent: control characters (newlines included) become
// spaces, invalid UTF-8 becomes U+FFFD, and it is clipped to MaxTitle
// bytes.
func cleanTitle(t string) string { return clean(t, false, MaxTitle) }

// cleanBody is b as sent: "\r\n" becomes "\n", other control characters but
// "\n" become spaces, invalid UTF-8 becomes U+FFFD, and it is clipped to
// MaxBody bytes.
func cleanBody(b string) string { return clean(b, true, MaxBody) }

// ellipsis marks a clipped text.
const ellipsis = "…"

func clean(s string, newlines bool, max int) string {
	var b strings.Builder
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i, r := range s {
		switch {
		case r == '\n' && newlines:
		case r == '\r' && newlines && strings.HasPrefix(s[i:], "\r\n"):
			continue
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			// Clip at a rune boundary, leaving room for the mark.
			out := b.String()
			for len(out)+len(ellipsis) > max {
				_, size := utf8.DecodeLastRuneInString(out)
				out = out[:len(out)-size]
			}
			return out + ellipsis
		}
		b.WriteRune(r)
	}
	return b.String()
}

// priority is p as sent: 0 is DefaultPriority, and numbers out of
// MinPriority..MaxPriority are clamped into it.
func priority(p int) int {
	switch {
	case p == 0:
		return DefaultPriority
	case p < MinPriority:
		return MinPriority
	case p > MaxPriority:
		return MaxPriority
	}
	return p
}

// cleanTags is tags as sent: lower-cased, without the ones that are not words
// of 1 to MaxTagLen characters a-z, 0-9, '_' and '-', nor repeats, and at
// most MaxTags of them.
func cleanTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		t = strings.ToLower(t)
		if !tagWord(t) || slices.Contains(out, t) {
			continue
		}
		out = append(out, t)
		if len(out) == MaxTags {
			break
		}
	}
	return out
}

func tagWord(t string) bool {
	if t == "" || len(t) > MaxTagLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
