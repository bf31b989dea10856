package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/node/localapi"
)

func newAgentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "AI agents that act for you through your node, within limits you set",
		Long: `An agent is a program (an AI assistant) that acts through your running
node on the agent socket (DIR/agent.sock), never on the owner's api.sock.
Each agent has its own key, a ceiling of actions (read and list unless
you say more; never delete, admin or share) and the paths it may reach.
It asks you before anything is shared (mesh approvals, mesh approve), it
uses secrets only through the node, which never hands them out, and it is
locked when its call rate jumps far above its usual rate.`,
	}
	cmd.AddCommand(newAgentAddCmd(g), newAgentListCmd(g), newAgentRmCmd(g), newAgentUnlockCmd(g), newAgentMCPCmd(g))
	return cmd
}

func newAgentAddCmd(g *globals) *cobra.Command {
	var can, paths, keyFile string
	var use []string
	var trust bool
	var valid time.Duration
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add an agent: make its key file and give it a capability under the agent ceiling",
		Long: `Add an agent: a new key is written to a file only the agent should read
(mode 0600; the last line printed is its path), and the node issues the
key capabilities for --paths with the --can actions, and use of the
--use secrets. Start the agent with: mesh agent mcp --key FILE.`,
		Example: `  mesh agent add helper --paths 'calendar/**,memory/**' --use secrets/embeddings`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := agent.ParseName(args[0])
			if err != nil {
				return err
			}
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			if keyFile == "" {
				dir := filepath.Join(string(g.Home()), "agents")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return err
				}
				keyFile = filepath.Join(dir, name+".key")
			}
			if keyFile, err = filepath.Abs(keyFile); err != nil {
				return err
			}
			id, err := agentsock.CreateKeyFile(keyFile, name)
			if err != nil {
				return err
			}
			var ps []string
			for _, p := range strings.Split(paths, ",") {
				if p = strings.TrimSpace(p); p != "" {
					ps = append(ps, p)
				}
			}
			info, err := b.AgentAdd(cmd.Context(), localapi.AgentAddRequest{Name: name, Key: id.String(), Can: can, Paths: ps, Use: use,
				TrustSecretUse: trust, ValidFor: valid})
			if err != nil {
				os.Remove(keyFile) // nothing was issued to it
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "agent %s added: it may %s on %s, until %s\n", info.Name, info.Ceiling, strings.Join(info.Paths, ", "),
				info.Expiry.Local().Format("2006-01-02"))
			fmt.Fprintf(out, "its key %s holds %d capabilit%s (%s)\n", info.Key, len(info.Tokens), plural(len(info.Tokens), "y", "ies"), strings.Join(info.Tokens, ", "))
			fmt.Fprintf(out, "start it with: mesh agent mcp --key %s --socket %s\n", keyFile, cmp.Or(info.Socket, g.Home().AgentSocket()))
			fmt.Fprintf(out, "key file (for the agent only):\n%s\n", keyFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&can, "can", "read,list", "the agent's ceiling: actions among read, list, write (never delete, admin or share)")
	f.StringVar(&paths, "paths", "", "comma-separated path patterns the agent reaches, like 'calendar/**,notes/**'")
	f.StringArrayVar(&use, "use", nil, "a secret the agent may use through the node, never read, like secrets/embeddings (repeatable)")
	f.BoolVar(&trust, "trust-secret-use", false, "let the agent use its secrets without asking you each time")
	durationVar(f, &valid, "for", 90*24*time.Hour, "how long its capabilities last")
	f.StringVar(&keyFile, "key-file", "", "where to write the agent's key (default DIR/agents/NAME.key)")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newAgentListCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List agents: name, key, scope, state and calls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			l, err := b.AgentList(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, l)
			}
			if len(l) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no agents; add one with mesh agent add NAME --paths PATTERNS")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKEY\tCEILING\tPATHS\tSTATE\tCALLS (HOUR/DAY)")
			for _, a := range l {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\n", a.Name, shortPeer(a.Key), a.Ceiling, strings.Join(a.Paths, ","), a.State(), a.CallsHour, a.CallsDay)
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newAgentRmCmd(g *globals) *cobra.Command {
	return agentNameCmd(g, "rm NAME", "Remove an agent: its key is refused and its capabilities revoked at once",
		func(cmd *cobra.Command, b localapi.Backend, name string) (string, error) {
			out, err := b.AgentRemove(cmd.Context(), name)
			return fmt.Sprintf("agent %s removed; %d capabilit%s revoked", name, out.Revoked, plural(out.Revoked, "y", "ies")), err
		})
}

func newAgentUnlockCmd(g *globals) *cobra.Command {
	return agentNameCmd(g, "unlock NAME", "Let an agent that was locked (after a spike of calls) call again",
		func(cmd *cobra.Command, b localapi.Backend, name string) (string, error) {
			return "agent " + name + " unlocked", b.AgentUnlock(cmd.Context(), name)
		})
}

// agentNameCmd is a command on one agent, through the running node: do
// returns the line to print on success.
func agentNameCmd(g *globals, use, short string, do func(*cobra.Command, localapi.Backend, string) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			line, err := do(cmd, b, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	}
}

func newAgentMCPCmd(g *globals) *cobra.Command {
	var keyFile, socket string
	cmd := &cobra.Command{
		Use:   "mcp --key FILE",
		Short: "Serve MCP on stdin/stdout for an agent framework, as the agent whose key FILE holds",
		Long: `Run this as the agent's MCP server (the stdio transport agent frameworks
start): every tool call goes to the node's agent socket, authenticated
with the agent's key. It never reaches api.sock.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return errors.New("--key FILE is required: the key file mesh agent add printed")
			}
			if socket == "" {
				socket = g.Home().AgentSocket()
			}
			return agentsock.Bridge(cmd.Context(), socket, keyFile, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the agent's key file")
	cmd.Flags().StringVar(&socket, "socket", "", "the agent socket (default DIR/agent.sock)")
	return cmd
}

func newApprovalsCmd(g *globals) *cobra.Command {
	var jsonOut, watch bool
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "What your agents asked you to allow: one per line, the ID first",
		Long: `List agents' requests (a share, a use of a secret) waiting for you, then
those decided in the last day. Decide with mesh approve ID or mesh deny
ID; a request expires unanswered after 15 minutes, as denied. --watch
prints each new event (a request, a decision, an agent locked) as it
happens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			if watch {
				ch, err := b.Events(cmd.Context())
				if err != nil {
					return err
				}
				for ev := range ch {
					if jsonOut {
						if err := printJSON(cmd, ev); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %s  %s\n", ev.Time.Local().Format("15:04:05"), ev.Kind, ev.Text)
				}
				return nil
			}
			l, err := b.Approvals(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, l)
			}
			if len(l) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no requests from agents")
			}
			for _, a := range l {
				fmt.Fprintln(cmd.OutOrStdout(), approvalLine(a))
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	cmd.Flags().BoolVar(&watch, "watch", false, "follow: print agent events as they happen")
	return cmd
}

func approvalLine(a localapi.ApprovalInfo) string {
	when := "expires " + a.Expires.Local().Format("15:04")
	if a.State != agent.Pending.String() {
		when = a.Decided.Local().Format("2006-01-02 15:04")
	}
	return fmt.Sprintf("%s  %-8s  agent %s: %s  (%s)", a.ID, a.State, a.Agent, a.Intent, when)
}

func newDecideCmd(g *globals, approve bool) *cobra.Command {
	use, short := "deny ID", "Refuse an agent's request"
	if approve {
		use, short = "approve ID", "Allow an agent's request: a share is issued at once"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			d, err := b.Decide(cmd.Context(), args[0], approve)
			out := cmd.OutOrStdout()
			if d.Approval.ID != "" {
				fmt.Fprintf(out, "%s: agent %s: %s\n", d.Approval.State, d.Approval.Agent, d.Approval.Intent)
			}
			if err != nil {
				return err
			}
			if s := d.Share; s != nil {
				fmt.Fprintf(out, "shared: %s (%s)\n", s.ID, shareVia(*s))
			}
			return nil
		},
	}
}

// shareVia says how a share reached its recipient.
func shareVia(s localapi.ShareResult) string {
	if s.Delivered != "" {
		return "delivered " + s.Delivered
	}
	if s.Pending != "" {
		return "not delivered yet: " + s.Pending
	}
	return "issued"
}

func newDigestCmd(g *globals) *cobra.Command {
	var week, format string
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "What your agents did this week: calls per day, approvals, refusals, locks",
		Long: `The agents' weekly digest, computed from the audit log (mesh audit
holds every record it counts). --format html writes a page with a small
chart per agent, without any external asset.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			text, err := b.Digest(cmd.Context(), localapi.DigestRequest{Week: week, Format: format})
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), text)
			if !strings.HasSuffix(text, "\n") {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&week, "week", "", "the ISO week, like 2026-W48 (default: this week)")
	cmd.Flags().StringVar(&format, "format", "text", "text, markdown or html")
	return cmd
}

func newSecretAllowCmd(g *globals) *cobra.Command {
	var model string
	var dims int
	cmd := &cobra.Command{
		Use:   "allow NAME [URL...]",
		Short: "Set where agents' brokered calls may send secret NAME (no URL: nowhere)",
		Long: `Agents never read a secret: they ask the node to make an HTTP call with
it (use_secret), and the node sends it only to the URLs allowed here
(scheme, host, port and path prefix, like https://api.openai.com/v1).
With --embeddings-model, this secret and its first URL (an
OpenAI-compatible API root) embed your memory notes for memory_search.`,
		Example: `  mesh secret allow embeddings https://api.openai.com/v1 --embeddings-model text-embedding-3-small`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.SecretAllow(cmd.Context(), localapi.SecretAllowRequest{Name: args[0], Endpoints: args[1:], EmbeddingsModel: model, Dimensions: dims}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				fmt.Fprintf(out, "secret %s is sent nowhere\n", args[0])
				return nil
			}
			fmt.Fprintf(out, "secret %s may be sent to %s\n", args[0], strings.Join(args[1:], ", "))
			if model != "" {
				fmt.Fprintf(out, "memory notes are embedded by %s at %s\n", model, args[1])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "embeddings-model", "", "make this secret the memory notes' embeddings key, with this model")
	cmd.Flags().IntVar(&dims, "dimensions", 0, "the embeddings' dimensions, for models that can shorten them")
	return cmd
}
