// Package demo runs the whole mesh in one process on loopback and walks
// through the mission step by step: `mesh demo`, the first thing a new user
// runs.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// Options configure a demo run.
type Options struct {
	// Dir holds the demo's home folders. Default: a new temporary folder,
	// removed afterwards.
	Dir string
	// KDF for the demo vaults. Default vault.DefaultKDF() (the real cost).
	KDF vault.KDFParams
	// Logger receives the nodes' operational logs. Default: discard.
	Logger *slog.Logger
	// Mesh is the mesh binary the relay runs to wake alice's node (its
	// wake hook). Default: this program (os.Executable), which is mesh
	// when run as mesh demo.
	Mesh string
	// UIStay keeps the demo's mesh running after the steps, with alice's
	// web UI served, until ctx ends (mesh demo --ui-stay).
	UIStay bool
}

// alicePassword is alice's vault password in the demo (printed, so that
// the demo's web UI can be tried).
const alicePassword = "alice's long passphrase"

// ErrFailed means at least one step failed.
var ErrFailed = errors.New("demo: some steps failed")

type run struct {
	w      io.Writer
	failed int
	start  time.Time
}

func (r *run) say(format string, args ...any) { fmt.Fprintf(r.w, "\n"+format+"\n", args...) }

// step prints ✓ or ✗ with what happened.
func (r *run) step(what string, err error) bool {
	if err != nil {
		r.failed++
		fmt.Fprintf(r.w, "  ✗ %s: %v\n", what, err)
		return false
	}
	fmt.Fprintf(r.w, "  ✓ %s\n", what)
	return true
}

func (r *run) check(what string, ok bool, why string) bool {
	if !ok {
		return r.step(what, errors.New(why))
	}
	return r.step(what, nil)
}

// Run runs the demo, narrating to w. It returns ErrFailed if any step failed.
func Run(ctx context.Context, w io.Writer, opts Options) error {
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "mesh-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		opts.Dir = d
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.KDF == (vault.KDFParams{}) {
		opts.KDF = vault.DefaultKDF()
	}
	r := &run{w: w, start: time.Now()}
	err := r.mission(ctx, opts)
	if err != nil {
		r.step("the demo stopped early", err)
	}
	fmt.Fprintf(w, "\n%s in %.1fs\n", map[bool]string{true: "All steps passed", false: fmt.Sprintf("%d step(s) failed", r.failed)}[r.failed == 0], time.Since(r.start).Seconds())
	if r.failed > 0 {
		return ErrFailed
	}
	return nil
}

func (r *run) mission(ctx context.Context, opts Options) error {
	home := func(name string) node.Home { return node.Home(opts.Dir + "/" + name) }
	loop := []string{"/ip4/127.0.0.1/tcp/0"}

	r.say("1. The management side shrinks to a bootstrap peer and a relay.")
	var bootTap, relayTap *testmesh.TapHost
	boot, err := infra.StartBootstrap(ctx, infra.Config{Home: home("bootstrap"), Listen: loop,
		WrapHost: func(h host.Host) host.Host { bootTap = testmesh.NewTapHost(h); return bootTap }})
	if !r.step("bootstrap peer up (directory, DHT, encrypted mailboxes): "+short(boot), err) {
		return err
	}
	defer boot.Close()
	if opts.Mesh == "" {
		if opts.Mesh, err = os.Executable(); err != nil {
			return err
		}
	}
	// The relay wakes a sleeping home by starting `mesh node` on it: a
	// real child process, with the config each home keeps in its folder.
	wakeCmd := fmt.Sprintf("%s --home %s/{handle} node --config %s/{handle}/node.yaml", opts.Mesh, opts.Dir, opts.Dir)
	rel, err := infra.StartRelay(ctx, infra.RelayConfig{
		Config: infra.Config{Home: home("relay"), Listen: loop,
			WrapHost: func(h host.Host) host.Host { relayTap = testmesh.NewTapHost(h); return relayTap }},
		Bootstrap: boot.Addrs(), Relay: relay.Config{AllowPrivateAddrs: true},
		CacheMaxBytes: demoCacheBytes, Wake: infra.WakeConfig{Exec: wakeCmd}})
	if !r.step("relay up (forwards encrypted streams for registered nodes only): "+short(rel), err) {
		return err
	}
	defer rel.Close()

	r.say("2. Alice and Bob each run a node that holds their own secrets. Both sit behind a\n   (simulated) NAT: neither accepts direct connections, so they meet through the relay.")
	start := func(name, pw string) (*node.Node, error) {
		if _, err := node.Init(ctx, home(name), node.InitOptions{Password: []byte(pw), KDF: opts.KDF, Handle: name}); err != nil {
			return nil, err
		}
		yaml := fmt.Sprintf("listen: [/ip4/127.0.0.1/tcp/0]\nbootstrap: [%s]\nrelays: [%s]\nfirewall: true\n", boot.Addrs()[0], rel.Addrs()[0])
		if err := os.WriteFile(string(home(name))+"/node.yaml", []byte(yaml), 0o600); err != nil {
			return nil, err
		}
		n, err := node.Start(ctx, node.Config{Home: home(name), Listen: loop, Bootstrap: boot.Addrs(), Logger: opts.Logger.With("node", name),
			Relays: []string{rel.Addrs()[0]}, Firewall: true, Timings: node.Timings{Mailbox: 500 * time.Millisecond}})
		if err != nil {
			return nil, err
		}
		if err := n.Unlock(ctx, []byte(pw)); err != nil {
			n.Close()
			return nil, err
		}
		return n, waitUntil(ctx, 20*time.Second, func() bool { st, _ := n.Status(ctx); return st.Relayed })
	}
	alice, err := start("alice", alicePassword)
	if !r.step("alice's node up, vault unlocked, handle \"alice\" claimed, relay slot reserved", err) {
		return err
	}
	defer alice.Close()
	bob, err := start("bob", "bob's long passphrase")
	if !r.step("bob's node up, vault unlocked, handle \"bob\" claimed, relay slot reserved", err) {
		return err
	}
	defer bob.Close()

	r.say("3. Alice stores her calendar and an API key. Both are sealed in her vault only.")
	calendar := "Mon 09:00 standup\nThu 16:00 dentist"
	apiKey := "sk-demo-" + fmt.Sprint(time.Now().UnixNano())
	r.step("alice: mesh put calendar/work", alice.PutResource(ctx, "calendar/work", []byte(calendar)))
	r.step("alice: mesh secret set openai --type api_key", alice.SecretSet(ctx, vault.Secret{Name: "openai", Type: vault.TypeAPIKey, Provider: "openai", Value: []byte(apiKey)}))

	r.say("4. Alice shares her calendar with Bob by saying who and what; no token handling.")
	res, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read,list", ValidFor: 24 * time.Hour})
	if r.step(fmt.Sprintf("alice: mesh share calendar/* --with bob  →  share %s, delivered %s", res.ID, res.Delivered), err) {
		gs, err := bob.Shared(ctx)
		if r.step("bob: mesh shared", err) && len(gs) == 1 {
			fmt.Fprintf(r.w, "      %s shared %s with you: %s, until %s\n", gs[0].OwnerHandle, gs[0].Resource, strings.Join(gs[0].Actions, ", "), gs[0].Expiry.Format(time.DateTime))
		}
	}

	r.say("5. Bob reads Alice's calendar. The stream is end-to-end encrypted through the relay.")
	t0 := time.Now()
	data, err := bob.Fetch(ctx, "alice/calendar/work")
	if r.step(fmt.Sprintf("bob: mesh get alice/calendar/work (%v)", time.Since(t0).Round(time.Millisecond)), err) {
		r.check("bob sees alice's calendar", string(data) == calendar, fmt.Sprintf("got %q", data))
		fmt.Fprintf(r.w, "      %s\n", strings.ReplaceAll(string(data), "\n", "\n      "))
	}
	relayed := len(bob.Host().Network().ConnsToPeer(alice.ID())) > 0
	for _, c := range bob.Host().Network().ConnsToPeer(alice.ID()) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
			relayed = false
		}
	}
	r.check("bob reached alice only through the relay circuit", relayed, "a direct connection exists")
	_, err = bob.Fetch(ctx, "alice/files/taxes")
	r.check("bob cannot read anything alice did not share", err != nil, "bob read an unshared path")

	var aliceAPI localapi.Backend = alice
	if woken, err := r.sleep(ctx, alice, bob, home("alice")); err == nil {
		defer woken.stop()
		aliceAPI = woken.api
	} else {
		r.step("the sleep and wake steps stopped", err)
	}

	r.say("7. Alice changes her mind and revokes the share. It is refused everywhere at once,\n   not \"valid for 2 more hours\".")
	t0 = time.Now()
	id, err := aliceAPI.Revoke(ctx, res.ID)
	if r.step("alice: mesh revoke "+res.ID, err) {
		_, err = bob.Fetch(ctx, "alice/calendar/work")
		refusedAfter := time.Since(t0)
		r.check(fmt.Sprintf("bob's next read is refused %v after the revoke: %v", refusedAfter.Round(time.Microsecond), err),
			errors.Is(err, capability.ErrRevoked), fmt.Sprintf("got %v", err))
		tid, _ := capability.ParseID(id)
		err = waitUntil(ctx, 10*time.Second, func() bool { return rel.IsRevoked(tid) && boot.IsRevoked(tid) && bob.IsRevoked(tid) })
		r.step(fmt.Sprintf("the relay, the bootstrap and bob's node all hold the signed revocation %v after the revoke (gossipsub)", time.Since(t0).Round(time.Millisecond)), err)
	}

	r.say("8. Zero knowledge: what did the relay and the bootstrap see?")
	secrets := [][]byte{[]byte("Thu 16:00 dentist"), []byte(apiKey), []byte("alice's long passphrase")}
	rb := relayTap.Rec.Bytes()
	r.check(fmt.Sprintf("the relay forwarded %d bytes on %d streams: no plaintext, secret or password in them", len(rb), relayTap.Rec.Streams()),
		len(rb) > 0 && testmesh.Find(rb, secrets...) == nil, "plaintext found in relayed bytes")
	bb := bootTap.Rec.Bytes()
	r.check(fmt.Sprintf("the bootstrap received %d bytes of metadata: no secret, password or plaintext", len(bb)),
		len(bb) > 0 && testmesh.Find(bb, secrets...) == nil, "secret found at the bootstrap")

	r.say("9. Every sensitive operation left an audit record on alice's node.")
	rep, err := aliceAPI.Audit(ctx)
	if r.step(fmt.Sprintf("alice: mesh audit  →  %d records, hash chain verified", len(rep.Records)), errors.Join(err, brokenErr(rep.Broken))) {
		for _, rec := range rep.Records[max(0, len(rep.Records)-5):] {
			fmt.Fprintf(r.w, "      %-18s %-8s %s %s\n", rec.Op, rec.Outcome, rec.Target, rec.Detail)
		}
	}

	if err := r.agents(ctx, aliceAPI, bob, home("alice"), opts.Dir); err != nil {
		r.step("the agent steps stopped", err)
	}
	if err := r.groups(ctx, aliceAPI, bob, boot, rel, opts.Dir, start); err != nil {
		r.step("the group vault steps stopped", err)
	}
	r.webUI(ctx, aliceAPI, opts)
	return nil
}

// webUI prints where alice's web UI is, and with UIStay serves it until
// ctx ends.
func (r *run) webUI(ctx context.Context, alice localapi.Backend, opts Options) {
	st, err := alice.Status(ctx)
	if err != nil || st.UI == "" {
		r.step("alice's web UI", errors.Join(err, errors.New("not served")))
		return
	}
	r.say("12. Alice's node serves her a web page: open %s and unlock with her password %q.", st.UI, alicePassword)
	if !opts.UIStay {
		fmt.Fprintln(r.w, "   (mesh demo --ui-stay keeps it running until Ctrl-C)")
		return
	}
	fmt.Fprintln(r.w, "   Serving until Ctrl-C.")
	<-ctx.Done()
}

func brokenErr(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

func short(in *infra.Peer) string {
	if in == nil {
		return ""
	}
	return in.Host.ID().String()[:16] + "…"
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
