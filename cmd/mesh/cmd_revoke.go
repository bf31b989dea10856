package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newRevokeCmd(g *globals) *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "revoke SHARE_ID | --token TEXT",
		Short: "Revoke a share at once, everywhere; everything delegated from it dies with it",
		Args:  cobra.MaximumNArgs(1),
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
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", id[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "revoke this token (text, or - for stdin): one you delegated, or received by delegation")
	return cmd
}
