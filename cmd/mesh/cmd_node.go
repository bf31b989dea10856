package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ocmt/mesh/internal/agenthost"
	"github.com/ocmt/mesh/internal/hibernate"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/web"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newNodeCmd(g *globals) *cobra.Command {
	var flags nodeFile
	var configPath string
	var lockAfter, hibernateAfter, resumeWindow, recoveryMinWait time.Duration
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run the home node (libp2p host and local API) until interrupted",
		Long: `Run this folder's home node until interrupted: it joins the mesh through
its bootstrap peers, holds a relay reservation so others can reach it,
serves what you shared to those you shared it with, and serves the local
API (DIR/api.sock) every other mesh command uses while it runs. It starts
with the vault locked: run mesh unlock.

Flags override the config file (--config, see configs/node.yaml, which has
a field for every flag).

--hibernate-after D makes the node hibernate once nothing used it for D:
it pushes its pending snapshots, tells its relays, and exits. A relay
configured to (mesh relay --wake-exec) starts it again when someone with
a share asks for it; mesh get shows "waking alice…". A node that
hibernated unlocked comes back unlocked within --resume-window (12h):
its master key waits in the home wrapped under a key split in two, one
half in the home and one at the relay, sealed to this node; mesh lock
ends the window.

The vault locks itself when nothing used it for --lock-after (default 30m;
0 never): no command that needed it (secrets, resources, sharing, signing)
and no request served to someone you shared with. mesh audit shows it as
vault.lock by "auto-lock (idle)".

--metrics ADDR serves Prometheus metrics at http://ADDR/metrics (off by
default; use a loopback address such as 127.0.0.1:9464 unless a collector
elsewhere must reach it): share requests served and refused, shares
delivered and pending, relay reservation, revocation set size, vault
locked. Counts and states only, never a name, a path or a value.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			set := cmd.Flags().Changed
			if set("listen") {
				fc.Listen = flags.Listen
			}
			if set("bootstrap") {
				fc.Bootstrap = flags.Bootstrap
			}
			if set("relay") {
				fc.Relays = flags.Relays
			}
			if set("relay-token") {
				fc.RelayTokens = flags.RelayTokens
			}
			if set("handle") {
				fc.Handle = flags.Handle
			}
			if set("firewall") {
				fc.Firewall = flags.Firewall
			}
			if set("metrics") {
				fc.Metrics = flags.Metrics
			}
			if set("verbose") {
				fc.Verbose = flags.Verbose
			}
			if set("agent-socket-mode") || fc.AgentSocketMode == "" {
				fc.AgentSocketMode = flags.AgentSocketMode
			}
			if set("agent-socket-group") {
				fc.AgentSocketGroup = flags.AgentSocketGroup
			}
			if set("notify") {
				fc.Notify = flags.Notify
			}
			if set("ui") {
				fc.UI = flags.UI
			}
			if set("ui-cert") {
				fc.UICert = flags.UICert
			}
			if set("ui-key") {
				fc.UIKey = flags.UIKey
			}
			for _, f := range []struct {
				flag string
				dst  *string
				src  string
			}{{"drive-client-id", &fc.DriveClientID, flags.DriveClientID}, {"drive-client-secret-file", &fc.DriveClientSecretFile, flags.DriveClientSecretFile},
				{"drive-auth-url", &fc.DriveAuthURL, flags.DriveAuthURL}, {"drive-token-url", &fc.DriveTokenURL, flags.DriveTokenURL},
				{"ui-domain", &fc.UIDomain, flags.UIDomain}, {"agent-socket", &fc.AgentSocket, flags.AgentSocket}} {
				if set(f.flag) {
					*f.dst = f.src
				}
			}
			drive, err := driveOptions(fc)
			if err != nil {
				return err
			}
			if (fc.UICert == "") != (fc.UIKey == "") {
				return errors.New("--ui-cert and --ui-key go together")
			}
			mode, err := strconv.ParseUint(fc.AgentSocketMode, 8, 32)
			if err != nil {
				return fmt.Errorf("--agent-socket-mode %q is not an octal mode like 0600 or 0660", fc.AgentSocketMode)
			}
			if set("lock-after") || fc.LockAfter == nil {
				fc.LockAfter = (*yamlDuration)(&lockAfter)
			}
			if set("hibernate-after") {
				fc.HibernateAfter = yamlDuration(hibernateAfter)
			}
			if set("resume-window") || fc.ResumeWindow == nil {
				fc.ResumeWindow = (*yamlDuration)(&resumeWindow)
			}
			if set("recovery-min-wait") {
				fc.RecoveryMinWait = yamlDuration(recoveryMinWait)
			}
			level := slog.LevelWarn
			if fc.Verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			n, err := node.Start(cmd.Context(), node.Config{Home: g.Home(), Listen: fc.Listen, Logger: log,
				Bootstrap: fc.Bootstrap, Relays: fc.Relays, Handle: fc.Handle, Firewall: fc.Firewall, RelayTokens: fc.RelayTokens,
				LockAfter: nodeLockAfter(time.Duration(*fc.LockAfter)), MetricsAddr: fc.Metrics,
				HibernateAfter: time.Duration(fc.HibernateAfter), ResumeWindow: nodeLockAfter(time.Duration(*fc.ResumeWindow)),
				RecoveryMinWait: time.Duration(fc.RecoveryMinWait),
				Agents:          agenthost.Options{Socket: fc.AgentSocket, SocketMode: os.FileMode(mode), SocketGroup: fc.AgentSocketGroup, NotifyURL: fc.Notify},
				UI:              web.Options{Addr: fc.UI, CertFile: fc.UICert, KeyFile: fc.UIKey, Drive: drive, Domain: fc.UIDomain}})
			if err != nil {
				return err
			}
			defer n.Close()
			out := cmd.OutOrStdout()
			st, _ := n.Status(cmd.Context())
			if st.Locked {
				fmt.Fprintf(out, "mesh node %s ready (vault locked; run `mesh unlock`)\n", n.ID())
			} else {
				fmt.Fprintf(out, "mesh node %s ready (woken: unlocked until the resume window ends)\n", n.ID())
			}
			for _, a := range n.Addrs() {
				fmt.Fprintf(out, "listening on %s\n", a)
			}
			fmt.Fprintf(out, "local API on %s\n", g.Home().SocketPath())
			fmt.Fprintf(out, "agent socket on %s\n", n.SocketPath())
			if st.UI != "" {
				fmt.Fprintf(out, "web UI on %s%s\n", st.UI, fingerprintWords(st.UIFingerprint))
			}
			if m := n.MetricsAddr(); m != "" {
				fmt.Fprintf(out, "metrics on http://%s/metrics\n", m)
			}
			select {
			case <-cmd.Context().Done():
				fmt.Fprintln(out, "stopping")
			case <-n.Hibernated():
				fmt.Fprintln(out, "hibernated: the relays will wake this node when someone asks for it")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&flags.Listen, "listen", nil, "libp2p listen multiaddr (repeatable; default loopback TCP and QUIC)")
	f.StringArrayVar(&flags.Bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable; default none: the node runs alone)")
	f.StringArrayVar(&flags.Relays, "relay", nil, "relay multiaddr ending in /p2p/ID to reserve a slot on (repeatable; default: relays found through the bootstrap)")
	f.StringArrayVar(&flags.RelayTokens, "relay-token", nil, "relay-access capability from a relay operator (made with mesh relay grant), for a node not in the directory (repeatable)")
	f.StringVar(&flags.Handle, "handle", "", "claim this handle (default: the one set with mesh init --handle or mesh handle)")
	f.BoolVar(&flags.Firewall, "firewall", false, "refuse inbound direct connections except from bootstrap and relay peers (as behind NAT)")
	f.StringVar(&flags.Metrics, "metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (port 0 picks one; default off)")
	durationVar(f, &lockAfter, "lock-after", node.DefaultLockAfter, "lock the vault after this long unused; 0 never")
	durationVar(f, &hibernateAfter, "hibernate-after", 0, "hibernate after this long unused: tell the relays, which can wake it, and exit; 0 never")
	durationVar(f, &resumeWindow, "resume-window", hibernate.DefaultWindow, "a node hibernated unlocked comes back unlocked if woken within this; 0 always locked")
	durationVar(f, &recoveryMinWait, "recovery-min-wait", recovery.MinWait, "the shortest waiting period the owner may give social recovery and escrow (lower it for tests and demos only)")
	f.StringVar(&flags.AgentSocket, "agent-socket", "", "the agent socket's path (default DIR/agent.sock; elsewhere for an agent running as another user, who cannot enter the home folder)")
	f.StringVar(&flags.AgentSocketMode, "agent-socket-mode", "0600", "the agent socket's mode: 0600, or 0660 with --agent-socket-group for agents running as another user")
	f.StringVar(&flags.AgentSocketGroup, "agent-socket-group", "", "the agent socket's group (a name or a number)")
	f.StringVar(&flags.Notify, "notify", "", "POST alerts and the weekly agent digest to this ntfy-style URL (e.g. https://ntfy.sh/YOUR-TOPIC)")
	f.StringVar(&flags.UI, "ui", "", `the web UI's address: host:port, or "off" (default 127.0.0.1:7777, or a free loopback port when taken); HTTPS off loopback`)
	f.StringVar(&flags.UICert, "ui-cert", "", "the web UI's TLS certificate (PEM; default off loopback: a self-signed one in the home folder)")
	f.StringVar(&flags.UIKey, "ui-key", "", "the web UI's TLS key (PEM), with --ui-cert")
	f.StringVar(&flags.UIDomain, "ui-domain", "", "also serve the web UI as https://HANDLE.DOMAIN through your relays' UI gateway (mesh relay --ui-gateway), TLS end to end with --ui-cert/--ui-key")
	f.StringVar(&flags.DriveClientID, "drive-client-id", "", "the OAuth client ID that \"Connect Google Drive\" uses (default: none, not offered)")
	f.StringVar(&flags.DriveClientSecretFile, "drive-client-secret-file", "", "a file holding that OAuth client's secret")
	f.StringVar(&flags.DriveAuthURL, "drive-auth-url", "", "the authorization endpoint (default Google's)")
	f.StringVar(&flags.DriveTokenURL, "drive-token-url", "", "the token endpoint (default Google's)")
	f.StringVar(&configPath, "config", "", "YAML config file (see configs/node.yaml)")
	f.BoolVarP(&flags.Verbose, "verbose", "v", false, "log more (to stderr)")
	return cmd
}

// nodeLockAfter maps --lock-after to node.Config.LockAfter: there zero
// means the default and a negative value never.
func nodeLockAfter(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func newHibernateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "hibernate",
		Short: "Put the running node to sleep now: its relays can wake it when someone asks",
		Long: `Push pending snapshots, tell the relays this node holds reservations on
that it hibernates, and stop the node. Someone you shared with reads what
is cached without waking it; a request that needs the node (mesh get
--live, or anything not cached) wakes it through the relay, if the
relay's operator configured a wake hook. If the vault is unlocked, the
woken node comes back unlocked within its resume window (mesh node
--resume-window, 12h); mesh lock before hibernating makes it come back
locked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			n, err := b.Hibernate(cmd.Context())
			if err != nil {
				return err
			}
			// Return once the node has let go of its folder: what runs
			// next finds it asleep, not stopping.
			if !waitFor(30*time.Second, func() bool {
				_, err := os.Stat(g.Home().SocketPath()) // removed once the node has closed
				_, alive := home.Holder(g.Home())
				return errors.Is(err, fs.ErrNotExist) || !alive
			}) {
				return errors.New("the node took the hibernation but has not stopped after 30s; see its log")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "hibernated: %d relay(s) will wake this node when someone asks for it\n", n)
			return nil
		},
	}
}

// waitFor checks cond every 50 ms until it holds (true) or within has
// passed (false).
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-t.C
	}
	return true
}

// fingerprintWords says which certificate a browser should see.
func fingerprintWords(fp string) string {
	if fp == "" {
		return ""
	}
	return " (certificate SHA-256 " + fp + ")"
}

// driveOptions reads the Drive connection's settings; the client secret
// comes from a file, never a flag (a process list shows flags).
func driveOptions(fc nodeFile) (web.Drive, error) {
	d := web.Drive{ClientID: fc.DriveClientID, AuthURL: fc.DriveAuthURL, TokenURL: fc.DriveTokenURL}
	if fc.DriveClientSecretFile != "" {
		b, err := os.ReadFile(fc.DriveClientSecretFile)
		if err != nil {
			return d, fmt.Errorf("--drive-client-secret-file: %w", err)
		}
		d.ClientSecret = strings.TrimSpace(string(b))
	}
	return d, nil
}
