package broker

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

// bagOfWords is the fake model: each word but the commonest adds 1 to the coordinate its
// hash picks, so texts sharing words are near.
func bagOfWords(text string, dim int) []float64 {
	v := make([]float64, dim)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		w = strings.Trim(w, ".,?!")
		if stopwords[w] {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%uint32(dim)]++
	}
	return v
}

var stopwords = map[string]bool{"the": true, "to": true, "for": true, "is": true, "when": true, "what": true, "which": true, "my": true, "on": true, "at": true, "and": true, "does": true, "every": true, "day": true}

// embeddingsServer answers /v1/embeddings as an OpenAI-compatible server
// does, and refuses a call without the key.
func embeddingsServer(t testing.TB, dim int, tamper func(*embedResponseOut)) *provider {
	return newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s"}}`, r.Header.Get("Authorization"))
			return
		}
		var req embedRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "test-embed" || req.EncodingFormat != "float" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var out embedResponseOut
		for i, text := range req.Input {
			out.Data = append(out.Data, embedItem{Index: i, Embedding: bagOfWords(text, dim)})
		}
		if tamper != nil {
			tamper(&out)
		}
		json.NewEncoder(w).Encode(out)
	})
}

type embedItem struct {
	Object    string    `json:"object,omitempty"`
	Index     int       `json:"index"`
	Embedding []float64 `json:"embedding"`
}

type embedResponseOut struct {
	Data []embedItem `json:"data"`
}

func newEmbedder(t testing.TB, p *provider, key string) *Embedder {
	t.Helper()
	b, err := New(Config{
		Secret:            newSecrets(apiKey("embeddings", "openai", key)).get,
		Endpoints:         map[string][]string{"embeddings": {p.srv.URL + "/v1/embeddings"}},
		AllowLoopbackHTTP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e, err := NewEmbedder(EmbedderConfig{Broker: b, Secret: "embeddings", BaseURL: p.srv.URL + "/v1/", Model: "test-embed"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// memory_search end to end: notes embedded through the brokered key, put
// in an index, sealed (encoded), reopened, and searched.
func TestMemorySearchThroughTheBroker(t *testing.T) {
	const dim = 64
	p := embeddingsServer(t, dim, nil)
	e := newEmbedder(t, p, testKey)
	ctx := testkit.Context(t, 20*time.Second)
	notes := map[string]string{
		"memory/dentist": "dentist appointment on tuesday at nine",
		"memory/bob":     "bob likes green tea and chess",
		"memory/trip":    "train tickets to lyon for the conference",
		"memory/plants":  "water the plants every friday",
	}
	ids := []string{"memory/dentist", "memory/bob", "memory/trip", "memory/plants"}
	var texts []string
	for _, id := range ids {
		texts = append(texts, notes[id])
	}
	vecs, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if p.last().Get("Authorization") != "Bearer "+testKey {
		t.Fatal("the key did not reach the embeddings server")
	}
	x, err := NewIndex(dim)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if err := x.Add(id, vecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	y, err := DecodeIndex(sealed)
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"when is the dentist?":         "memory/dentist",
		"what tea does bob like":       "memory/bob",
		"tickets for the conference":   "memory/trip",
		"which day to water my plants": "memory/plants",
	} {
		qv, err := e.Embed(ctx, []string{q})
		if err != nil {
			t.Fatal(err)
		}
		hits, err := y.Search(qv[0], 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 2 || hits[0].ID != want || hits[0].Score <= hits[1].Score {
			t.Errorf("%q found %v, want %s first", q, hits, want)
		}
	}
}

// A wrong key: the server's error quotes it, and the embedder's error
// says what happened without it.
func TestEmbedderErrorsAreRedacted(t *testing.T) {
	p := embeddingsServer(t, 8, nil)
	e := newEmbedder(t, p, "sk-wrong-"+testKey)
	_, err := e.Embed(testkit.Context(t, 10*time.Second), []string{"hello"})
	testkit.Sentence(t, "a wrong key", err, "answered 401 Unauthorized: Incorrect API key provided: Bearer "+Redacted, ErrEmbedding)
	if l := leaks(err.Error(), "sk-wrong-"+testKey); len(l) > 0 {
		t.Fatalf("the key in %q", err)
	}
}

// A server's answer that is not one vector per text, of one dimension,
// finite, is refused in words.
func TestEmbedderRefusesBadAnswers(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(*embedResponseOut)
		want   string
	}{
		{"one missing", func(o *embedResponseOut) { o.Data = o.Data[:1] }, "2 texts were sent and 1 vectors came back"},
		{"an index twice", func(o *embedResponseOut) { o.Data[1].Index = 0 }, "not each text's once"},
		{"an index out of range", func(o *embedResponseOut) { o.Data[1].Index = 7 }, "not each text's once"},
		{"dimensions differ", func(o *embedResponseOut) { o.Data[1].Embedding = o.Data[1].Embedding[:3] }, "a vector of dimension 3, where 8 was expected"},
		{"empty", func(o *embedResponseOut) { o.Data[0].Embedding = nil; o.Data[1].Embedding = nil }, "a vector of dimension 0"},
		{"too long", func(o *embedResponseOut) {
			o.Data[0].Embedding = make([]float64, MaxDimension+1)
			o.Data[1].Embedding = make([]float64, MaxDimension+1)
		}, "at most 4096"},
		{"infinite", func(o *embedResponseOut) { o.Data[0].Embedding[0] = 1e300 }, "not a finite number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEmbedder(t, embeddingsServer(t, 8, c.tamper), testKey)
			_, err := e.Embed(testkit.Context(t, 10*time.Second), []string{"a b", "c d"})
			testkit.Sentence(t, c.name, err, c.want, ErrEmbedding)
		})
	}
	e := newEmbedder(t, embeddingsServer(t, 8, nil), testKey)
	ctx := testkit.Context(t, 10*time.Second)
	_, err := e.Embed(ctx, make([]string, MaxBatch+1))
	testkit.Sentence(t, "a large batch", err, "1 to 64 texts, not 65", ErrRefused)
	_, err = e.Embed(ctx, []string{""})
	testkit.Sentence(t, "an empty text", err, "text 1 is empty", ErrRefused)
	_, err = e.Embed(ctx, []string{strings.Repeat("a", MaxTextBytes+1)})
	testkit.Sentence(t, "a long text", err, "over 32768 bytes", ErrRefused)
}

// The embeddings URL must be in the secret's allowlist from the start.
func TestEmbedderURLMustBeAllowed(t *testing.T) {
	p := embeddingsServer(t, 8, nil)
	b, err := New(Config{Secret: newSecrets().get, Endpoints: map[string][]string{"embeddings": {p.srv.URL + "/v1/embeddings"}}, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEmbedder(EmbedderConfig{Broker: b, Secret: "embeddings", BaseURL: p.srv.URL + "/v2", Model: "m"}); err == nil || !strings.Contains(err.Error(), "outside secret") {
		t.Fatalf("an embeddings URL outside the allowlist: %v", err)
	}
	if _, err := NewEmbedder(EmbedderConfig{Broker: b, Secret: "other", BaseURL: p.srv.URL + "/v1", Model: "m"}); err == nil {
		t.Fatal("a secret without an allowlist was taken")
	}
}
