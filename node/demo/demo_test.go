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
}
