package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/vault"
)

func newSecretCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Store and read secrets in the vault (API keys, OAuth tokens, passwords, notes)"}
	cmd.AddCommand(newSecretSetCmd(g), newSecretGetCmd(g), newSecretListCmd(g), newSecretRmCmd(g), newSecretAllowCmd(g))
	return cmd
}

// errSecretTooLarge is the vault's refusal of a secret over its limit, in
// the vault's words, for a value that is too large already on stdin.
var errSecretTooLarge = fmt.Errorf("%w: a secret holds at most %d MiB", vault.ErrTooLarge, vault.MaxSecretBytes>>20)

type oauthInput struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func newSecretSetCmd(g *globals) *cobra.Command {
	var typ, provider, username, scopes, expires string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Store a secret; the value is read from stdin",
		Long: `Store a secret under NAME; the value is read from stdin (one trailing
newline is dropped). A secret holds at most 1 MiB, name and description
included, with or without a running node.
For --type oauth_token, stdin may be JSON {"access_token": ..., "refresh_token": ...}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := vault.ParseSecretType(typ)
			if err != nil {
				return err
			}
			// Room for the value, its newline, and one byte more to see it is too large.
			in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), vault.MaxSecretBytes+3))
			if err != nil {
				return fmt.Errorf("reading the value from stdin: %w", err)
			}
			defer clear(in)
			if len(in) > vault.MaxSecretBytes+2 {
				return errSecretTooLarge
			}
			in = bytes.TrimSuffix(bytes.TrimSuffix(in, []byte("\n")), []byte("\r"))
			s := vault.Secret{Name: args[0], Type: t, Provider: provider, Username: username, Value: in}
			if scopes != "" {
				s.Scopes = strings.Split(scopes, ",")
			}
			if expires != "" {
				if s.Expiry, err = parseExpiry(expires); err != nil {
					return err
				}
			}
			if t == vault.TypeOAuthToken && bytes.HasPrefix(bytes.TrimSpace(in), []byte("{")) {
				var o oauthInput
				if err := json.Unmarshal(in, &o); err != nil || o.AccessToken == "" {
					return errors.New("oauth_token JSON needs an access_token")
				}
				s.Value, s.Refresh = []byte(o.AccessToken), []byte(o.RefreshToken)
			}
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.SecretSet(cmd.Context(), s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "stored %s (%s)\n", s.Name, s.Type)
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "note", "api_key, oauth_token, password or note")
	cmd.Flags().StringVar(&provider, "provider", "", "who issued it (openai, google, ...)")
	cmd.Flags().StringVar(&username, "username", "", "login name, for --type password")
	cmd.Flags().StringVar(&scopes, "scopes", "", "granted scopes, comma-separated, for --type oauth_token")
	cmd.Flags().StringVar(&expires, "expires", "", "when it expires, for --type oauth_token: an RFC 3339 time, or a duration from now (90m, 36h, 7d)")
	return cmd
}

func parseExpiry(s string) (int64, error) {
	if d, err := duration.Parse(s); err == nil {
		return time.Now().Add(d).Unix(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("--expires %q: want an RFC 3339 time (2026-03-01T09:00:00Z) or a duration from now (90m, 36h, 7d)", s)
	}
	return t.Unix(), nil
}

// secretJSON is a secret as mesh secret get --json prints it: times as
// RFC 3339 strings, as in every other command (the vault keeps unix
// seconds), and the value as text.
type secretJSON struct {
	Name     string           `json:"name"`
	Type     vault.SecretType `json:"type"`
	Provider string           `json:"provider,omitempty"`
	Username string           `json:"username,omitempty"`
	Scopes   []string         `json:"scopes,omitempty"`
	Expiry   time.Time        `json:"expiry,omitzero"`
	Updated  time.Time        `json:"updated"`
	Value    string           `json:"value"`
	Refresh  string           `json:"refresh,omitempty"`
}

func unixTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func newSecretGetCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Print a secret's value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			s, err := b.SecretGet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Wipe()
			out := cmd.OutOrStdout()
			if jsonOut {
				return printJSON(cmd, secretJSON{Name: s.Name, Type: s.Type, Provider: s.Provider, Username: s.Username, Scopes: s.Scopes,
					Expiry: unixTime(s.Expiry), Updated: unixTime(s.Updated), Value: string(s.Value), Refresh: string(s.Refresh)})
			}
			out.Write(s.Value)
			if f, ok := out.(*os.File); !ok || isTerminal(f) {
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the whole secret as JSON (times in RFC 3339)")
	return cmd
}

func newSecretListCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List secret names and types (never values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			l, err := b.SecretList(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				if l == nil {
					l = []vault.SecretInfo{}
				}
				return printJSON(cmd, l)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, s := range l {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Type, s.Provider, s.Updated.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newSecretRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.SecretRemove(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "removed %s\n", args[0])
			return nil
		},
	}
}
