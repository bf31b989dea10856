package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// The agent steps' numbers, each with its reason.
const (
	// floodCalls is the runaway loop the agent starts: far more than the
	// 200 calls an hour a new agent may make, so the lock must stop it
	// (the demo stops calling at the first locked refusal).
	floodCalls = 10_000
	// afterLock is how many calls the agent makes after the lock, to show
	// that each of them is refused too.
	afterLock = 3
	// embedDims is the dimension of the demo embedder's vectors: enough
	// that the few words of the demo's notes rarely share a slot.
	embedDims = 128
	// maxEmbedBody bounds a request to the demo embedder: a batch of the
	// demo's notes is a few hundred bytes.
	maxEmbedBody = 1 << 20
	// agentWait bounds each wait of the agent steps on the nodes (a share
	// delivered, the lock's alert).
	agentWait = 20 * time.Second
)

// demoNotes are alice's memory notes; the agent finds the first one by
// meaning.
var demoNotes = []struct{ path, text string }{
	{"memory/drinks", "Bob likes to drink green tea, never coffee after noon."},
	{"memory/gift", "Birthday gift idea for Bob: a book on sailing."},
	{"memory/car", "The car needs new tyres before the winter trip."},
}

// agents is step 10: alice adds an AI agent, helper, which acts through
// her node's agent socket within the ceiling and paths she gave it. It
// reads, is refused a delete, searches her notes with an embeddings key
// it never sees, asks her before sharing, and is locked when it floods
// the node with calls; her digest counts all of it from the audit log.
func (r *run) agents(ctx context.Context, alice localapi.Backend, bob *node.Node, aliceHome node.Home, dir string) error {
	r.say("10. Alice lets an AI agent work for her. It acts through her node's agent socket, within\n" +
		"    the paths and actions she gives it; it uses her API key without seeing it, asks her\n" +
		"    before it shares anything, and is locked when its calls run away.")
	key, err := randomKey()
	if err != nil {
		return err
	}
	emb, err := startEmbeddings(key)
	if !r.step("a local embeddings server stands in for the provider (OpenAI-compatible, in this process, on 127.0.0.1)", err) {
		return err
	}
	defer emb.close()
	if !r.step("alice: mesh secret set embeddings --type api_key", alice.SecretSet(ctx, vault.Secret{Name: "embeddings", Type: vault.TypeAPIKey, Value: []byte(key)})) {
		return errors.New("the embeddings key was not stored")
	}
	err = alice.SecretAllow(ctx, localapi.SecretAllowRequest{Name: "embeddings", Endpoints: []string{emb.url}, EmbeddingsModel: "demo-embed"})
	if !r.step(fmt.Sprintf("alice: mesh secret allow embeddings %s --embeddings-model demo-embed  →  the key may go there only", emb.url), err) {
		return err
	}
	var paths []string
	for _, n := range demoNotes {
		if err := alice.PutResource(ctx, n.path, []byte(n.text)); err != nil {
			r.step("alice: mesh put "+n.path, err)
			return err
		}
		paths = append(paths, n.path)
	}
	r.step(fmt.Sprintf("alice: mesh put %s  (notes; the memory index catches up with them on the first search)", strings.Join(paths, ", ")), nil)

	keyDir, err := os.MkdirTemp(dir, "agent-")
	if err != nil {
		return err
	}
	keyFile := filepath.Join(keyDir, "helper.key")
	id, err := agentsock.CreateKeyFile(keyFile, "helper")
	if err != nil {
		return err
	}
	info, err := alice.AgentAdd(ctx, localapi.AgentAddRequest{Name: "helper", Key: id.String(),
		Paths: []string{"calendar/**", "memory/**"}, Use: []string{"secrets/embeddings"}})
	if !r.step(fmt.Sprintf("alice: mesh agent add helper --paths 'calendar/**,memory/**' --use secrets/embeddings  →  it may %s, %d capabilities for its key",
		info.Ceiling, len(info.Tokens)), err) {
		return err
	}
	fmt.Fprintf(r.w, "      key file (for the agent only): %s\n", keyFile)
	k, err := agentsock.LoadKey(keyFile)
	if err != nil {
		return err
	}
	cs, err := agentsock.Connect(ctx, aliceHome.AgentSocket(), k)
	if !r.step("helper connects to alice's agent socket (MCP; its key proves who it is)", err) {
		return err
	}
	defer cs.Close()
	a := &agentSession{cs: cs, key: key}

	text, ok, err := a.call(ctx, "read_resource", map[string]any{"path": "calendar/work"})
	if err != nil {
		return err
	}
	var read struct {
		Size int    `json:"size"`
		Text string `json:"text"`
	}
	json.Unmarshal([]byte(text), &read)
	first, _, _ := strings.Cut(read.Text, "\n")
	r.check(fmt.Sprintf("helper: read_resource calendar/work  →  allowed, %d bytes: %q…", read.Size, first), ok && read.Size > 0, "refused: "+text)

	text, ok, err = a.call(ctx, "delete_resource", map[string]any{"path": "calendar/work"})
	if err != nil {
		return err
	}
	r.check("helper: delete_resource calendar/work  →  refused by the agent ceiling: "+text, !ok && strings.Contains(text, "delete"), "not refused: "+text)

	const question = "what does bob like to drink"
	text, ok, err = a.call(ctx, "memory_search", map[string]any{"query": question, "k": 1})
	if err != nil {
		return err
	}
	var found struct {
		Results []agentsock.Memory `json:"results"`
	}
	json.Unmarshal([]byte(text), &found)
	if r.check(fmt.Sprintf("helper: memory_search %q  →  answered through the node, which added the key", question),
		ok && len(found.Results) == 1 && found.Results[0].Path == demoNotes[0].path, "got: "+text) {
		fmt.Fprintf(r.w, "      %s (score %.2f): %s\n", found.Results[0].Path, found.Results[0].Score, found.Results[0].Text)
	}
	r.check(fmt.Sprintf("the provider received alice's key on %d calls; nothing helper received holds it", emb.keyed.Load()),
		emb.keyed.Load() > 0 && !a.leaked, fmt.Sprintf("provider calls with the key: %d, key seen by the agent: %v", emb.keyed.Load(), a.leaked))

	r.share(ctx, a, alice, bob)

	if err := r.flood(ctx, a, alice); err != nil {
		return err
	}

	d, err := alice.Digest(ctx, localapi.DigestRequest{})
	total, row := digestTotal(d, "helper")
	if r.step(fmt.Sprintf("alice: mesh digest  →  computed from the audit log: helper made %d calls", total), err) {
		for _, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
			if line != "" {
				fmt.Fprintf(r.w, "      %s\n", line)
			}
		}
		r.check(fmt.Sprintf("the digest counts every one of helper's %d calls, its approval and its lock", a.calls),
			row && total == a.calls && strings.Contains(d, "1 granted") && strings.Contains(d, "Locks: 1"),
			fmt.Sprintf("helper made %d calls, the digest counts %d", a.calls, total))
	}
	rep, err := alice.Audit(ctx)
	if err == nil && a.leaked {
		err = errors.New("the agent received the embeddings key")
	}
	if err == nil {
		for _, rec := range rep.Records {
			if strings.Contains(rec.Detail, key) || strings.Contains(rec.Target, key) {
				err = fmt.Errorf("audit record %d holds the embeddings key", rec.Seq)
				break
			}
		}
	}
	r.step(fmt.Sprintf("nothing helper received in its %d calls, and none of alice's %d audit records, holds the embeddings key", a.calls, len(rep.Records)), err)
	return nil
}

// grouped writes n with its thousands grouped: 10,000.
func grouped(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// share is the request_share part of step 10: helper asks, alice
// approves, and the share reaches bob.
func (r *run) share(ctx context.Context, a *agentSession, alice localapi.Backend, bob *node.Node) {
	text, ok, err := a.call(ctx, "request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "7d"})
	var asked struct {
		ID     string `json:"id"`
		Intent string `json:"intent"`
	}
	if err == nil {
		json.Unmarshal([]byte(text), &asked)
		if !ok || asked.ID == "" {
			err = errors.New("not pending: " + text)
		}
	}
	if !r.step(fmt.Sprintf("helper: request_share calendar/** with bob, read, for 7d  →  pending, approval %s: %s", asked.ID, asked.Intent), err) {
		return
	}
	l, err := alice.Approvals(ctx)
	pending := false
	for _, ap := range l {
		pending = pending || ap.ID == asked.ID && ap.State == "pending"
	}
	if err == nil && !pending {
		err = fmt.Errorf("approval %s is not pending among %d requests", asked.ID, len(l))
	}
	if !r.step("alice: mesh approvals  →  "+asked.ID+"  pending  agent helper: "+asked.Intent, err) {
		return
	}
	dec, err := alice.Decide(ctx, asked.ID, true)
	if err == nil && dec.Share == nil {
		err = errors.New("approved, but no share was issued")
	}
	if !r.step(fmt.Sprintf("alice: mesh approve %s  →  %s", asked.ID, shareWords(dec.Share)), err) {
		return
	}
	var g localapi.Grant
	err = waitUntil(ctx, agentWait, func() bool {
		gs, _ := bob.Shared(ctx)
		for _, x := range gs {
			if x.Resource == "calendar/**" && x.OwnerHandle == "alice" && x.Status == "active" {
				g = x
				return true
			}
		}
		return false
	})
	r.step(fmt.Sprintf("bob: mesh shared  →  alice shared %s with you: %s", g.Resource, strings.Join(g.Actions, ", ")), err)
}

func shareWords(s *localapi.ShareResult) string {
	switch {
	case s == nil:
		return "no share"
	case s.Delivered != "":
		return fmt.Sprintf("share %s issued, delivered %s", s.ID, s.Delivered)
	}
	return fmt.Sprintf("share %s issued, not delivered yet: %s", s.ID, s.Pending)
}

// flood is the runaway loop of step 10: helper calls read_resource until
// the node locks it, and alice is alerted.
func (r *run) flood(ctx context.Context, a *agentSession, alice localapi.Backend) error {
	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := alice.Events(evCtx)
	if err != nil {
		r.step("alice: mesh approvals --watch", err)
		return err
	}
	t0 := time.Now()
	lockedAt, refusal := 0, ""
	for i := 1; i <= floodCalls && lockedAt == 0; i++ {
		text, ok, err := a.call(ctx, "read_resource", map[string]any{"path": "calendar/work"})
		switch {
		case err != nil:
			return err
		case !ok && !strings.Contains(text, "locked"):
			r.step(fmt.Sprintf("helper: a loop of %s read_resource calls", grouped(floodCalls)), fmt.Errorf("call %d was refused, not locked: %s", i, text))
			return nil
		case !ok:
			lockedAt, refusal = i, text
		}
	}
	took := time.Since(t0)
	if !r.check(fmt.Sprintf("helper: a loop of %s read_resource calls  →  stopped after %d calls: locked (%v, %v a call)",
		grouped(floodCalls), lockedAt, took.Round(time.Millisecond), (took/time.Duration(max(lockedAt, 1))).Round(time.Microsecond)),
		lockedAt > 0, "it was never locked") {
		return nil
	}
	fmt.Fprintf(r.w, "      %s\n", refusal)
	refused := 0
	for range afterLock {
		text, ok, err := a.call(ctx, "read_resource", map[string]any{"path": "calendar/work"})
		if err != nil {
			return err
		}
		if !ok && strings.Contains(text, "locked") {
			refused++
		}
	}
	r.check(fmt.Sprintf("its next %d calls are refused too: locked", afterLock), refused == afterLock, fmt.Sprintf("%d of %d refused", refused, afterLock))
	deadline := time.After(agentWait)
	for {
		select {
		case ev, open := <-events:
			if !open {
				r.step("alice is alerted", errors.New("the event stream ended"))
				return nil
			}
			if ev.Kind == "agent.locked" && ev.Agent == "helper" {
				r.step("alice is alerted (mesh approvals --watch): "+ev.Text, nil)
				return nil
			}
		case <-deadline:
			r.step("alice is alerted", errors.New("no agent.locked event came"))
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// digestTotal finds agent's row in the digest's Calls table and returns
// its total (the last column).
func digestTotal(digest, agent string) (uint64, bool) {
	for _, line := range strings.Split(digest, "\n") {
		f := strings.Fields(line)
		if len(f) == 9 && f[0] == agent {
			n, err := strconv.ParseUint(f[8], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// agentSession is the demo's agent: an MCP client on alice's agent
// socket. It counts its calls and watches everything it receives for the
// embeddings key.
type agentSession struct {
	cs     *mcp.ClientSession
	key    string
	calls  uint64
	leaked bool
}

// call runs tool and returns the text the agent received and whether the
// node allowed the call; an error means the call did not complete.
func (a *agentSession) call(ctx context.Context, tool string, args map[string]any) (string, bool, error) {
	a.calls++
	res, err := a.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", false, fmt.Errorf("helper's %s call failed: %w", tool, err)
	}
	if raw, err := json.Marshal(res); err != nil || bytes.Contains(raw, []byte(a.key)) {
		a.leaked = true
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), !res.IsError, nil
}

// randomKey makes the demo's embeddings key: a fresh value each run, so
// finding it anywhere means it leaked.
func randomKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "sk-demo-embed-" + hex.EncodeToString(b[:]), nil
}

// embedServer is the demo's embeddings provider: an OpenAI-compatible
// POST /v1/embeddings on loopback that answers only calls carrying the
// key, with a bag-of-words vector per text (texts that share words are
// near). It stands in for a real provider so the demo runs offline.
type embedServer struct {
	srv   *http.Server
	url   string // the API root: http://127.0.0.1:PORT/v1
	key   []byte
	keyed atomic.Int64 // calls that carried the key
}

func startEmbeddings(key string) (*embedServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &embedServer{url: "http://" + ln.Addr().String() + "/v1", key: []byte(key)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/embeddings", e.embeddings)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: agentWait}
	go e.srv.Serve(ln)
	return e, nil
}

func (e *embedServer) close() { e.srv.Close() }

func (e *embedServer) embeddings(w http.ResponseWriter, r *http.Request) {
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), e.key) != 1 {
		http.Error(w, `{"error":{"message":"invalid API key"}}`, http.StatusUnauthorized)
		return
	}
	e.keyed.Add(1)
	var req struct {
		Input []string `json:"input"`
		Model string   `json:"model"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEmbedBody)).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"the body is not an embeddings request"}}`, http.StatusBadRequest)
		return
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}{Object: "list", Model: req.Model, Data: []item{}}
	for i, in := range req.Input {
		out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: bagOfWords(in)})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// stopWords carry no meaning for the demo embedder.
var stopWords = map[string]bool{"a": true, "an": true, "the": true, "to": true, "of": true, "on": true, "for": true,
	"and": true, "or": true, "is": true, "what": true, "does": true, "do": true, "before": true, "after": true}

// bagOfWords is the demo embedder: each word, lowercased and with a plural
// s cut, adds one to a slot chosen by its hash; the vector is normalized.
func bagOfWords(s string) []float32 {
	v := make([]float32, embedDims)
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
		if stopWords[w] {
			continue
		}
		if len(w) > 3 {
			w = strings.TrimSuffix(w, "s")
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%embedDims]++
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	if n == 0 {
		v[0] = 1
		return v
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}
