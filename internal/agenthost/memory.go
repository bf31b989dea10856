package agenthost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/broker"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// The service's sealed records, in the vault's agents namespace: a
// secret's allowlist decides where the secret may go, so it has the
// vault's integrity (and rollback) protection, as does the memory index.
const NSAgents vault.Namespace = "agents"

// The records' names, and the resources' folder of memory notes.
const (
	endpointsName = "endpoints/"
	memConfigName = "memory-config"
	memIndexName  = "memory-index"
	memoryRoot    = "memory"
)

// memConfig is the embeddings provider of memory notes.
type memConfig struct {
	Secret     string `json:"secret"`
	URL        string `json:"url"`
	Model      string `json:"model"`
	Dimensions int    `json:"dimensions,omitempty"`
}

// SecretAllow implements localapi.Agents.
func (s *Service) SecretAllow(ctx context.Context, req localapi.SecretAllowRequest) error {
	if err := vault.CheckName(req.Name); err != nil || strings.Contains(req.Name, "/") {
		return badRequest(fmt.Errorf("%q is not a secret's name", req.Name))
	}
	if len(req.Endpoints) > broker.MaxEndpoints {
		return badRequest(fmt.Errorf("a secret has at most %d endpoints", broker.MaxEndpoints))
	}
	var eps []string
	for _, raw := range req.Endpoints {
		ep, err := broker.ParseEndpoint(raw, true)
		if err != nil {
			return badRequest(err)
		}
		eps = append(eps, ep.String())
	}
	if req.EmbeddingsModel != "" && len(eps) == 0 {
		return badRequest(errors.New("the embeddings provider needs an endpoint: give its API root, like https://api.openai.com/v1"))
	}
	if _, err := s.cfg.Vault.ListSecrets(ctx); err != nil {
		return err // locked
	}
	b, _ := json.Marshal(eps)
	e := vault.AuditEntry{Actor: s.cfg.Actor, Op: "secret.allow", Target: req.Name, Detail: "endpoints: " + strings.Join(eps, " ")}
	if len(eps) == 0 {
		e.Detail = "endpoints: none (the secret is sent nowhere)"
	}
	if err := s.cfg.Vault.Put(ctx, NSAgents, endpointsName+req.Name, b, e); err != nil {
		return err
	}
	if req.EmbeddingsModel != "" {
		mc := memConfig{Secret: req.Name, URL: eps[0], Model: req.EmbeddingsModel, Dimensions: req.Dimensions}
		check, err := broker.New(broker.Config{Endpoints: map[string][]string{mc.Secret: eps}, AllowLoopbackHTTP: true,
			Secret: func(context.Context, string) (vault.Secret, error) { return vault.Secret{}, vault.ErrNotFound }})
		if err == nil {
			_, err = broker.NewEmbedder(broker.EmbedderConfig{Broker: check, Secret: mc.Secret, BaseURL: mc.URL, Model: mc.Model, Dimensions: mc.Dimensions})
			check.Close()
		}
		if err != nil {
			return badRequest(err)
		}
		b, _ := json.Marshal(mc)
		if err := s.cfg.Vault.Put(ctx, NSAgents, memConfigName, b, vault.AuditEntry{Actor: s.cfg.Actor, Op: "memory.configure", Target: req.Name,
			Detail: fmt.Sprintf("embeddings by %s at %s with the secret %s", mc.Model, mc.URL, mc.Secret)}); err != nil {
			return err
		}
	}
	s.mem.reset()
	return nil
}

// broker builds the broker from the sealed allowlists, once per change.
func (s *Service) broker(ctx context.Context) (*broker.Broker, error) {
	return s.mem.brokerFor(ctx)
}

// memory is the memory notes' index and the broker behind it.
type memory struct {
	s     *Service
	mu    sync.Mutex
	brk   *broker.Broker
	cfg   *memConfig
	emb   *broker.Embedder
	idx   *broker.Index
	dirty bool
}

// reset drops the broker and embedder (an allowlist changed).
func (m *memory) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.brk != nil {
		m.brk.Close()
	}
	m.brk, m.emb, m.cfg = nil, nil, nil
}

func (m *memory) brokerFor(ctx context.Context) (*broker.Broker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.brokerLocked(ctx)
}

func (m *memory) brokerLocked(ctx context.Context) (*broker.Broker, error) {
	if m.brk != nil {
		return m.brk, nil
	}
	v := m.s.cfg.Vault
	names, err := v.List(ctx, NSAgents)
	if err != nil {
		return nil, vaultErr(err, "allowlist")
	}
	eps := map[string][]string{}
	for _, n := range names {
		secret, ok := strings.CutPrefix(n, endpointsName)
		if !ok {
			continue
		}
		b, err := v.Get(ctx, NSAgents, n, vault.AuditEntry{Actor: "broker", Op: "secret.allowlist.read", Target: secret})
		if err != nil {
			return nil, vaultErr(err, "allowlist of "+secret)
		}
		var l []string
		if len(b) > maxConfigRecord || json.Unmarshal(b, &l) != nil {
			return nil, fmt.Errorf("the allowlist of %s does not decode", secret)
		}
		eps[secret] = l
	}
	b, err := broker.New(broker.Config{
		Secret:    func(ctx context.Context, name string) (vault.Secret, error) { return v.GetSecret(ctx, name, "broker") },
		Endpoints: eps, AllowLoopbackHTTP: true, RootCAs: m.s.cfg.RootCAs, Now: m.s.cfg.Now,
		Logf: func(format string, args ...any) { m.s.log.Info(fmt.Sprintf("broker: "+format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	m.brk = b
	return b, nil
}

// embedder returns the embeddings provider and its secret's name.
func (m *memory) embedderLocked(ctx context.Context) (*broker.Embedder, string, error) {
	if m.emb != nil {
		return m.emb, m.cfg.Secret, nil
	}
	b, err := m.s.cfg.Vault.Get(ctx, NSAgents, memConfigName, vault.AuditEntry{Actor: "broker", Op: "memory.config.read", Target: memConfigName})
	if errors.Is(err, vault.ErrNotFound) {
		return nil, "", agentsock.Refuse("memory notes have no embeddings provider yet: the owner sets one with mesh secret allow NAME URL --embeddings-model MODEL")
	}
	if err != nil {
		return nil, "", vaultErr(err, "memory configuration")
	}
	var mc memConfig
	if len(b) > maxConfigRecord || json.Unmarshal(b, &mc) != nil {
		return nil, "", errors.New("the memory configuration does not decode")
	}
	brk, err := m.brokerLocked(ctx)
	if err != nil {
		return nil, "", err
	}
	e, err := broker.NewEmbedder(broker.EmbedderConfig{Broker: brk, Secret: mc.Secret, BaseURL: mc.URL, Model: mc.Model, Dimensions: mc.Dimensions})
	if err != nil {
		return nil, "", err
	}
	m.emb, m.cfg = e, &mc
	return e, mc.Secret, nil
}

// newPath names a new note: memory/ and 16 random hex digits.
func (m *memory) newPath() string {
	var b [8]byte
	rand.Read(b[:])
	return memoryRoot + "/" + hex.EncodeToString(b[:])
}

// indexLocked loads the sealed index, catching up with notes it lacks.
func (m *memory) indexLocked(ctx context.Context, emb *broker.Embedder) (*broker.Index, error) {
	if m.idx != nil {
		return m.idx, nil
	}
	v := m.s.cfg.Vault
	b, err := v.Get(ctx, NSAgents, memIndexName, vault.AuditEntry{Actor: "memory", Op: "memory.index.read", Target: memIndexName})
	switch {
	case errors.Is(err, vault.ErrNotFound):
	case err != nil:
		return nil, vaultErr(err, "memory index")
	default:
		if m.idx, err = broker.DecodeIndex(b); err != nil {
			m.s.log.Warn("agents: the memory index does not decode; it is rebuilt", "err", err)
		}
	}
	names, err := v.List(ctx, vault.NSResources)
	if err != nil {
		return nil, vaultErr(err, "memory notes")
	}
	var missing []string
	live := map[string]bool{}
	for _, n := range names {
		if strings.HasPrefix(n, memoryRoot+"/") {
			live[n] = true
			if (m.idx == nil || !m.idx.Has(n)) && len(missing) < MaxCatchUp {
				missing = append(missing, n)
			}
		}
	}
	if m.idx != nil {
		for _, id := range m.idx.IDs() {
			if !live[id] {
				m.idx.Remove(id)
				m.dirty = true
			}
		}
	}
	for len(missing) > 0 {
		n := min(len(missing), embedBatch)
		batch := missing[:n]
		missing = missing[n:]
		texts := make([]string, 0, n)
		for _, id := range batch {
			t, err := v.Get(ctx, vault.NSResources, id, vault.AuditEntry{Actor: "memory", Op: "resource.read", Target: id, Detail: "indexing"})
			if err != nil {
				return nil, vaultErr(err, "note "+id)
			}
			texts = append(texts, string(t))
		}
		vecs, err := emb.Embed(ctx, texts)
		if err != nil {
			return nil, err
		}
		for i, id := range batch {
			if err := m.addLocked(id, vecs[i]); err != nil {
				return nil, err
			}
		}
	}
	if m.idx == nil {
		return nil, nil // no note yet: the first note makes it
	}
	return m.idx, nil
}

func (m *memory) addLocked(id string, vec []float32) error {
	if m.idx == nil {
		idx, err := broker.NewIndex(len(vec))
		if err != nil {
			return err
		}
		m.idx = idx
	}
	m.dirty = true
	return m.idx.Add(id, vec)
}

// add embeds and stores a note.
func (m *memory) add(ctx context.Context, c *calls, e *entry, path, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	emb, secret, err := m.embedderLocked(ctx)
	if err != nil {
		return err
	}
	if err := c.useEmbeddings(ctx, e, secret); err != nil {
		return err
	}
	if _, err := m.indexLocked(ctx, emb); err != nil {
		return err
	}
	vecs, err := emb.Embed(ctx, []string{text})
	if err != nil {
		return err
	}
	if err := m.s.cfg.Vault.Put(ctx, vault.NSResources, path, []byte(text), vault.AuditEntry{Actor: actor(e.policy.Name), Op: "resource.write", Target: path}); err != nil {
		return vaultErr(err, path)
	}
	return m.addLocked(path, vecs[0])
}

// search answers a memory_search: the query embedded through the
// brokered key, then nearest.
func (m *memory) search(ctx context.Context, c *calls, e *entry, query string, k int) ([]agentsock.Memory, error) {
	emb, idx, err := m.prepare(ctx, c, e)
	if err != nil || idx == nil {
		return []agentsock.Memory{}, err
	}
	vecs, err := emb.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	return m.nearest(ctx, c, e, idx, vecs[0], k)
}

// prepare checks that agent e may use the embeddings secret and returns
// the embedder and the index (nil while there is no note).
func (m *memory) prepare(ctx context.Context, c *calls, e *entry) (*broker.Embedder, *broker.Index, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	emb, secret, err := m.embedderLocked(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := c.useEmbeddings(ctx, e, secret); err != nil {
		return nil, nil, err
	}
	idx, err := m.indexLocked(ctx, emb)
	return emb, idx, err
}

// nearest returns the k notes nearest to vec that agent e may read, each
// verified against its token and read from the vault (audited).
func (m *memory) nearest(ctx context.Context, c *calls, e *entry, idx *broker.Index, vec []float32, k int) ([]agentsock.Memory, error) {
	hits, err := idx.Search(vec, min(k*4, MaxMemoryHits)) // room for notes the agent may not read
	if err != nil {
		return nil, err
	}
	out := []agentsock.Memory{}
	for _, h := range hits {
		if len(out) == k {
			break
		}
		p := capability.ResourcePath(h.ID)
		if !e.policy.Allows(capability.Read, p) {
			continue
		}
		if _, err := e.policy.Authorize(ctx, m.s.cfg.Verifier, e.tokenFor(capability.Read, h.ID), c.request(e, capability.Read, h.ID)); err != nil {
			continue
		}
		t, err := m.s.cfg.Vault.Get(ctx, vault.NSResources, h.ID, vault.AuditEntry{Actor: actor(e.policy.Name), Op: "resource.read", Target: h.ID, Detail: "memory_search"})
		if err != nil {
			continue // removed since it was indexed
		}
		out = append(out, agentsock.Memory{Path: h.ID, Text: string(t), Score: float64(h.Score)})
	}
	return out, nil
}

// save seals the index when it changed.
func (m *memory) save(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty || m.idx == nil {
		return
	}
	b, err := m.idx.Encode()
	if err == nil {
		err = m.s.cfg.Vault.Put(ctx, NSAgents, memIndexName, b, vault.AuditEntry{Actor: "memory", Op: "memory.index.write", Target: memIndexName,
			Detail: fmt.Sprintf("%d notes", m.idx.Len())})
	}
	if err != nil {
		if !errors.Is(err, vault.ErrLocked) {
			m.s.log.Warn("agents: sealing the memory index failed; it is rebuilt from the notes when needed", "err", err)
		}
		return
	}
	m.dirty = false
}
