package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/blockcache"
)

// TestTheRelayCacheCapIsConfigurable: configs/relay.yaml sets
// cache_max_bytes to the default under a comment that says so,
// docs/scaling.md lists it, the flag defaults to it, and the file's 0 turns
// the cache off rather than taking infra's default.
func TestTheRelayCacheCapIsConfigurable(t *testing.T) {
	fc, err := loadInfraConfig("../../configs/relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if fc.CacheMaxBytes == nil || *fc.CacheMaxBytes != blockcache.DefaultMaxBytes {
		t.Errorf("configs/relay.yaml: cache_max_bytes is %v, want the default %d", fc.CacheMaxBytes, blockcache.DefaultMaxBytes)
	}
	yaml, err := os.ReadFile("../../configs/relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(yaml)
	at := strings.Index(doc, "\ncache_max_bytes:")
	comment := doc[:at]
	comment = comment[strings.LastIndex(comment, "\n\n"):]
	if !strings.Contains(comment, "Default") {
		t.Errorf("configs/relay.yaml: the comment above cache_max_bytes gives no default:%s", comment)
	}
	scaling, err := os.ReadFile("../../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(scaling), "`cache_max_bytes`") {
		t.Error("docs/scaling.md does not list `cache_max_bytes`")
	}
	flag := newRelayCmd(&globals{}).Flags().Lookup("cache-max-bytes")
	if flag == nil || flag.DefValue != "1073741824" {
		t.Errorf("mesh relay --cache-max-bytes: %+v, want a default of 1 GiB", flag)
	}

	dir := t.TempDir()
	for _, c := range []struct {
		yaml string
		want int64
	}{
		{"", 0},                       // unset: infra's default
		{"cache_max_bytes: 0\n", -1},  // off
		{"cache_max_bytes: -5\n", -1}, // off
		{"cache_max_bytes: 4096\n", 4096},
	} {
		path := filepath.Join(dir, "relay.yaml")
		if err := os.WriteFile(path, []byte("listen: []\n"+c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		fc, err := loadInfraConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fc.cacheMaxBytes(); got != c.want {
			t.Errorf("%q: infra's CacheMaxBytes %d, want %d", c.yaml, got, c.want)
		}
	}
}
