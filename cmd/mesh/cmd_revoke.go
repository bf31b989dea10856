package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newRevokeCmd(g *globals) *cobra.Command {
	var token string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "revoke SHARE_ID | --token TEXT",
		Short: "Revoke a share at once, everywhere; everything delegated from it dies with it",
		Long: `Revoke a share you made (its ID from mesh shares, or 8 or more of its first
digits), one you received, or a token (--token): your node signs a
revocation, refuses the share from that moment, and sends the revocation
to the relays, the bootstrap and other nodes, which refuse it too. Shares
passed on from it die with it. Needs a running, unlocked node.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := token
			if len(args) == 1 {
				if token != "" {
					return errors.New("give a share ID or --token, not both")
				}
				target = args[0]
			} else if token != "" {
				t, err := readArgOrStdin(cmd, token)
				if err != nil {
					return err
				}
				target = t
			}
			if target == "" {
				return errors.New("which share? give its ID (see `mesh shares`) or --token TEXT")
			}
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			id, err := b.Revoke(cmd.Context(), target)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, struct {
					ID string `json:"id"`
				}{id})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", id[:12])
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	cmd.Flags().StringVar(&token, "token", "", "revoke this token (text, or - for stdin): one you delegated, or received by delegation")
	return cmd
}
