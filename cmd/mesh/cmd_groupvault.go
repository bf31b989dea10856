package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/infra"
)

func newGroupVaultCmd(g *globals) *cobra.Command {
	var listen, bootstrap, relays, creators []string
	var handle string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "groupvault",
		Short: "Run a group vault peer: stores groups' sealed secrets, opened only when K of N admins approve",
		Long: `Run a group vault peer: a peer that only stores. It keeps groups created
by their admins (mesh group create): each admin's share sealed to that
admin, the secrets sealed under a group key that exists only in this
peer's memory while K of the group's admins have approved an unlock, and
each group's audit chain, signed by this peer and sent to every admin.
It has no vault of its own, no agent socket and no UI; its folder holds
its peer key and its store, in which nothing opens without the admins.

It claims --handle at the bootstrap (or the handle mesh init --handle
stored in its folder) and holds reservations on its relays, as a home
node does, so admins reach it behind NAT.`,
		Example: `  mesh groupvault --home ~/.smiths-vault --handle smiths-vault --bootstrap /ip4/.../p2p/ID --relay /ip4/.../p2p/ID`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			cfg := infra.GroupVaultConfig{Config: infra.Config{Home: g.Home(), Listen: listen,
				Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))},
				Bootstrap: bootstrap, Relays: relays, Handle: handle}
			for _, c := range creators {
				id, err := keys.DecodePeerID(c)
				if err != nil {
					return fmt.Errorf("--creator %q is not a peer ID: %w", c, err)
				}
				cfg.Creators = append(cfg.Creators, id)
			}
			p, err := infra.StartGroupVault(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer p.Close()
			printReady(cmd, "groupvault", p)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "libp2p listen multiaddr (repeatable; default loopback TCP and QUIC)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable)")
	cmd.Flags().StringArrayVar(&relays, "relay", nil, "relay multiaddr ending in /p2p/ID to hold a reservation on (repeatable)")
	cmd.Flags().StringVar(&handle, "handle", "", "the handle admins name this peer by (kept in its folder)")
	cmd.Flags().StringArrayVar(&creators, "creator", nil, "peer ID allowed to create groups here (repeatable; default anyone, 8 groups each)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log more")
	return cmd
}
