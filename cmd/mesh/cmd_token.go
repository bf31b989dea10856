package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Issue, delegate, use and inspect capability tokens by hand",
		Long: `Capability tokens by hand, for what mesh share does not cover: issue one
for a peer ID, delegate one you hold (--parent), hold one someone gave you
outside the mesh (use), and explain one (inspect).`}
	cmd.AddCommand(newTokenIssueCmd(g), newTokenInspectCmd(g), newTokenUseCmd(g))
	return cmd
}

func newTokenIssueCmd(g *globals) *cobra.Command {
	var req localapi.TokenRequest
	var to, parent string
	var valid time.Duration
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "issue --to HANDLE|PEERID --resource PATTERN --can ACTIONS",
		Short: "Sign a capability token with this node's key (or delegate one with --parent)",
		Long: `Sign a capability token for one peer (--to) and print it: send it to them
by any means, and they hold it with mesh token use. The vault must be
unlocked. Nothing is delivered and nothing is recorded as a share (mesh
share does both); the issue is audited.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Audience, req.ValidFor = to, valid
			if parent != "" {
				b, err := readArgOrStdin(cmd, parent)
				if err != nil {
					return err
				}
				req.Parent = b
			}
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			text, err := b.TokenIssue(cmd.Context(), req)
			if err != nil {
				return err
			}
			if jsonOut {
				out := struct {
					ID    string `json:"id"`
					Token string `json:"token"`
				}{Token: text}
				if tok, err := capability.Parse(text); err == nil {
					out.ID = tok.ID().String()
				}
				return printJSON(cmd, out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), text)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "audience, by handle or peer ID: the only peer that can use the token")
	cmd.Flags().StringVar(&req.Resource, "resource", "", "resource pattern, e.g. calendar/* or files/**")
	cmd.Flags().StringVar(&req.Actions, "can", "read", "actions, comma-separated: read, list, write, delete, share")
	durationVar(cmd.Flags(), &valid, "for", 24*time.Hour, "how long it is valid, at most 366d (a delegation never outlives its parent)")
	cmd.Flags().IntVar(&req.MaxUses, "max-uses", 0, "uses allowed (0 = unlimited, 1 = single use)")
	cmd.Flags().BoolVar(&req.AgentCeiling, "agent", false, "bound the token and its delegations by the agent ceiling (read, list)")
	cmd.Flags().StringVar(&parent, "parent", "", "delegate this token (text, or - for stdin)")
	cmd.MarkFlagRequired("to")
	cmd.MarkFlagRequired("resource")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newTokenUseCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "use TOKEN|-",
		Short: "Hold a token someone gave you by hand, so mesh get, ls --from, put and rm use it",
		Long: `Take a capability token someone sent you outside the mesh (by chat, by
mail, on paper). It must be addressed to you, valid and not revoked; your
node then holds it like a share received from its owner.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readArgOrStdin(cmd, args[0])
			if err != nil {
				return err
			}
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			gr, err := b.AcceptToken(cmd.Context(), text)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, gr)
			}
			who := gr.OwnerHandle
			if who == "" {
				who = gr.Owner
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s shared %s with you: %s, until %s\n", who, gr.Resource,
				strings.Join(gr.Actions, ", "), gr.Expiry.Local().Format(time.DateTime))
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func readArgOrStdin(cmd *cobra.Command, arg string) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func newTokenInspectCmd(g *globals) *cobra.Command {
	var owner, remote string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "inspect [TOKEN]",
		Short: "Explain a token: issuer, audience, resource, actions, validity, chain and verdict",
		Long: `Explain a token read from the argument or stdin: who issued it, for whom,
what it allows on which resources, until when, its delegation chain, and
whether it verifies. Time is judged as the owner's node judges it: a
token is accepted from its start minus 60s of clock skew up to its
expiry plus 60s, and the verdict says when the skew is what decides.
Revocations are checked against the running node's set, or without a
node against the set the node stored. Exits non-zero, saying why, if the
token is not valid.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := "-"
			if len(args) == 1 {
				arg = args[0]
			}
			text, err := readArgOrStdin(cmd, arg)
			if err != nil {
				return err
			}
			var opts []capability.InspectOption
			for _, f := range []struct {
				s   string
				opt func(peer.ID) capability.InspectOption
			}{{owner, capability.InspectOwner}, {remote, capability.InspectRemote}} {
				if f.s == "" {
					continue
				}
				id, err := keys.DecodePeerID(f.s)
				if err != nil {
					return fmt.Errorf("%q is not a peer ID (a peer ID starts with 12D3KooW; mesh id prints yours)", f.s)
				}
				opts = append(opts, f.opt(id))
			}
			if revs := g.knownRevocations(cmd, text); revs != nil {
				opts = append(opts, capability.InspectRevocations(revs))
			}
			rep := capability.Inspect(text, opts...)
			out := cmd.OutOrStdout()
			if jsonOut {
				if err := json.NewEncoder(out).Encode(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprint(out, rep.String())
			}
			if !rep.Valid {
				why := words.TokenProblem(rep.Error)
				if p := words.TokenTextProblem(text); p != "" && (rep.Error == "ErrMalformed" || rep.Error == "ErrTooLarge") {
					why = p
				}
				if (rep.Error == "ErrExpired" || rep.Error == "ErrNotYetValid") && rep.Note != "" {
					// By how much, and what the owner's skew allows: the
					// owner's node and the holder's say it in these words.
					why += ": " + rep.Note
				}
				return errors.New("the token is not valid: " + why)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "also check that the root issuer is this peer ID")
	cmd.Flags().StringVar(&remote, "remote", "", "also check that the audience is this peer ID")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// knownRevocations asks this node which links of the token in text it
// knows to be revoked (the running node's set, or the set it stored), so
// inspect does not call a revoked token valid. It returns nil (revocation
// left unchecked, as the report says) when there is no node folder, the
// set cannot be read or the text does not parse.
func (g *globals) knownRevocations(cmd *cobra.Command, text string) capability.RevocationChecker {
	tok, err := capability.Parse(text)
	if err != nil {
		return nil
	}
	if !g.Home().Exists() {
		return nil
	}
	b, err := g.open(cmd, needAny)
	if err != nil {
		return nil
	}
	defer b.Close()
	var ids []string
	for _, t := range tok.Chain() {
		ids = append(ids, t.ID().String())
	}
	ctx := cmd.Context()
	revoked, err := b.RevokedAmong(ctx, ids)
	if err != nil {
		return nil
	}
	set := capability.NewMemoryRevocations()
	for _, s := range revoked {
		if id, err := capability.ParseID(s); err == nil {
			set.Revoke(id)
		}
	}
	return set
}
