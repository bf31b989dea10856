package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node/demo"
	"github.com/ocmt/mesh/vault"
)

func newDemoCmd() *cobra.Command {
	var fast, verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run bootstrap, relay, alice and bob in one process on loopback and walk through the mission",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := demo.Options{}
			if verbose {
				opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			if fast {
				opts.KDF = vault.TestKDF()
			}
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().BoolVar(&fast, "insecure-test-kdf", false, "tiny KDF parameters, for tests only")
	cmd.Flags().MarkHidden("insecure-test-kdf")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the nodes' logs")
	return cmd
}
