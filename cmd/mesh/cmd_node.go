package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ocmt/mesh/node"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newNodeCmd(g *globals) *cobra.Command {
	var listen, bootstrap, relays, relayTokens []string
	var configPath, handle string
	var firewall bool
	var verbose bool
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run the home node (libp2p host and local API) until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("listen") {
				fc.Listen = listen
			}
			if cmd.Flags().Changed("bootstrap") {
				fc.Bootstrap = bootstrap
			}
			if cmd.Flags().Changed("relay") {
				fc.Relays = relays
			}
			if cmd.Flags().Changed("firewall") {
				fc.Firewall = firewall
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			n, err := node.Start(cmd.Context(), node.Config{Home: g.Home(), Listen: fc.Listen, Logger: log,
				Bootstrap: fc.Bootstrap, Relays: fc.Relays, Handle: handle, Firewall: fc.Firewall, RelayTokens: relayTokens})
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
			<-cmd.Context().Done()
			fmt.Fprintln(out, "stopping")
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "libp2p listen multiaddr (repeatable; default loopback TCP and QUIC)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable)")
	cmd.Flags().StringArrayVar(&relays, "relay", nil, "relay multiaddr ending in /p2p/ID to reserve a slot on (repeatable)")
	cmd.Flags().StringArrayVar(&relayTokens, "relay-token", nil, "relay-access capability from a relay's operator (`mesh relay grant`), for nodes not in the directory (repeatable)")
	cmd.Flags().StringVar(&handle, "handle", "", "claim this handle (default: the one set with mesh init --handle)")
	cmd.Flags().BoolVar(&firewall, "firewall", false, "refuse inbound direct connections except from bootstrap and relay peers (as behind NAT)")
	cmd.Flags().StringVar(&configPath, "config", "", "YAML config file (see configs/node.yaml)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log more")
	return cmd
}
