package backup

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// TestRestoreOntoAFreshMachine backs up a home with secrets, resources and
// mesh state, restores it into a folder that does not exist yet, and
// opens it as a node would: same peer ID, every secret and resource reads,
// the mesh state is there, the audit chain and the version index verify,
// and the store is the snapshot's but for the audit records the restore
// added.
func TestRestoreOntoAFreshMachine(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "correct horse")
	secrets := map[string][]byte{}
	for i := range 12 {
		name := fmt.Sprintf("provider-%02d/api-key", i)
		secrets[name] = secretValue(name, 0, 40+i*300)
		putSecret(t, src.v, name, secrets[name])
	}
	oauth := vault.Secret{Name: "google", Type: vault.TypeOAuthToken, Provider: "google", Value: []byte("ya29.access"), Refresh: []byte("1//refresh"), Scopes: []string{"calendar"}}
	if err := src.v.PutSecret(ctx, oauth, "t"); err != nil {
		t.Fatal(err)
	}
	resources := map[string][]byte{"calendar/work": []byte(`{"kind":"calendar"}`), "files/big": secretValue("big", 0, 200<<10)}
	for name, val := range resources {
		if err := src.v.Put(ctx, vault.NSResources, name, val, vault.AuditEntry{Actor: "t", Op: "resource.write", Target: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.v.DeleteSecret(ctx, "provider-03/api-key", "t"); err != nil {
		t.Fatal(err)
	}
	delete(secrets, "provider-03/api-key")
	mesh := map[string]string{"/mesh/profile/handle": "alice", "/mesh/contacts/bob": "12D3KooWBob", "/mesh/grants/issued/abc": `{"t":1}`}
	for k, v := range mesh {
		if err := src.st.Put(ctx, ds.NewKey(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := src.v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}

	file, info := backupBytes(t, src, 0)
	before := dump(t, src.st)

	dst := freshDst(t)
	got, err := Restore(ctx, bytes.NewReader(file), dst, src.password)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got.PeerID != src.key.ID() || got.ID != info.ID || !bytes.Equal(got.VaultID, src.v.ID()) {
		t.Fatalf("restored %s / %s / %x, want %s / %s / %x", got.PeerID, got.ID, got.VaultID, src.key.ID(), info.ID, src.v.ID())
	}
	if got.Secrets != len(secrets)+1 || got.Resources != len(resources) || got.Records != len(secrets)+1+len(resources) {
		t.Fatalf("restored %d secrets, %d resources, %d records verified", got.Secrets, got.Resources, got.Records)
	}
	if len(got.Problems) != 0 || got.AuditCheck != vault.CheckedKeyed || got.Entries != info.Entries {
		t.Fatalf("restore checks: %+v", got)
	}

	k, st, v := openRestored(t, dst, src.password)
	if k.ID() != src.key.ID() {
		t.Fatalf("restored peer ID %s, want %s", k.ID(), src.key.ID())
	}
	for name, want := range secrets {
		s, err := v.GetSecret(ctx, name, "t")
		if err != nil || !bytes.Equal(s.Value, want) {
			t.Fatalf("secret %s: %v", name, err)
		}
	}
	if s, err := v.GetSecret(ctx, "google", "t"); err != nil || string(s.Refresh) != "1//refresh" || s.Scopes[0] != "calendar" {
		t.Fatalf("oauth secret: %+v, %v", s, err)
	}
	if _, err := v.GetSecret(ctx, "provider-03/api-key", "t"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the deleted secret came back: %v", err)
	}
	for name, want := range resources {
		b, err := v.Get(ctx, vault.NSResources, name, vault.AuditEntry{Actor: "t", Op: "resource.read"})
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("resource %s: %v", name, err)
		}
	}
	recs, check, err := v.VerifyAudit(ctx)
	if err != nil || check != vault.CheckedKeyed {
		t.Fatalf("the restored audit chain: %v (%v)", err, check)
	}
	// The backup ends at record info.AuditSeq; the restore appended an
	// unlock and its vault.restore record right after it.
	r := recs[info.AuditSeq+1]
	if recs[info.AuditSeq].Op != vault.OpUnlock || r.Op != vault.OpRestore || r.Target != info.ID || r.Outcome != vault.OutcomeOK || !strings.Contains(r.Detail, "restored from backup "+info.ID) {
		t.Fatalf("records after the backup's: %+v / %+v", recs[info.AuditSeq], r)
	}
	for _, r := range recs {
		if r.Op == vault.OpBackup && r.Target == info.ID {
			t.Fatal("the backup holds its own vault.backup record")
		}
	}
	live, _, _ := src.v.VerifyAudit(ctx)
	if b := live[info.AuditSeq]; b.Op != vault.OpBackup || b.Target != info.ID || !strings.Contains(b.Detail, fmt.Sprintf("1–%d", info.AuditSeq)) {
		t.Fatalf("the live vault's record after the snapshot: %+v", b)
	}

	// The store is the snapshot's, byte for byte, but for the audit
	// records after the snapshot and the head.
	after := dump(t, st)
	for _, m := range []map[string]string{before, after} {
		delete(m, "/meta/audit-head")
		for k := range m {
			if seq, ok := strings.CutPrefix(k, "/audit/"); ok {
				if n, _ := strconv.ParseUint(seq, 16, 64); n > info.AuditSeq {
					delete(m, k)
				}
			}
		}
	}
	if len(before) != len(after) {
		t.Fatalf("%d keys in the source, %d restored", len(before), len(after))
	}
	for k, want := range before {
		if after[k] != want {
			t.Fatalf("%s differs after the restore", k)
		}
	}
	for k, want := range mesh {
		if after[k] != want {
			t.Fatalf("mesh state %s = %q", k, after[k])
		}
	}
	if left := entriesOf(t, filepath.Dir(string(dst))); !slices.Equal(left, []string{"home"}) {
		t.Fatalf("beside the restored home: %v", left)
	}
	if st, err := os.Stat(string(dst)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the restored home's mode: %v, %v", st, err)
	}
}

// gatedWriter holds the backup's first write until open is closed: the
// snapshot is taken, and the test writes to the store, before a byte of
// the backup leaves.
type gatedWriter struct {
	open chan struct{}
	buf  bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.buf.Write(p)
}

// TestBackupWhileWritesGoOn backs up a home while a goroutine keeps
// writing secrets to the same store, through the same vault. The backup is
// one instant of the store: it holds a prefix of the writes (w-0..w-k and
// none after), every one at the version of that instant, and its audit
// chain and version index verify after the restore.
func TestBackupWhileWritesGoOn(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "pw")
	for i := range 200 { // some bulk, so the stream takes many chunks
		putSecret(t, src.v, fmt.Sprintf("bulk-%03d", i), secretValue("bulk", i, 8<<10))
	}
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("w-%05d", i)
			if err := src.v.PutSecret(ctx, vault.Secret{Name: name, Type: vault.TypeNote, Value: secretValue(name, 0, 512)}, "writer"); err != nil {
				t.Error(err)
				return
			}
			// Overwrite an earlier one too: its version moves on.
			if i > 0 {
				old := fmt.Sprintf("w-%05d", i-1)
				if err := src.v.PutSecret(ctx, vault.Secret{Name: old, Type: vault.TypeNote, Value: secretValue(old, 1, 512)}, "writer"); err != nil {
					t.Error(err)
					return
				}
			}
			written.Add(1)
		}
	})
	testkit.Eventually(t, 20*time.Second, func() bool { return written.Load() >= 5 }, "writes before the backup")

	gw := &gatedWriter{open: make(chan struct{})}
	done := make(chan error, 1)
	var info Info
	go func() {
		src := src.source()
		src.chunkLog = 12
		var err error
		info, err = Write(ctx, gw, src)
		done <- err
	}()
	// The backup's vault.backup record is written after its snapshot;
	// wait for it, then for more writes before letting the backup out.
	testkit.Eventually(t, 20*time.Second, func() bool {
		recs, _ := vault.ReadAudit(ctx, src.st)
		return slices.ContainsFunc(recs, func(r vault.AuditRecord) bool { return r.Op == vault.OpBackup })
	}, "the backup's snapshot")
	atSnapshot := written.Load()
	testkit.Eventually(t, 20*time.Second, func() bool { return written.Load() >= atSnapshot+10 }, "writes after the snapshot")
	close(gw.open)
	if err := testkit.Within(t, 60*time.Second, done, "the backup"); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	total := written.Load()

	dst := freshDst(t)
	got, err := Restore(ctx, bytes.NewReader(gw.buf.Bytes()), dst, src.password)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Problems) != 0 {
		t.Fatalf("the restored vault: %v", got.Problems)
	}
	_, _, v := openRestored(t, dst, src.password)
	if _, _, err := v.VerifyAudit(ctx); err != nil {
		t.Fatalf("the restored audit chain: %v", err)
	}
	names, err := v.List(ctx, vault.NSSecrets)
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	for _, n := range names {
		if strings.HasPrefix(n, "w-") {
			ws = append(ws, n)
		}
	}
	k := len(ws)
	if k < 5 || int64(k) >= total {
		t.Fatalf("the backup holds %d of the %d writes; want at least the 5 before it and not the ones after", k, total)
	}
	for i, n := range ws {
		if n != fmt.Sprintf("w-%05d", i) {
			t.Fatalf("the backup holds %s but not every write before it: not one instant", n)
		}
		s, err := v.GetSecret(ctx, n, "t")
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		// w-i is written (version 0), then w-(i-1) overwritten (version
		// 1). At one instant the last is at 0, the one before it at 0 or
		// 1, and only at 0 between those two writes; the rest are at 1.
		v0, v1 := bytes.Equal(s.Value, secretValue(n, 0, 512)), bytes.Equal(s.Value, secretValue(n, 1, 512))
		var ok bool
		switch i {
		case k - 1:
			ok = v0
		case k - 2:
			ok = v0 || v1
		default:
			ok = v1
		}
		if !ok {
			t.Fatalf("%s (%d of %d) holds a value the store never had at one instant", n, i, k)
		}
	}
	t.Logf("%d writes before the snapshot, %d in the backup, %d in all; backup %s of %d bytes", atSnapshot, k, total, info.ID, info.Size)
}

// TestRestoreRefusesALiveHome: a folder with an identity, a folder with a
// store, and a folder whose lock is held are refused, and left as they
// were.
func TestRestoreRefusesALiveHome(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "pw")
	file, _ := backupBytes(t, src, 0)

	withIdentity := home.Home(t.TempDir())
	writeIdentityFile(t, withIdentity, testkit.Key(t, "carol"))
	withStore := home.Home(t.TempDir())
	os.MkdirAll(withStore.StorePath(), 0o700)
	locked := home.Home(t.TempDir())
	lock, err := home.Lock(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()

	for name, c := range map[string]struct {
		dst  home.Home
		want error
	}{
		"identity":    {withIdentity, ErrLiveHome},
		"store":       {withStore, ErrLiveHome},
		"locked":      {locked, home.ErrAlreadyRunning},
		"source home": {src.h, ErrLiveHome},
	} {
		t.Run(name, func(t *testing.T) {
			was := entriesOf(t, string(c.dst))
			_, err := Restore(ctx, bytes.NewReader(file), c.dst, src.password)
			if !errors.Is(err, c.want) {
				t.Fatalf("Restore into a folder with a %s: %v, want %v", name, err, c.want)
			}
			if now := entriesOf(t, string(c.dst)); !slices.Equal(was, now) {
				t.Fatalf("the folder changed: %v → %v", was, now)
			}
		})
	}
	// The source home is intact and still opens.
	if _, err := src.v.GetSecret(ctx, "nothing", "t"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal(err)
	}
}

// TestRestoreIntoAnExistingEmptyFolder: a folder that exists (a mount
// point) is filled in place: the store, then the identity.
func TestRestoreIntoAnExistingEmptyFolder(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "pw")
	putSecret(t, src.v, "k", []byte("v"))
	file, _ := backupBytes(t, src, 0)
	dst := home.Home(t.TempDir())
	// What an interrupted restore into it left behind is removed.
	os.MkdirAll(filepath.Join(string(dst), ".restore-123", "store"), 0o700)
	if _, err := Restore(ctx, bytes.NewReader(file), dst, src.password); err != nil {
		t.Fatal(err)
	}
	if got := entriesOf(t, string(dst)); !slices.Equal(got, []string{"identity.key", "node.lock", "store"}) {
		t.Fatalf("the restored folder holds %v", got)
	}
	k, _, v := openRestored(t, dst, src.password)
	if s, err := v.GetSecret(ctx, "k", "t"); err != nil || string(s.Value) != "v" || k.ID() != src.key.ID() {
		t.Fatalf("%v, %v", s, err)
	}
}

// TestRestoreRemovesWhatACrashLeft: temporary folders of a restore that
// crashed are removed by the next one; one whose restore still runs (its
// lock held) is kept.
func TestRestoreRemovesWhatACrashLeft(t *testing.T) {
	src := newLiveHome(t, "alice", "pw")
	file, _ := backupBytes(t, src, 0)
	dst := freshDst(t)
	parent := filepath.Dir(string(dst))
	dead := home.Home(filepath.Join(parent, ".home.restore-dead"))
	running := home.Home(filepath.Join(parent, ".home.restore-running"))
	for _, h := range []home.Home{dead, running} {
		os.MkdirAll(h.StorePath(), 0o700)
		l, err := home.Lock(h)
		if err != nil {
			t.Fatal(err)
		}
		if h == running {
			defer l.Close()
		} else {
			l.Close()
		}
	}
	if _, err := Restore(context.Background(), bytes.NewReader(file), dst, src.password); err != nil {
		t.Fatal(err)
	}
	if got := entriesOf(t, parent); !slices.Equal(got, []string{".home.restore-running", "home"}) {
		t.Fatalf("beside the home: %v", got)
	}
}

// TestRestoreRefusesDamagedBackups: each damage is refused with its error,
// and nothing is left at the destination or beside it.
func TestRestoreRefusesDamagedBackups(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "shared password")
	for i := range 40 {
		putSecret(t, src.v, fmt.Sprintf("s-%02d", i), secretValue("s", i, 700))
	}
	file, _ := backupBytes(t, src, 10) // 1 KiB chunks: many of them
	hdr, cs := chunks(t, file)
	if len(cs) < 8 {
		t.Fatalf("only %d chunks", len(cs))
	}
	other := newLiveHome(t, "bob", "shared password")
	otherFile, _ := backupBytes(t, other, 10)
	otherHdr, _ := chunks(t, otherFile)
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x40; return b }
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	mid := len(cs) / 2
	created := 8 + 2 + 16 + 3 // a byte of the time
	// The password wrap ends the header: magic (8), kdf id, t u32, m u32, p, salt ...
	wrap := len(hdr) - 110
	wrapTime, wrapMem, wrapSalt := wrap+8+1+3, wrap+8+1+4, wrap+8+1+4+4+1+5

	for name, c := range map[string]struct {
		file     []byte
		password string
		want     error
	}{
		"wrong password":             {file, "wrong", vault.ErrBadPassword},
		"tampered header time":       {flip(file, created), "shared password", ErrAltered},
		"tampered wrap KDF":          {set(file, wrapTime, 3), "shared password", vault.ErrBadPassword},
		"tampered wrap salt":         {flip(file, wrapSalt), "shared password", vault.ErrBadPassword},
		"wrap KDF beyond the caps":   {set(file, wrapMem, 0xff), "shared password", ErrHeader},
		"tampered vault ID":          {flip(file, 12), "shared password", vault.ErrBadPassword},
		"flipped byte, first chunk":  {flip(file, len(hdr)+5), "shared password", ErrAltered},
		"flipped byte, middle chunk": {join(hdr, slices.Concat(cs[:mid], [][]byte{flip(cs[mid], 100)}, cs[mid+1:])...), "shared password", ErrAltered},
		"flipped byte, last chunk":   {flip(file, len(file)-1), "shared password", ErrAltered},
		"truncated at a chunk":       {join(hdr, cs[:mid]...), "shared password", ErrTruncated},
		"last chunk dropped":         {join(hdr, cs[:len(cs)-1]...), "shared password", ErrTruncated},
		"truncated inside a chunk":   {file[:len(hdr)+mid*(1024+16)+500], "shared password", ErrAltered},
		"truncated inside header":    {file[:len(hdr)-3], "shared password", ErrTruncated},
		"header only":                {hdr, "shared password", ErrTruncated},
		"reordered chunks":           {join(hdr, slices.Concat(cs[:mid], [][]byte{cs[mid+1], cs[mid]}, cs[mid+2:])...), "shared password", ErrAltered},
		"a chunk repeated":           {join(hdr, slices.Concat(cs[:mid+1], cs[mid:])...), "shared password", ErrAltered},
		"data appended":              {append(bytes.Clone(file), cs[1]...), "shared password", ErrAltered},
		"another vault's file":       {otherFile, "pw of alice", vault.ErrBadPassword},
		"another vault's header":     {join(otherHdr, cs...), "shared password", ErrAltered},
		"not a backup":               {[]byte("hello, this is not a backup at all"), "shared password", ErrNotBackup},
		"empty":                      {nil, "shared password", ErrNotBackup},
		"future version":             {flip(file, 7), "shared password", ErrVersion},
	} {
		t.Run(name, func(t *testing.T) {
			dst := freshDst(t)
			_, err := Restore(ctx, bytes.NewReader(c.file), dst, []byte(c.password))
			if !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			t.Logf("%s: %v", name, err)
			if left := entriesOf(t, filepath.Dir(string(dst))); len(left) != 0 {
				t.Fatalf("left at the destination: %v", left)
			}
		})
	}
}

// TestBackupNeedsTheUnlockedVault: a locked vault gives no backup and
// writes nothing.
func TestBackupNeedsTheUnlockedVault(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "pw")
	if err := src.v.Lock(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Write(ctx, &buf, src.source()); !errors.Is(err, vault.ErrLocked) || buf.Len() != 0 {
		t.Fatalf("a backup of a locked vault: %v, %d bytes", err, buf.Len())
	}
}

// TestNothingReadableWithoutThePassword: the backup holds the secret
// values, the password, the peer key's seed, secret names and the mesh
// state in no form a reader without the password can see: raw, hex or
// base64 (every alignment).
func TestNothingReadableWithoutThePassword(t *testing.T) {
	ctx := context.Background()
	password := "PWCANARY-correct-horse-battery"
	src := newLiveHome(t, "alice", password)
	value := "SECRETCANARY-sk-0123456789abcdef"
	name := "NAMECANARY-stripe"
	putSecret(t, src.v, name, []byte(value))
	src.st.Put(ctx, ds.NewKey("/mesh/profile/handle"), []byte("HANDLECANARY"))
	src.st.Put(ctx, ds.NewKey("/mesh/contacts/CONTACTCANARY"), []byte("12D3KooWContact"))
	seed := src.key.Seed()
	file, _ := backupBytes(t, src, 0)

	var forms []string
	for _, c := range [][]byte{[]byte(password), []byte(value), []byte(name), []byte("HANDLECANARY"), []byte("CONTACTCANARY"), seed} {
		forms = append(forms, string(c), hex.EncodeToString(c), strings.ToUpper(hex.EncodeToString(c)))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for pad := range 3 {
				s := enc.EncodeToString(append(make([]byte, pad), c...))
				// Drop the characters that mix in the padding or what follows.
				forms = append(forms, s[(pad*4+2)/3+1:len(s)-4])
			}
		}
	}
	if f := hasAny(file, forms...); f != "" {
		t.Fatalf("the backup holds %q in the clear", short(f))
	}
	// What a reader without the password gets: the header's fields.
	h, err := Inspect(bytes.NewReader(file))
	if err != nil || !bytes.Equal(h.VaultID, src.v.ID()) || h.Size != int64(len(file)) || h.Wraps[0].Kind != "password" {
		t.Fatalf("Inspect: %+v, %v", h, err)
	}
}

// TestInspect reads the header and walks the chunks without the password.
func TestInspect(t *testing.T) {
	src := newLiveHome(t, "alice", "pw")
	src.clock.Set(time.Date(2026, 5, 4, 3, 2, 1, 999, time.UTC))
	file, info := backupBytes(t, src, 10)
	h, err := Inspect(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	_, cs := chunks(t, file)
	if h.ID != info.ID || !h.Created.Equal(time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)) || h.Chunks != int64(len(cs)) || h.ChunkSize != 1024 || h.Version != Version {
		t.Fatalf("Inspect: %s", h)
	}
	t.Log(h)
	if _, err := Inspect(bytes.NewReader(file[:h.HeaderSize])); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Inspect of the header alone: %v", err)
	}
}

// TestRestoreAfterThePasswordChanged: the backup opens with the password of
// its time, not a later one; the restored vault has the old password too.
func TestRestoreAfterThePasswordChanged(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "old")
	file, _ := backupBytes(t, src, 0)
	if err := src.v.ChangePassword(ctx, []byte("old"), []byte("new"), vault.TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, bytes.NewReader(file), freshDst(t), []byte("new")); !errors.Is(err, vault.ErrBadPassword) {
		t.Fatalf("with the later password: %v", err)
	}
	dst := freshDst(t)
	if _, err := Restore(ctx, bytes.NewReader(file), dst, []byte("old")); err != nil {
		t.Fatal(err)
	}
	openRestored(t, dst, []byte("old"))
}

// TestRestoreSkipsTheUnlockBackoff: failed unlocks just before the backup
// do not make the restore wait, and the restored counter is cleared.
func TestRestoreSkipsTheUnlockBackoff(t *testing.T) {
	ctx := context.Background()
	src := newLiveHome(t, "alice", "pw")
	// Nine wrong passwords, the last one now: the next unlock must wait.
	failures := binary.BigEndian.AppendUint32(nil, 9)
	failures = binary.BigEndian.AppendUint64(failures, uint64(time.Now().UnixNano()))
	if err := src.st.Put(ctx, ds.NewKey("/meta/failures"), failures); err != nil {
		t.Fatal(err)
	}
	file, _ := backupBytes(t, src, 0)
	dst := freshDst(t)
	if _, err := Restore(ctx, bytes.NewReader(file), dst, src.password); err != nil {
		t.Fatalf("restoring a backup taken during a backoff: %v", err)
	}
	_, st, _ := openRestored(t, dst, src.password)
	if ok, _ := st.Has(ctx, ds.NewKey("/meta/failures")); ok {
		t.Fatal("the failed-unlock count survived the restore")
	}
}

// cancelAfter cancels its context after n bytes went through.
type cancelAfter struct {
	buf    bytes.Buffer
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.buf.Len() >= c.n {
		c.cancel()
	}
	return c.buf.Write(p)
}

// TestCancelledBackupDoesNotRestore: cancelling stops Write, and what it
// wrote so far is refused as cut short, not restored as a smaller home.
func TestCancelledBackupDoesNotRestore(t *testing.T) {
	src := newLiveHome(t, "alice", "pw")
	for i := range 600 {
		src.st.Put(context.Background(), ds.NewKey(fmt.Sprintf("/mesh/dht/k%04d", i)), secretValue("k", i, 2000))
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{n: 200 << 10, cancel: cancel}
	s := src.source()
	s.chunkLog = 12
	if _, err := Write(ctx, w, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled backup: %v", err)
	}
	_, err := Restore(context.Background(), bytes.NewReader(w.buf.Bytes()), freshDst(t), src.password)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("restoring a cancelled backup: %v, want ErrTruncated", err)
	}
}
