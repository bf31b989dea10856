package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node/demo"
	"github.com/ocmt/mesh/vault"
)

func newDemoCmd() *cobra.Command {
	var fast, verbose, stay bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a bootstrap, a relay, alice and bob in one process on loopback and show sharing end to end",
		Long: `Run a bootstrap, a relay and two home nodes, alice and bob, in one process
on loopback, and walk through the mission: alice stores a calendar and an
API key, shares the calendar with bob by handle, bob reads it through the
relay, alice revokes the share and bob's next read is refused; then it
checks that the relay and the bootstrap saw no plaintext, and shows
alice's audit log. Each step prints ✓ or ✗; the command exits non-zero if
one fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := demo.Options{UIStay: stay}
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
	cmd.Flags().BoolVar(&stay, "ui-stay", false, "after the steps, keep the mesh running and alice's web UI served until Ctrl-C")
	return cmd
}
