package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/pflag"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wakehook"
)

// TestCLISupervise: mesh supervise says what it does and what it never
// does, refuses to start without its relays or a command, starts from
// flags or a config file, prints its address (which mesh addrs prints
// too), runs its --exec command on an order from its relay and stops on
// SIGINT, taking its addrs file with it.
func TestCLISupervise(t *testing.T) {
	c := newCLI(t)
	help := c.ok("", nil, "supervise", "--help")
	for _, want := range []string{"--exec", "--relay-peer", "{handle}", "without a", "only from the relays", "never", "--config"} {
		if !strings.Contains(help, want) {
			t.Errorf("mesh supervise --help does not say %q:\n%s", want, help)
		}
	}
	relayID := testkit.Key(t, "relay").ID().String()
	c.fails("", nil, "needs --relay-peer", "supervise", "--exec", "true {handle}")
	c.fails("", nil, "needs --exec", "supervise", "--relay-peer", relayID)
	c.fails("", nil, `--relay-peer "12D3KooWnope" is not a peer ID`, "supervise", "--relay-peer", "12D3KooWnope", "--exec", "true")
	c.fails("", nil, "{hndle}", "supervise", "--relay-peer", relayID, "--exec", "start {hndle}")

	woken := filepath.Join(c.home, "woken")
	addr, out := c.startRole("supervise", "--listen", "/ip4/127.0.0.1/tcp/0", "--relay-peer", relayID, "--exec", "touch '"+woken+"-{handle}'")
	if !strings.Contains(addr, "/p2p/12D3KooW") {
		t.Fatalf("mesh supervise wrote the address %q", addr)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return strings.Contains(out.String(), "listening on "+addr) },
		"mesh supervise to print its address")
	if first := strings.SplitN(out.String(), "\n", 2)[0]; !strings.HasPrefix(first, "mesh supervise 12D3KooW") || !strings.HasSuffix(first, " ready") {
		t.Fatalf("mesh supervise's first line: %q", first)
	}
	if got := c.ok("", nil, "addrs"); !strings.Contains(got, addr) {
		t.Fatalf("mesh addrs printed %q, want %s", got, addr)
	}
	// An order signed by that relay runs the command.
	relayKey := testkit.Key(t, "relay")
	rh := testkit.Host(t, relayKey)
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	rh.Peerstore().AddAddrs(info.ID, info.Addrs, time.Hour)
	hook, err := wakehook.NewSupervisor(rh, relayKey.Libp2pPrivKey(), info.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hook.Wake(testkit.Context(t, 30*time.Second), wakehook.Target{Handle: "alice", Peer: testkit.Key(t, "alice").ID()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { _, err := os.Stat(woken + "-alice"); return err == nil },
		"the supervisor to run its command for alice")
	c.interrupt()
	if _, err := os.Stat(filepath.Join(c.home, "addrs")); !os.IsNotExist(err) {
		t.Fatalf("a stopped supervisor left its addrs file: %v", err)
	}

	// The same from a config file; an unknown key is refused.
	cfg := filepath.Join(c.home, "supervise.yaml")
	os.WriteFile(cfg, []byte("listen: [/ip4/127.0.0.1/tcp/0]\nrelay_peers: ["+relayID+"]\nexec_for:\n  alice: docker start alice\n"), 0o600)
	addr2, _ := c.startRole("supervise", "--config", cfg)
	if id := addr[strings.Index(addr, "/p2p/"):]; !strings.HasSuffix(addr2, id) {
		t.Fatalf("the supervisor's identity changed between starts: %s, then %s", addr, addr2)
	}
	c.interrupt()
	bad := filepath.Join(c.home, "bad.yaml")
	os.WriteFile(bad, []byte("relays: ["+relayID+"]\nexec: true\n"), 0o600)
	c.fails("", nil, "field relays not found", "supervise", "--config", bad)
}

// TestEverySuperviseFlagHasAConfigField: each mesh supervise flag but
// --config has a field in its config file, named after it.
func TestEverySuperviseFlagHasAConfigField(t *testing.T) {
	tags := map[string]bool{}
	ft := reflect.TypeFor[superviseFile]()
	for i := range ft.NumField() {
		tags[ft.Field(i).Tag.Get("yaml")] = true
	}
	cmd := newSuperviseCmd(&globals{})
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" {
			return
		}
		key := strings.ReplaceAll(f.Name, "-", "_")
		if !tags[key] && !tags[key+"s"] {
			t.Errorf("--%s has no field in mesh supervise's config file", f.Name)
		}
		if !strings.Contains(cmd.Flags().Lookup("config").Usage, key) {
			t.Errorf("--config's help does not list %s", key)
		}
	})
}
