package wakehook

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// The webhook's wire: a POST of WebhookBody as JSON, with the relay's peer
// ID in RelayHeader and, in SignatureHeader, the standard base64 of the
// Ed25519 signature by the relay's host key over SignedBytes(body).
const (
	// WebhookLabel is the domain label of the signature, as the labels
	// of internal/keys: bytes signed for a webhook verify for nothing
	// else.
	WebhookLabel    = "ocmt-mesh/wake-webhook/v1"
	SignatureHeader = "Ocmt-Wake-Signature"
	RelayHeader     = "Ocmt-Wake-Relay"
	// DefaultWebhookTimeout bounds one POST, the answer included.
	DefaultWebhookTimeout = 10 * time.Second
	// maxAnswerBytes is how much of an answer's body is read (and
	// dropped) so the connection can be reused.
	maxAnswerBytes = 4096
)

// WebhookBody is what the orchestrator receives: the node to wake, the
// relay asking, and when it asked (unix seconds), so an orchestrator can
// refuse an old request played again.
type WebhookBody struct {
	Handle string `json:"handle"`
	Peer   string `json:"peer"`
	Relay  string `json:"relay"`
	Time   int64  `json:"time"`
}

// SignedBytes is what the signature covers: WebhookLabel, a 0x00 byte,
// then the body exactly as sent.
func SignedBytes(body []byte) []byte {
	b := make([]byte, 0, len(WebhookLabel)+1+len(body))
	b = append(b, WebhookLabel...)
	b = append(b, 0)
	return append(b, body...)
}

// WebhookConfig configures a Webhook hook.
type WebhookConfig struct {
	// URL is the orchestrator's endpoint, http or https.
	URL string
	// Key is the relay's host key (Ed25519): it signs every request.
	Key crypto.PrivKey
	// Timeout bounds one POST; default DefaultWebhookTimeout.
	Timeout time.Duration
	// Client sends the requests; default one that follows no redirect.
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Webhook wakes a node by asking an orchestrator over HTTP.
type Webhook struct {
	url     string
	host    string
	key     crypto.PrivKey
	relay   peer.ID
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

// NewWebhook checks cfg: an absolute http or https URL and an Ed25519 key.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the wake webhook needs an absolute http or https URL")
	}
	if cfg.Key == nil || cfg.Key.Type() != crypto.Ed25519 {
		return nil, errors.New("the wake webhook needs the relay's Ed25519 host key to sign with")
	}
	relay, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("the wake webhook's key: %w", err)
	}
	w := &Webhook{url: u.String(), host: u.Host, key: cfg.Key, relay: relay, timeout: cfg.Timeout, client: cfg.Client, now: cfg.Now}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	if w.client == nil {
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

// ErrWebhookRefused is wrapped when the orchestrator answers, but not 2xx.
var ErrWebhookRefused = errors.New("the orchestrator refused the wake")

// Wake POSTs the signed request and returns nil on a 2xx answer. The
// error names the orchestrator's host, never the rest of its URL, which
// may hold a secret.
func (w *Webhook) Wake(ctx context.Context, t Target) error {
	if err := CheckTarget(t); err != nil {
		return err
	}
	body, err := json.Marshal(WebhookBody{Handle: t.Handle, Peer: t.Peer.String(), Relay: w.relay.String(), Time: w.now().Unix()})
	if err != nil {
		return err
	}
	sig, err := w.key.Sign(SignedBytes(body))
	if err != nil {
		return fmt.Errorf("signing the wake request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the wake request to %s: %w", w.host, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(RelayHeader, w.relay.String())
	req.Header.Set(SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("the orchestrator at %s did not answer within %s", w.host, w.timeout)
		}
		return fmt.Errorf("the orchestrator at %s could not be reached", w.host)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s answered %s", ErrWebhookRefused, w.host, resp.Status)
	}
	return nil
}

// ErrBadWebhookSignature is VerifyWebhook's refusal.
var ErrBadWebhookSignature = errors.New("the wake request is not signed by that relay")

// VerifyWebhook is the orchestrator's check: sig (the SignatureHeader
// value) is relay's signature over SignedBytes(body). The orchestrator
// then decodes body and judges its Time itself.
func VerifyWebhook(relay peer.ID, body []byte, sig string) error {
	pub, err := relay.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: the relay's ID holds no Ed25519 key", ErrBadWebhookSignature)
	}
	if rawPub, err := pub.Raw(); err != nil || keys.CheckPeerPublic(rawPub) != nil {
		// A small-order key verifies forged signatures (internal/keys).
		return fmt.Errorf("%w: the relay's ID holds an unusable key", ErrBadWebhookSignature)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return ErrBadWebhookSignature
	}
	ok, err := pub.Verify(SignedBytes(body), raw)
	if err != nil || !ok {
		return ErrBadWebhookSignature
	}
	return nil
}
