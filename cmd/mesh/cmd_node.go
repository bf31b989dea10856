package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ocmt/mesh/node"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newNodeCmd(g *globals) *cobra.Command {
	var flags nodeFile
	var configPath string
	var lockAfter time.Duration
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
			if set("lock-after") || fc.LockAfter == nil {
				fc.LockAfter = (*yamlDuration)(&lockAfter)
			}
			level := slog.LevelWarn
			if fc.Verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			n, err := node.Start(cmd.Context(), node.Config{Home: g.Home(), Listen: fc.Listen, Logger: log,
				Bootstrap: fc.Bootstrap, Relays: fc.Relays, Handle: fc.Handle, Firewall: fc.Firewall, RelayTokens: fc.RelayTokens,
				LockAfter: nodeLockAfter(time.Duration(*fc.LockAfter)), MetricsAddr: fc.Metrics})
			if err != nil {
				return err
			}
			defer n.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "mesh node %s ready (vault locked; run `mesh unlock`)\n", n.ID())
			for _, a := range n.Addrs() {
				fmt.Fprintf(out, "listening on %s\n", a)
			}
			fmt.Fprintf(out, "local API on %s\n", g.Home().SocketPath())
			if m := n.MetricsAddr(); m != "" {
				fmt.Fprintf(out, "metrics on http://%s/metrics\n", m)
			}
			<-cmd.Context().Done()
			fmt.Fprintln(out, "stopping")
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
