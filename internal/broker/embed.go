package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrEmbedding: the embeddings provider's answer is not a usable set of
// vectors.
var ErrEmbedding = errors.New("embedding failed")

// EmbedderConfig names the brokered secret and the OpenAI-compatible API
// that embeds memory notes.
type EmbedderConfig struct {
	Broker *Broker
	// Secret is the api_key the embeddings calls use, e.g. "embeddings".
	Secret string
	// BaseURL is the API root the path "/embeddings" is appended to:
	// "https://api.openai.com/v1", or a local server's
	// "http://127.0.0.1:8080/v1". It must be in the secret's allowlist.
	BaseURL string
	// Model is sent as "model", e.g. "text-embedding-3-small".
	Model string
	// Dimensions, when set, is the length every vector must have, and is
	// sent as "dimensions" (models that can shorten their vectors honour
	// it).
	Dimensions int
}

// Embedder turns texts into vectors through the broker: it never holds
// the key.
type Embedder struct {
	cfg EmbedderConfig
	url string
}

// NewEmbedder checks cfg.
func NewEmbedder(cfg EmbedderConfig) (*Embedder, error) {
	if cfg.Broker == nil || cfg.Secret == "" || cfg.Model == "" {
		return nil, errors.New("broker: an embedder needs a broker, a secret name and a model")
	}
	if cfg.Dimensions < 0 || cfg.Dimensions > MaxDimension {
		return nil, fmt.Errorf("broker: embedding dimensions are 1 to %d, not %d", MaxDimension, cfg.Dimensions)
	}
	u := strings.TrimSuffix(cfg.BaseURL, "/") + "/embeddings"
	t, err := normalize(u, cfg.Broker.cfg.AllowLoopbackHTTP)
	if err != nil {
		return nil, fmt.Errorf("broker: the embeddings URL %s: %w", u, err)
	}
	if !cfg.Broker.allowed(cfg.Secret, t) {
		return nil, fmt.Errorf("broker: the embeddings URL %s is outside secret %q's allowlist", u, cfg.Secret)
	}
	return &Embedder{cfg: cfg, url: u}, nil
}

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
}

// Embed returns one vector per text, in order, each of the same dimension.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 || len(texts) > MaxBatch {
		return nil, fmt.Errorf("%w: a batch holds 1 to %d texts, not %d", ErrRefused, MaxBatch, len(texts))
	}
	for i, t := range texts {
		if t == "" || len(t) > MaxTextBytes || !utf8.ValidString(t) {
			return nil, fmt.Errorf("%w: text %d is empty, over %d bytes or not UTF-8", ErrRefused, i+1, MaxTextBytes)
		}
	}
	body, err := json.Marshal(embedRequest{Model: e.cfg.Model, Input: texts, EncodingFormat: "float", Dimensions: e.cfg.Dimensions})
	if err != nil {
		return nil, fmt.Errorf("%w: the request could not be encoded", ErrRefused)
	}
	resp, err := e.cfg.Broker.Do(ctx, Request{
		Secret: e.cfg.Secret, Method: http.MethodPost, URL: e.url,
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Body:   body,
	})
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("%w: the embeddings server answered %d %s%s", ErrEmbedding, resp.Status, http.StatusText(resp.Status), providerMessage(resp.Body))
	}
	return parseEmbeddings(resp.Body, len(texts), e.cfg.Dimensions)
}

// parseEmbeddings reads an OpenAI-compatible embeddings answer for n
// texts; dim, when not 0, is the dimension every vector must have.
func parseEmbeddings(body []byte, n, dim int) ([][]float32, error) {
	var r embedResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: the embeddings server's answer is not the JSON an OpenAI-compatible server sends", ErrEmbedding)
	}
	if len(r.Data) != n {
		return nil, fmt.Errorf("%w: %d texts were sent and %d vectors came back", ErrEmbedding, n, len(r.Data))
	}
	out := make([][]float32, n)
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, fmt.Errorf("%w: the vectors' indexes are not each text's once", ErrEmbedding)
		}
		if dim == 0 {
			dim = len(d.Embedding)
		}
		if len(d.Embedding) != dim || dim == 0 || dim > MaxDimension {
			return nil, fmt.Errorf("%w: a vector of dimension %d, where %d was expected (at most %d)", ErrEmbedding, len(d.Embedding), dim, MaxDimension)
		}
		v := make([]float32, dim)
		for i, x := range d.Embedding {
			f := float32(x)
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("%w: a vector holds a value that is not a finite number", ErrEmbedding)
			}
			v[i] = f
		}
		out[d.Index] = v
	}
	return out, nil
}

// providerMessage quotes the start of an OpenAI-style error body (already
// redacted by the broker).
func providerMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	m := e.Error.Message
	if len(m) > 200 {
		m = m[:200] + "…"
	}
	return ": " + strings.ToValidUTF8(m, "")
}
