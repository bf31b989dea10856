package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocmt/mesh/vault"
)

func TestDemoPassesEveryStep(t *testing.T) {
	dir, _ := os.MkdirTemp("", "md")
	defer os.RemoveAll(dir)
	mesh := filepath.Join(dir, "mesh")
	if out, err := exec.Command("go", "build", "-o", mesh, "../../cmd/mesh").CombinedOutput(); err != nil {
		t.Fatalf("building mesh for the relay's wake hook: %v\n%s", err, out)
	}
	var out bytes.Buffer
	err := Run(context.Background(), &out, Options{Dir: dir, KDF: vault.TestKDF(), Mesh: mesh})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("demo failed: %v", err)
	}
	if strings.Contains(out.String(), "✗") || strings.Count(out.String(), "✓") < 15 {
		t.Fatalf("demo output lacks its checks")
	}
	// The agent steps (issue 13), each a line a user reads.
	for _, want := range []string{
		"a local embeddings server stands in for the provider",
		"alice: mesh secret allow embeddings http://127.0.0.1:",
		"alice: mesh agent add helper --paths 'calendar/**,memory/**' --use secrets/embeddings",
		"✓ helper: read_resource calendar/work  →  allowed",
		"✓ helper: delete_resource calendar/work  →  refused by the agent ceiling: ",
		"✓ helper: memory_search \"what does bob like to drink\"",
		"memory/drinks (score ",
		"nothing helper received holds it",
		"✓ helper: request_share calendar/** with bob, read, for 7d  →  pending, approval ",
		"✓ alice: mesh approve ",
		"✓ bob: mesh shared  →  alice shared calendar/** with you: read",
		"✓ helper: a loop of 10,000 read_resource calls  →  stopped after ",
		"✓ its next 3 calls are refused too: locked",
		"✓ alice is alerted (mesh approvals --watch): agent helper was locked",
		"✓ alice: mesh digest  →  computed from the audit log",
		"✓ the digest counts every one of helper's ",
		"holds the embeddings key",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "sk-demo-embed-") {
		t.Fatal("the demo printed the embeddings key")
	}
}
