package home

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestIdentityIsCreatedOnceAndLoadedBack(t *testing.T) {
	h := Home(filepath.Join(t.TempDir(), "h"))
	if _, err := LoadIdentity(h); !errors.Is(err, ErrNoHome) {
		t.Fatalf("an empty folder: %v, want ErrNoHome", err)
	}
	k, err := LoadOrCreateIdentity(h)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateIdentity(h)
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("reloaded %v, %v; want %v", again.ID(), err, k.ID())
	}
	if _, err := CreateIdentity(h); err == nil {
		t.Fatal("an existing identity was overwritten")
	}
	st, _ := os.Stat(h.IdentityPath())
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
}

func TestAKeyReadableByOthersIsRefused(t *testing.T) {
	h := Home(t.TempDir())
	if _, err := CreateIdentity(h); err != nil {
		t.Fatal(err)
	}
	os.Chmod(h.IdentityPath(), 0o644)
	if _, err := LoadIdentity(h); err == nil {
		t.Fatal("a world-readable key was loaded")
	}
}

func TestLockIsExclusiveAndNamesTheHolder(t *testing.T) {
	h := Home(t.TempDir())
	f, err := Lock(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(h); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second lock: %v, want ErrAlreadyRunning", err)
	}
	f.Close()
	g, err := Lock(h)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	g.Close()
	if _, err := LockExisting(Home(filepath.Join(t.TempDir(), "none"))); !errors.Is(err, ErrNoHome) {
		t.Fatalf("LockExisting on an empty folder: %v", err)
	}
}

func TestAddrsRoundTrip(t *testing.T) {
	h := Home(t.TempDir())
	rm, err := WriteAddrs(h, []string{"/ip4/127.0.0.1/tcp/1/p2p/x", "/ip4/127.0.0.1/tcp/2/p2p/x"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAddrs(h)
	if err != nil || len(got) != 2 {
		t.Fatalf("%v, %v", got, err)
	}
	rm()
	if _, err := ReadAddrs(h); err == nil {
		t.Fatal("addrs still there after remove")
	}
}
