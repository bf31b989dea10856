package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
)

// TestCLIOwnerSleepsAndIsWoken is the cached tier and wake-on-request as
// separate processes: a bootstrap, a relay whose wake hook starts alice's
// node (a real child process of the relay), alice and bob. Alice shares
// her calendar and a file too large for the relay's cache, and
// hibernates. Bob reads the calendar from the cache with alice's process
// gone; his read of the file wakes alice through the relay, unlocked, and
// she answers. Alice revokes bob and hibernates again: the cache refuses
// him. No plaintext is in the relay's home.
func TestCLIOwnerSleepsAndIsWoken(t *testing.T) {
	if testing.Short() {
		t.Skip("four processes and a wake: skipped in -short")
	}
	const calendar = "standup at nine CANARY-cal-51d7"
	big := strings.Repeat("quarterly report CANARY-file-a9e2 ", 4000) // ~136 KiB: over the relay's cache
	pw := []string{"MESH_PASSWORD=" + pwCanary}

	boot := newCLI(t)
	bootAddr := boot.background("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")
	homes, err := os.MkdirTemp("", "mw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(homes) })
	aliceHome := filepath.Join(homes, "alice")
	wakeCmd := fmt.Sprintf("%s --home %s/{handle} node --config %s/{handle}/node.yaml", meshBin, homes, homes)
	rel := newCLI(t)
	relayAddr, relayOut := rel.startRole("relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr,
		"--allow-private-addrs", "--cache-max-bytes", "65536", "--wake-exec", wakeCmd)

	nodeYAML := fmt.Sprintf("listen: [/ip4/127.0.0.1/tcp/0]\nbootstrap: [%s]\nrelays: [%s]\nfirewall: true\n", bootAddr, relayAddr)
	alice := &cli{t: t, home: aliceHome, env: []string{"MESH_HOME=" + aliceHome, "HOME=" + aliceHome, "PATH=" + os.Getenv("PATH")}}
	alice.ok("", pw, "init", "--insecure-test-kdf", "--handle", "alice")
	if err := os.WriteFile(filepath.Join(aliceHome, "node.yaml"), []byte(nodeYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.run("", nil, "hibernate"); exec.Command("pkill", "-f", aliceHome).Run() })
	alice.startNode("--config", filepath.Join(aliceHome, "node.yaml"))
	alice.ok("", pw, "unlock")
	bob := newCLI(t)
	bob.ok("", pw, "init", "--insecure-test-kdf", "--handle", "bob")
	bobYAML := filepath.Join(bob.home, "node.yaml")
	os.WriteFile(bobYAML, []byte(nodeYAML), 0o600)
	bob.startNode("--config", bobYAML)
	bob.ok("", pw, "unlock")
	waitCLI(t, "both nodes hold a reservation", func() bool { return alice.status().Relayed && bob.status().Relayed })

	alice.ok(calendar, nil, "put", "calendar/work")
	alice.ok(big, nil, "put", "files/report")
	alice.ok("", nil, "share", "calendar/*", "--with", "bob", "--can", "read")
	alice.ok("", nil, "share", "files/*", "--with", "bob", "--can", "read")
	waitCLI(t, "bob holds both shares", func() bool { return len(bob.grants("shared")) == 2 })
	var snaps []localapi.Snapshot
	waitCLI(t, "alice's calendar is cached and her report refused by the relay", func() bool {
		json.Unmarshal([]byte(alice.ok("", nil, "snapshot", "status", "--json")), &snaps)
		got := map[string]string{}
		for _, s := range snaps {
			for _, c := range s.Caches {
				got[s.Resource] = c.Error
			}
		}
		return len(got) == 2 && got["calendar/work"] == "" && got["files/report"] != ""
	})
	if out := alice.ok("", nil, "snapshot", "status"); !strings.Contains(out, "calendar/work") || !strings.Contains(out, "cached") {
		t.Fatalf("mesh snapshot status:\n%s", out)
	}

	// Alice hibernates: her process exits.
	if _, errs, ok := alice.run("", nil, "hibernate"); !ok || !strings.Contains(errs, "hibernated: 1 relay(s)") {
		t.Fatalf("mesh hibernate: %q", errs)
	}
	exited := make(chan error, 1)
	go func() { exited <- alice.proc.Wait() }()
	select {
	case <-exited:
		alice.proc = nil
	case <-time.After(30 * time.Second):
		t.Fatal("alice's node did not exit after hibernating")
	}

	// The calendar comes from the cache, alice's process gone.
	out, errs, ok := bob.run("", nil, "get", "alice/calendar/work")
	if !ok || out != calendar || !strings.Contains(errs, "served from the cache at relay") {
		t.Fatalf("bob's cached read: %q, stderr %q", out, errs)
	}
	// The report is not cached: bob's read wakes alice.
	out, errs, ok = bob.run("", nil, "get", "alice/files/report")
	if !ok || out != big || !strings.Contains(errs, "waking alice…") {
		t.Fatalf("bob's read that wakes alice: %d bytes, stderr %q; relay said:\n%s", len(out), errs, relayOut.String())
	}
	st := alice.status()
	if !st.Running || st.Locked {
		t.Fatalf("the woken alice: %+v, want running and unlocked (within the resume window)", st)
	}

	// Alice revokes bob's calendar share and sleeps again.
	var shares []localapi.Grant
	json.Unmarshal([]byte(alice.ok("", nil, "shares", "--json")), &shares)
	for _, g := range shares {
		if g.Resource == "calendar/*" {
			alice.ok("", nil, "revoke", g.ID)
		}
	}
	waitCLI(t, "alice resealed the calendar to herself alone", func() bool {
		json.Unmarshal([]byte(alice.ok("", nil, "snapshot", "status", "--json")), &snaps)
		for _, s := range snaps {
			if s.Resource == "calendar/work" {
				return s.Readers == 1
			}
		}
		return false
	})
	alice.ok("", nil, "hibernate")
	waitCLI(t, "alice's woken node exits", func() bool { _, _, ok := alice.run("", nil, "status", "--json"); return !alice.status().Running || !ok })
	_, errs, ok = bob.run("", nil, "get", "alice/calendar/work")
	if ok || !strings.Contains(errs, "revoked") {
		t.Fatalf("bob's revoked read from the cache: ok=%v, stderr %q", ok, errs)
	}

	rel.interrupt()
	assertNoCanaries(t, rel.home, "CANARY-cal-51d7", "CANARY-file-a9e2", pwCanary)
}

// waitCLI waits for cond, failing after a minute.
func waitCLI(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testkit.Poll(20*time.Second, cond) {
		t.Fatalf("still not the case after a minute: %s", what)
	}
}
