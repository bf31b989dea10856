package demo

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ocmt/mesh/vault"
)

func TestDemoPassesEveryStep(t *testing.T) {
	dir, _ := os.MkdirTemp("", "md")
	defer os.RemoveAll(dir)
	var out bytes.Buffer
	err := Run(context.Background(), &out, Options{Dir: dir, KDF: vault.TestKDF()})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("demo failed: %v", err)
	}
	if strings.Contains(out.String(), "✗") || strings.Count(out.String(), "✓") < 15 {
		t.Fatalf("demo output lacks its checks")
	}
}
