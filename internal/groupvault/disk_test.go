package groupvault

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// TestTheOperatorWithTheDiskReadsNoSecretWhileLocked: secrets written
// while open, the group re-locked, the service and its pebble store
// closed: no file of the store's directory holds a secret's value, the
// group key or an admin's share, and neither does any audit record or
// error the vault gave.
func TestTheOperatorWithTheDiskReadsNoSecretWhileLocked(t *testing.T) {
	dir := t.TempDir()
	st := pebbleStore(t, dir)
	f := openFixture(t, st)
	g, alice, bob, carol := smiths(f)
	g.unlock(time.Hour, alice, bob)

	// canaries of a few sizes, one time-locked, one overwritten, one deleted
	values := map[string]string{}
	for i, size := range []int{len(canary), 256, 4 << 10, groupwire.MaxValueBytes} {
		v := canary + strings.Repeat(fmt.Sprintf("-%d", i), size)[:size-len(canary)]
		name := fmt.Sprintf("k/%d", i)
		values[name] = v
		g.put(alice, name, v, time.Time{})
	}
	g.put(alice, "will", canary+"-will", f.clock.Now().Add(time.Hour))
	g.put(bob, "old", canary+"-old", time.Time{})
	g.put(bob, "old", canary+"-new", time.Time{})
	g.put(bob, "gone", canary+"-gone", time.Time{})
	f.must(bob.id, groupwire.Request{Op: groupwire.OpRemove, Group: "smiths", Name: "gone"})
	var errs []error
	for name, v := range values {
		if got, err := g.get(carol.id, name, nil); err != nil || got != v {
			t.Fatalf("reading %s: %v", name, err)
		}
	}
	_, err := g.get(carol.id, "will", nil)
	statusIs(t, "a time-locked read", err, wire.Forbidden)
	errs = append(errs, err)
	_, err = f.do(alice.id, groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "bad//name", Value: []byte(canary)})
	errs = append(errs, err)

	// what the operator could use: the key K shares recover, the shares
	c, err := group.ParseCommitments(g.info(alice).Commitments)
	if err != nil {
		t.Fatal(err)
	}
	var shares []*group.Share
	for _, a := range []*admin{alice, bob, carol} {
		shares = append(shares, g.share(a))
	}
	key, err := group.Recover(c, shares)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{"the canary": []byte(canary), "the group key": bytes.Clone(key.Bytes())}
	key.Wipe()
	for i, sh := range shares {
		enc := sh.Encode()
		secrets[fmt.Sprintf("share %d", i+1)] = bytes.Clone(enc[len(enc)-group.ScalarSize:]) // the value is the encoding's last field
		sh.Wipe()
	}

	f.must(alice.id, groupwire.Request{Op: groupwire.OpRelock, Group: "smiths"})
	for name := range values {
		_, err := g.get(carol.id, name, nil)
		statusIs(t, "a read after the re-lock", err, wire.Locked)
		errs = append(errs, err)
	}
	raw, _ := g.audit(alice)
	recs := verifyChain(t, f.key.ID(), "smiths", raw)
	if recs[len(recs)-1].Kind != "group.relock" {
		t.Fatalf("the chain ends with %s", recs[len(recs)-1].Kind)
	}
	f.s.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for _, err := range errs {
		noCanary(t, "an error", err)
	}
	for what, s := range secrets {
		for _, b := range append(raw, f.published()...) {
			if bytes.Contains(b, s) {
				t.Fatalf("an audit record holds %s", what)
			}
		}
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for what, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds %s", path, what)
			}
		}
		return nil
	})
	if err != nil || files < 3 {
		t.Fatalf("scanned %d files: %v", files, err)
	}
	// the sealed values are on disk: the scan looked at the right place
	if !dirHolds(t, dir, []byte("k/")) && !dirHolds(t, dir, []byte("smiths")) {
		t.Fatal("the store's files hold nothing of the group: the scan proves nothing")
	}
}

func dirHolds(t *testing.T, dir string, s []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, s) {
				found = true
			}
		}
		return nil
	})
	return found
}
