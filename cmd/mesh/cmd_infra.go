package main

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/relay"
)

type infraFlags struct {
	listen, bootstrap []string
	config            string
	verbose           bool
}

func (f *infraFlags) add(cmd *cobra.Command, withBootstrap bool) {
	cmd.Flags().StringArrayVar(&f.listen, "listen", nil, "libp2p listen multiaddr (repeatable; default loopback TCP and QUIC)")
	if withBootstrap {
		cmd.Flags().StringArrayVar(&f.bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable)")
	}
	cmd.Flags().StringVar(&f.config, "config", "", "YAML config file (see configs/)")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log more")
}

func (f *infraFlags) load(cmd *cobra.Command) (infraFile, *slog.Logger, error) {
	fc, err := loadInfraConfig(f.config)
	if err != nil {
		return fc, nil, err
	}
	if cmd.Flags().Changed("listen") {
		fc.Listen = f.listen
	}
	if cmd.Flags().Changed("bootstrap") {
		fc.Bootstrap = f.bootstrap
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	return fc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

func printReady(cmd *cobra.Command, role string, in *infra.Peer) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "mesh %s %s ready\n", role, in.Host.ID())
	for _, a := range in.Addrs() {
		fmt.Fprintf(out, "listening on %s\n", a)
	}
}

func newBootstrapCmd(g *globals) *cobra.Command {
	var f infraFlags
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Run the bootstrap/metadata peer: DHT server, signed directory, encrypted mailboxes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, log, err := f.load(cmd)
			if err != nil {
				return err
			}
			in, err := infra.StartBootstrap(cmd.Context(), infra.Config{Home: g.Home(), Listen: fc.Listen, Logger: log})
			if err != nil {
				return err
			}
			defer in.Close()
			printReady(cmd, "bootstrap", in)
			<-cmd.Context().Done()
			return nil
		},
	}
	f.add(cmd, false)
	return cmd
}

func newRelayCmd(g *globals) *cobra.Command {
	var f infraFlags
	var metrics, audit string
	var private bool
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a circuit relay for registered home nodes (forwards only end-to-end encrypted streams)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, log, err := f.load(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("metrics") {
				fc.Metrics = metrics
			}
			if cmd.Flags().Changed("audit") {
				fc.Audit = audit
			}
			if cmd.Flags().Changed("allow-private-addrs") {
				fc.AllowPrivateAddrs = private
			}
			if len(fc.Bootstrap) == 0 {
				return fmt.Errorf("a relay needs --bootstrap: its directory decides who may reserve")
			}
			in, err := infra.StartRelay(cmd.Context(), infra.RelayConfig{
				Config:    infra.Config{Home: g.Home(), Listen: fc.Listen, Logger: log},
				Bootstrap: fc.Bootstrap, AuditPath: fc.Audit, MetricsAddr: fc.Metrics,
				Relay: relay.Config{AllowPrivateAddrs: fc.AllowPrivateAddrs, MaxReservations: fc.MaxReservations,
					MaxCircuits: fc.MaxCircuits, ReservationsPerMinute: fc.ReservationsPerMinute, CircuitsPerMinute: fc.CircuitsPerMinute},
			})
			if err != nil {
				return err
			}
			defer in.Close()
			printReady(cmd, "relay", in)
			if fc.Metrics != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "metrics on http://%s/metrics\n", fc.Metrics)
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f.add(cmd, true)
	cmd.AddCommand(newRelayGrantCmd(g), newRelayRevokeCmd(g))
	cmd.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9100)")
	cmd.Flags().StringVar(&audit, "audit", "", "append the metadata-only audit log (JSON lines) to this file")
	cmd.Flags().BoolVar(&private, "allow-private-addrs", false, "let reservations carry private and loopback addresses (private networks, tests)")
	return cmd
}

func newRelayGrantCmd(g *globals) *cobra.Command {
	var to string
	var valid time.Duration
	cmd := &cobra.Command{
		Use:   "grant --to PEERID",
		Short: "Issue a relay-access capability with this relay's key (for peers not in the directory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := peer.Decode(to)
			if err != nil {
				return fmt.Errorf("--to %q is not a peer ID: %w", to, err)
			}
			tok, err := infra.GrantRelayAccess(g.Home(), id, valid, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the peer allowed to reserve")
	cmd.Flags().DurationVar(&valid, "for", 30*24*time.Hour, "validity")
	cmd.MarkFlagRequired("to")
	return cmd
}

func newRelayRevokeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke TOKEN|-",
		Short: "Revoke a relay-access capability this relay granted: its reservation and circuits end at once",
		Long: `Revoke a relay-access capability issued by mesh relay grant, with this
relay's key (--home is the relay's folder). When the relay is running the
revocation is pushed to it: it refuses the peer from then on, closes the
reservation and circuits the capability admitted, and gossips the
revocation. Otherwise it is stored and in force from the relay's next start.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readArgOrStdin(cmd, args[0])
			if err != nil {
				return err
			}
			id, how, err := infra.RevokeRelayAccess(cmd.Context(), g.Home(), text, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s)\n", id.Short(), how)
			return nil
		},
	}
	return cmd
}
