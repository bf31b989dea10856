package mesh_test

// The import rules of the module, checked against `go list`. They keep the
// layers of docs/architecture.md apart: storage and tokens know nothing of
// the network, the relay knows nothing of the mesh, libraries know nothing
// of the binary, and the test taps stay in tests and the demo.

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ocmt/mesh"

// pkg is one package of the module as go list reports it.
type pkg struct {
	path    string   // relative to the module: "vault", "protocols/share"
	imports []string // direct imports, full paths
	deps    []string // every package it depends on, transitively
}

// networking is what "imports no libp2p networking" forbids: hosts,
// streams, connections, gossip and the DHT. The key and peer-ID types
// (core/crypto, core/peer) are allowed: storage and tokens name peers.
var networking = []string{
	"github.com/libp2p/go-libp2p/core/host",
	"github.com/libp2p/go-libp2p/core/network",
	"github.com/libp2p/go-libp2p/core/connmgr",
	"github.com/libp2p/go-libp2p-pubsub",
	"github.com/libp2p/go-libp2p-kad-dht",
}

// rule forbids packages matching from to depend on anything under one of
// forbid; direct rules look at direct imports only.
type rule struct {
	name   string
	from   func(p string) bool
	forbid []string
	direct bool
}

func is(names ...string) func(string) bool {
	return func(p string) bool { return slices.Contains(names, p) }
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
}

func not(f func(string) bool) func(string) bool { return func(p string) bool { return !f(p) } }

var rules = []rule{
	{name: "storage knows no networking", from: is("vault", "internal/store", "internal/home", "internal/backup", "internal/blockcache", "internal/snapshot"), forbid: networking},
	{name: "revocation records and sets know no networking", from: is("capability/revocation"), forbid: networking},
	{name: "the relay takes what it checks through interfaces", from: is("relay"), forbid: []string{module + "/"}},
	{name: "tokens know neither the vault nor the node", from: under("capability"), forbid: []string{module + "/vault", module + "/node"}},
	{name: "no library imports the binary", from: not(under("cmd")), forbid: []string{module + "/cmd"}},
	{name: "the test taps are for tests and the demo", from: not(is("node/demo")), forbid: []string{module + "/internal/testmesh"}, direct: true},
	{name: "the demo is for the binary", from: not(is("cmd/mesh")), forbid: []string{module + "/node/demo"}, direct: true},
	{name: "the test kit is for tests", from: func(string) bool { return true }, forbid: []string{module + "/internal/testkit"}},
}

// layers is the layer diagram of docs/architecture.md, top to bottom. A
// package may import packages of lower layers only.
var layers = [][]string{
	{"cmd/mesh"},                  // the binary
	{"node/demo"},                 // every role in one process
	{"node", "node/infra"},        // the roles
	{"internal/agenthost", "web"}, // the home node's AI agents (a job made of jobs) and its web UI
	{"internal/grantee", "internal/delivery", "internal/presence", "internal/resolve", "internal/sharestore", "internal/relevance",
		"internal/revstatus", "internal/homehost", "internal/nodemetrics", "internal/idlelock", "internal/agentsock",
		"internal/groupclient", "internal/groupvault", "internal/recoveryhost", "internal/socialrecovery"}, // the home node's jobs, and the group vault's service
	{"internal/words"},                       // errors worded for people
	{"internal/hibernate"},                   // going to sleep, coming back, waking an owner
	{"internal/cached", "internal/recovery"}, // the cached tier: a job both sides of a share use; the recovery methods' keys and messages
	{"internal/meshnet", "internal/meshstate", "internal/backup", "protocols/revgossip", "agent", "group"},                                                                                                                                                                      // what roles are assembled from
	{"dht", "relay", "protocols/share", "protocols/grant", "protocols/relayaccess", "protocols/revsync", "protocols/snapshot", "protocols/wake", "internal/uigateway", "protocols/groupwire", "protocols/recoverywire"},                                                         // services and protocols
	{"protocols/directory", "protocols/capwire", "capability/revocation", "internal/p2phost", "node/localapi", "internal/snapshot", "internal/resume", "internal/wakehook", "internal/broker", "internal/notify", "internal/oauthflow", "internal/legacy", "internal/translog"}, // pieces protocols and roles share
	{"capability", "vault", "internal/exchange", "internal/peerseal", "internal/testmesh"},                                                                                                                                                                                      // tokens, the vault, one exchange on a stream
	{"internal/wire", "internal/duration", "internal/store", "internal/blockcache", "internal/home", "internal/peerlimit", "internal/auditlimit", "internal/testkit"},                                                                                                           // encoding, storage, the home folder
	{"internal/keys", "internal/xcrypto"}, // keys and primitives
}

func goList(t *testing.T) []pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q", sc.Text())
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		pkgs = append(pkgs, pkg{path: rel, imports: strings.Fields(f[1]), deps: strings.Fields(f[2])})
	}
	return pkgs
}

// violations lists what breaks r among pkgs.
func violations(r rule, pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		if !r.from(p.path) {
			continue
		}
		seen := p.deps
		if r.direct {
			seen = p.imports
		}
		for _, d := range seen {
			for _, f := range r.forbid {
				if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) || strings.HasPrefix(d, f+"/") {
					out = append(out, p.path+" → "+d)
				}
			}
		}
	}
	return out
}

func TestImportRules(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			if v := violations(r, pkgs); len(v) > 0 {
				t.Errorf("%d imports break the rule:\n  %s", len(v), strings.Join(v, "\n  "))
			}
		})
	}
}

func TestLayers(t *testing.T) {
	layerOf := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layerOf[p] = i
		}
	}
	for _, p := range goList(t) {
		if p.path == "" {
			continue // this test's own package
		}
		li, ok := layerOf[p.path]
		if !ok {
			t.Errorf("%s is in no layer: add it to layers here and to the diagram in docs/architecture.md", p.path)
			continue
		}
		for _, imp := range p.imports {
			rel, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if lj := layerOf[rel]; lj <= li {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports lower layers only", p.path, li, rel, lj)
			}
		}
	}
}

// TestRulesCatchABreak checks the checker on made-up packages, so a rule
// that could never fail is noticed.
func TestRulesCatchABreak(t *testing.T) {
	fake := []pkg{
		{path: "vault", deps: []string{"github.com/libp2p/go-libp2p/core/host"}},
		{path: "relay", deps: []string{module + "/capability"}},
		{path: "capability", deps: []string{module + "/vault"}},
		{path: "node", deps: []string{module + "/cmd/mesh"}, imports: []string{module + "/internal/testmesh", module + "/node/demo"}},
		{path: "protocols/share", deps: []string{module + "/internal/testkit"}},
	}
	for _, r := range rules {
		if r.name == "revocation records and sets know no networking" {
			continue // no fake for it: the vault case exercises the same list
		}
		if len(violations(r, fake)) == 0 {
			t.Errorf("rule %q found nothing in packages made to break it", r.name)
		}
	}
}
