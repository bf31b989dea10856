package socialrecovery

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/backup"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/recoverywire"
	"github.com/ocmt/mesh/vault"
)

// ErrNotYet: fewer friends than the threshold have released their share
// so far (they have not approved, or the waiting period runs). Running
// the device again later continues where it stopped.
var ErrNotYet = errors.New("not enough friends have released their share yet")

// The recovering device's files in the new home folder (doc.go
// "Device"); both are removed once the vault is restored.
const (
	DeviceKeyFile   = "recovery-device.key"
	DeviceStateFile = "recovery-request.json"
	devicePEMType   = "OCMT MESH RECOVERY DEVICE KEY"
)

// DeviceConfig is a recovering device's run (mesh recover --social).
type DeviceConfig struct {
	// Home is the new home folder: the device keeps its key and its
	// request there, and the vault is restored into it.
	Home home.Home
	// Handle, when set, must be the owner's handle the backup names.
	Handle string
	// Backup is a mesh backup of the owner's vault, taken after social
	// recovery was enabled: its header carries the friends and their
	// commitments, and it is what is restored.
	Backup string
	// Bootstrap and Relays are the mesh's infrastructure.
	Bootstrap, Relays []peer.AddrInfo
	// Listen are the device host's addresses (default an ephemeral TCP
	// port on every interface).
	Listen []string
	// WaitFor keeps asking until the key opens or this passes; zero asks
	// once.
	WaitFor time.Duration
	// Poll is the pause between two rounds (default 5 s).
	Poll time.Duration
	// NewPassword gives the restored vault's password; it is called once
	// the key opens.
	NewPassword func() ([]byte, error)
	// KDF is the new password's (vault.DefaultKDF() when zero).
	KDF vault.KDFParams
	// Out receives progress lines for the person (default discard).
	Out io.Writer
	// Timings are the mesh connection's (tests shrink them).
	Timings meshnet.Timings
	// Now is the clock (default time.Now); Logger default discard.
	Now    func() time.Time
	Logger *slog.Logger
	// KeyHook, when set, sees the recovery key before the restore (tests
	// scan stores for it; never set it otherwise).
	KeyHook func(key *[32]byte)
}

// FriendState is where the request stands at one friend.
type FriendState struct {
	Handle string
	Peer   peer.ID
	// State is the friend's answer (zero when it could not be asked).
	State recoverywire.State
	Until time.Time
	// Problem says why the friend could not be asked or its release was
	// refused.
	Problem string
}

// DeviceResult is what a run did.
type DeviceResult struct {
	Owner     peer.ID
	Handle    string
	RequestID [32]byte
	Code      string
	// Have is how many friends' shares the device holds; Need the
	// threshold.
	Have, Need int
	Friends    []FriendState
	// Restored is set once the vault is restored into Home.
	Restored *backup.RestoreInfo
	// Elapsed is the run's time; Rounds how many rounds it took;
	// LastRound the last round's time, with the restore when it opened
	// the key (the time to recover once the waiting period is over).
	Elapsed, LastRound time.Duration
	Rounds             int
}

// deviceState is DeviceStateFile.
type deviceState struct {
	Request     []byte   `json:"request"`
	Mailed      []string `json:"mailed,omitempty"` // friends the request was mailed to
	OwnerMailed bool     `json:"owner_mailed,omitempty"`
}

// RecoverDevice runs the recovering device: it asks the friends the
// backup names to help (live, else by mail), tells the owner's old node,
// collects their releases, and once Need of them released, restores the
// backup into Home with the new password and tells every friend. Without
// enough releases it returns ErrNotYet with the friends' states.
func RecoverDevice(ctx context.Context, cfg DeviceConfig) (*DeviceResult, error) {
	start := time.Now()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"/ip4/0.0.0.0/tcp/0"}
	}
	if cfg.KDF == (vault.KDFParams{}) {
		cfg.KDF = vault.DefaultKDF()
	}
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("social recovery needs the mesh: give --bootstrap")
	}
	meta, err := backupMeta(cfg.Backup)
	if err != nil {
		return nil, err
	}
	m, c, err := recovery.ParseSocialMeta(meta)
	if err != nil {
		return nil, err
	}
	owner, _, _ := keys.ParsePeerID(m.Owner)
	if cfg.Handle != "" && m.OwnerHandle != "" && cfg.Handle != m.OwnerHandle {
		return nil, fmt.Errorf("this backup is %s's vault, not %s's", m.OwnerHandle, cfg.Handle)
	}
	if _, err := os.Lstat(cfg.Home.IdentityPath()); err == nil {
		return nil, fmt.Errorf("%s already holds a mesh identity: recover into a new folder (--home)", cfg.Home)
	}
	if err := os.MkdirAll(string(cfg.Home), 0o700); err != nil {
		return nil, err
	}
	dev, err := deviceKey(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer dev.Wipe()
	st, req, err := deviceRequest(cfg, &dev, owner, m.OwnerHandle)
	if err != nil {
		return nil, err
	}
	res := &DeviceResult{Owner: owner, Handle: m.OwnerHandle, RequestID: req.ID, Code: req.Code(), Need: c.Threshold}
	fmt.Fprintf(cfg.Out, "Recovering %s's vault from this device (%s).\nRead this code to each friend who helps: %s\n", m.OwnerHandle, dev.ID(), res.Code)

	h, err := p2phost.New(dev.Libp2pPrivKey(), cfg.Listen)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	net, err := meshnet.Start(ctx, meshnet.Config{Host: h, Bootstrap: cfg.Bootstrap, Relays: cfg.Relays, Logger: cfg.Logger, Now: cfg.Now, Timings: cfg.Timings})
	if err != nil {
		return nil, err
	}
	defer net.Close()

	col, err := recovery.NewCollector(meta, &dev, req.ID)
	if err != nil {
		return nil, err
	}
	defer col.Wipe()
	friends, handles := col.Friends()
	d := &device{cfg: cfg, h: h, net: net, st: st, req: req, friends: friends, handles: handles, owner: owner, got: map[peer.ID]bool{}}
	deadline := time.Now().Add(cfg.WaitFor)
	var roundStart time.Time
	for {
		res.Rounds++
		roundStart = time.Now()
		res.Friends = d.round(ctx, col)
		res.Have = col.Have()
		if res.Have >= res.Need || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if err := d.save(); err != nil {
		return res, err
	}
	if res.Have < res.Need {
		res.Elapsed, res.LastRound = time.Since(start), time.Since(roundStart)
		return res, fmt.Errorf("%w: %d of the %d friends needed (%s); run the same command again later", ErrNotYet, res.Have, res.Need, summary(res.Friends))
	}
	key, err := col.Key()
	if err != nil {
		return res, err
	}
	defer clear(key[:])
	if cfg.KeyHook != nil {
		cfg.KeyHook(key)
	}
	if cfg.NewPassword == nil {
		return res, errors.New("no new password given")
	}
	pw, err := cfg.NewPassword()
	if err != nil {
		return res, err
	}
	defer clear(pw)
	f, err := os.Open(cfg.Backup)
	if err != nil {
		return res, err
	}
	info, err := backup.RestoreRecovering(ctx, f, cfg.Home, backup.Recovering{Method: recovery.Social, Key: key, NewPassword: pw, KDF: cfg.KDF})
	f.Close()
	if err != nil {
		return res, err
	}
	res.Restored = &info
	fmt.Fprintf(cfg.Out, "%d friends released their share: %s's vault is restored into %s with the new password.\n", res.Have, m.OwnerHandle, cfg.Home)
	d.tellDone(ctx)
	os.Remove(filepath.Join(string(cfg.Home), DeviceKeyFile))
	os.Remove(filepath.Join(string(cfg.Home), DeviceStateFile))
	res.Elapsed, res.LastRound = time.Since(start), time.Since(roundStart)
	return res, nil
}

// backupMeta reads the social method's meta from a backup's header.
func backupMeta(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("give the backup of your vault (--backup FILE, made by mesh backup): it names your friends and is what is restored")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hdr, err := backup.Inspect(f)
	if err != nil {
		return nil, err
	}
	meta, err := vault.RecoveryMeta(hdr.Wraps, recovery.Social)
	if err != nil {
		return nil, fmt.Errorf("this backup has no social recovery (take a backup after mesh recovery social): %w", err)
	}
	return meta, nil
}

// deviceKey loads or creates the device's key in home.
func deviceKey(h home.Home) (keys.PeerKey, error) {
	path := filepath.Join(string(h), DeviceKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil || block.Type != devicePEMType {
			return keys.PeerKey{}, fmt.Errorf("%s is not a recovery device key", path)
		}
		return keys.PeerKeyFromSeed(block.Bytes)
	} else if !errors.Is(err, os.ErrNotExist) {
		return keys.PeerKey{}, err
	}
	k := keys.GeneratePeerKey()
	seed := k.Seed()
	defer clear(seed)
	if err := home.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: devicePEMType, Bytes: seed}), 0o600); err != nil {
		return keys.PeerKey{}, err
	}
	return k, nil
}

// deviceRequest loads the request this device made, or signs a new one
// when there is none or it is about to go stale.
func deviceRequest(cfg DeviceConfig, dev *keys.PeerKey, owner peer.ID, handle string) (*deviceState, *recovery.Request, error) {
	path := filepath.Join(string(cfg.Home), DeviceStateFile)
	now := cfg.Now()
	var st deviceState
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &st) == nil {
		if o, err := recovery.Open(st.Request); err == nil && o.Signer == dev.ID() {
			if r, err := recovery.CheckRequest(o, now); err == nil && r.Owner == owner && now.Sub(r.Time) < recovery.MaxRequestAge-time.Hour {
				return &st, r, nil
			}
		}
	}
	msg, err := recovery.NewRequest(dev, owner, handle, now)
	if err != nil {
		return nil, nil, err
	}
	st = deviceState{Request: msg}
	o, err := recovery.Open(msg)
	if err != nil {
		return nil, nil, err
	}
	r, err := recovery.CheckRequest(o, now)
	if err != nil {
		return nil, nil, err
	}
	b, _ := json.Marshal(st)
	return &st, r, home.WriteFileAtomic(path, b, 0o600)
}

type device struct {
	cfg     DeviceConfig
	h       host.Host
	net     *meshnet.Net
	st      *deviceState
	req     *recovery.Request
	friends []peer.ID
	handles []string
	owner   peer.ID
	got     map[peer.ID]bool
	mu      sync.Mutex
}

func (d *device) save() error {
	b, err := json.Marshal(d.st)
	if err != nil {
		return err
	}
	return home.WriteFileAtomic(filepath.Join(string(d.cfg.Home), DeviceStateFile), b, 0o600)
}

// round asks every friend whose share is not held yet, at once, and adds
// the releases that came.
func (d *device) round(ctx context.Context, col *recovery.Collector) []FriendState {
	out := make([]FriendState, len(d.friends))
	rels := make([][]byte, len(d.friends))
	var wg sync.WaitGroup
	for i, f := range d.friends {
		out[i] = FriendState{Handle: d.handles[i], Peer: f}
		if d.got[f] {
			out[i].State = recoverywire.StateReleased
			continue
		}
		wg.Go(func() { rels[i] = d.ask(ctx, &out[i]) })
	}
	if !d.st.OwnerMailed {
		wg.Go(func() {
			if PutMail(ctx, d.h, d.net, d.owner, recoverywire.Mail{Message: d.st.Request}) == nil {
				d.mu.Lock()
				d.st.OwnerMailed = true
				d.mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, rel := range rels {
		if rel == nil {
			continue
		}
		o, err := recovery.Open(rel)
		if err == nil {
			err = col.Add(o)
		}
		if err != nil {
			out[i].State, out[i].Problem = 0, "its release is refused: "+err.Error()
			fmt.Fprintf(d.cfg.Out, "  %s: %s\n", out[i].Handle, out[i].Problem)
			continue
		}
		d.got[d.friends[i]] = true
		fmt.Fprintf(d.cfg.Out, "  %s released a share (%d of %d)\n", out[i].Handle, col.Have(), col.Threshold())
	}
	return out
}

// ask fetches one friend's release, delivering the request first if the
// friend does not hold it; a friend out of reach gets it by mail, once.
func (d *device) ask(ctx context.Context, fs *FriendState) []byte {
	actx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	st, err := d.fetch(actx, fs)
	var we *wire.Error
	if errors.As(err, &we) && we.Status == wire.NotFound {
		if st, err = Live(actx, d.h, d.net, fs.Peer, fs.Handle, d.st.Request); err == nil {
			fmt.Fprintf(d.cfg.Out, "  %s received the request\n", fs.Handle)
		}
	}
	if err != nil {
		d.cfg.Logger.Debug("a friend could not be asked", "friend", fs.Handle, "err", err)
		fs.Problem = "not reachable now"
		if errors.As(err, &we) {
			fs.Problem = "refused: " + we.Message
		}
		d.mu.Lock()
		mailed := slices.Contains(d.st.Mailed, fs.Peer.String())
		d.mu.Unlock()
		if !mailed && PutMail(ctx, d.h, d.net, fs.Peer, recoverywire.Mail{Message: d.st.Request}) == nil {
			d.mu.Lock()
			d.st.Mailed = append(d.st.Mailed, fs.Peer.String())
			d.mu.Unlock()
			fs.Problem += "; the request was left in its mailbox"
		}
		return nil
	}
	fs.State, fs.Until = st.State, st.UntilTime()
	if st.State == recoverywire.StateReleased {
		return st.Release
	}
	return nil
}

func (d *device) fetch(ctx context.Context, fs *FriendState) (*recoverywire.Status, error) {
	var st *recoverywire.Status
	err := Call(ctx, d.net, fs.Peer, fs.Handle, func(ctx context.Context) (err error) {
		st, err = recoverywire.Fetch(ctx, d.h, fs.Peer, d.req.ID)
		return err
	})
	return st, err
}

// tellDone tells every friend the device recovered: live, else by mail.
func (d *device) tellDone(ctx context.Context) {
	var wg sync.WaitGroup
	for i, f := range d.friends {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, liveTimeout)
			defer cancel()
			if Call(actx, d.net, f, d.handles[i], func(ctx context.Context) error {
				_, err := recoverywire.Done(ctx, d.h, f, d.req.ID)
				return err
			}) == nil {
				return
			}
			PutMail(ctx, d.h, d.net, f, recoverywire.Mail{Done: d.req.ID[:]})
		})
	}
	wg.Wait()
}

// summary says where each friend stands, in a line.
func summary(fs []FriendState) string {
	var parts []string
	for _, f := range fs {
		switch {
		case f.State == recoverywire.StateHelping:
			parts = append(parts, fmt.Sprintf("%s: approved, released at %s (in %s)", f.Handle, f.Until.Local().Format(time.DateTime),
				duration.Format(time.Until(f.Until).Round(time.Second))))
		case f.State != 0:
			parts = append(parts, f.Handle+": "+f.State.String())
		default:
			parts = append(parts, f.Handle+": "+f.Problem)
		}
	}
	return strings.Join(parts, "; ")
}
