package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/node/localapi"
)

const groupLong = `A group vault keeps a family's or a team's shared secrets (the Wi-Fi
password, a shared bank login) on a dedicated peer that only stores (mesh
groupvault). No single admin, and not the peer's operator, can open it:
the group's key is split among its admins, and K of them must approve
(mesh group unlock) before the vault opens, for a window (8 hours unless
the group says otherwise). At the window's end it wipes the key and locks
itself again. Every approval, opening, read, write and re-lock is a signed,
hash-chained record that reaches every admin: mesh group audit shows the
chain your node verified.`

func newGroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Groups: shared secrets that K of N admins unlock together", Long: groupLong}
	cmd.AddCommand(newGroupCreateCmd(g), newGroupJoinCmd(g), newGroupUnlockCmd(g), newGroupOpCmd(g, "lock", localapi.GroupLock,
		"Lock the group at once (the vault wipes its key)"), newGroupOpCmd(g, "status", localapi.GroupState,
		"Show whether the group is locked or unlocked, until when, and who approved"),
		newGroupListCmd(g), newGroupSecretCmd(g), newGroupAuditCmd(g), newGroupChangeCmd(g), newGroupInviteCmd(g), newGroupInvitesCmd(g),
		newGroupAnswerCmd(g, true), newGroupAnswerCmd(g, false), newGroupMembersCmd(g), newGroupRemoveCmd(g))
	return cmd
}

// groupDo sends one group command to the running node.
func groupDo(g *globals, cmd *cobra.Command, req localapi.GroupRequest) (localapi.GroupReply, error) {
	b, err := g.open(cmd, needNode)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	defer b.Close()
	return b.Group(cmd.Context(), req)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newGroupCreateCmd(g *globals) *cobra.Command {
	var vaultHandle, admins, schedule string
	var threshold int
	var window time.Duration
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "create GROUP --vault HANDLE --admins A,B,C --threshold K",
		Short: "Create a group: deal its key among the admins, kept by a group vault peer",
		Long: `Create a group kept by the group vault peer --vault. Your node makes the
group's key, splits it so that any --threshold of the --admins (you among
them) can unlock it, seals each admin's share to that admin's key, hands
the sealed shares to the vault and forgets the key. The other admins take
their share with mesh group join GROUP --vault HANDLE.
--schedule restricts when the group can be unlocked, e.g.
'mon-fri 08:00-18:00 +01:00'.`,
		Example: `  mesh group create smiths --vault smiths-vault --admins alice,bob,carol --threshold 2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupCreate, Group: args[0], Vault: vaultHandle,
				Admins: splitList(admins), Threshold: threshold, Window: window, Schedule: schedule})
			if err != nil {
				return err
			}
			return printGroupStatus(cmd, out.Status, jsonOut, "created")
		},
	}
	cmd.Flags().StringVar(&vaultHandle, "vault", "", "the group vault peer's handle (required)")
	cmd.Flags().StringVar(&admins, "admins", "", "the admins' handles, comma-separated, yourself included (required)")
	cmd.Flags().IntVar(&threshold, "threshold", 2, "how many admins must approve an unlock")
	durationVar(cmd.Flags(), &window, "window", 8*time.Hour, "how long an unlock lasts, unless an admin approves less")
	cmd.Flags().StringVar(&schedule, "schedule", "", "when the group may be unlocked (default: any time)")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupJoinCmd(g *globals) *cobra.Command {
	var vaultHandle string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "join GROUP --vault HANDLE",
		Short: "Take your share of a group you were made an admin of, and follow its audit chain",
		Long: `Take your share of GROUP from the group vault peer --vault: your node
checks it against the group's public commitments (a share that does not
match is refused, naming the dealer) and keeps it in your vault, sealed to
your key. From then on your node follows the group's audit chain.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupJoin, Group: args[0], Vault: vaultHandle})
			if err != nil {
				return err
			}
			return printGroupStatus(cmd, out.Status, jsonOut, "joined")
		},
	}
	cmd.Flags().StringVar(&vaultHandle, "vault", "", "the group vault peer's handle (required)")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupUnlockCmd(g *globals) *cobra.Command {
	var window time.Duration
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "unlock GROUP",
		Short: "Approve unlocking a group; it opens when enough admins have",
		Long: `Approve unlocking GROUP: your node signs an approval (fresh, usable once,
valid 15 minutes) carrying your share sealed to the vault peer. When the
group's threshold of admins have approved within 15 minutes of each
other, the vault opens for the shortest window they approved (--for, else
the group's window) and locks itself again at its end. Your vault must be
unlocked: your share is in it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: args[0], Window: window})
			if err != nil {
				return err
			}
			return printGroupStatus(cmd, out.Status, jsonOut, "approved")
		},
	}
	durationVar(cmd.Flags(), &window, "for", 0, "how long you approve the unlock for (default: the group's window)")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupOpCmd(g *globals, use, op, short string) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   use + " GROUP",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: op, Group: args[0]})
			if err != nil {
				return err
			}
			return printGroupStatus(cmd, out.Status, jsonOut, "")
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// printGroupStatus prints a group's state in words.
func printGroupStatus(cmd *cobra.Command, st *localapi.GroupStatus, jsonOut bool, verb string) error {
	if jsonOut {
		return printJSON(cmd, st)
	}
	w := cmd.OutOrStdout()
	if verb != "" {
		fmt.Fprintf(w, "%s group %s at %s\n", verb, st.Group, st.Vault)
	}
	fmt.Fprintf(w, "group %s: %d of %d admins unlock it (%s)\n", st.Group, st.Threshold, len(st.Admins), strings.Join(st.Admins, ", "))
	switch {
	case st.Unlocked:
		fmt.Fprintf(w, "unlocked until %s, approved by %s\n", st.Until.Local().Format(time.DateTime), strings.Join(st.Approvers, ", "))
	case len(st.Pending) > 0:
		fmt.Fprintf(w, "locked: %d of %d approvals so far (%s); waiting for %d more\n", len(st.Pending), st.Threshold,
			strings.Join(st.Pending, ", "), st.Threshold-len(st.Pending))
	default:
		fmt.Fprintln(w, "locked")
	}
	fmt.Fprintf(w, "window %s", duration.Format(st.Window))
	if st.Schedule != "" {
		fmt.Fprintf(w, ", only %s", st.Schedule)
	}
	fmt.Fprintf(w, "; %d secrets; audit chain at %d records\n", st.Secrets, st.AuditHeight)
	return nil
}

func newGroupListCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the groups you are in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupList})
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, out.Groups)
			}
			if len(out.Groups) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no groups (mesh group create, or mesh group join GROUP --vault HANDLE)")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tVAULT\tUNLOCK\tADMINS")
			for _, s := range out.Groups {
				fmt.Fprintf(tw, "%s\t%s\t%d of %d\t%s\n", s.Group, s.Vault, s.Threshold, len(s.Admins), strings.Join(s.Admins, ", "))
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupSecretCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Read and write a group's secrets (while it is unlocked)"}
	var release string
	set := &cobra.Command{
		Use:   "set GROUP NAME",
		Short: "Store a group secret; the value is read from stdin",
		Long: `Store a secret in GROUP under NAME; the value is read from stdin (one
trailing newline is dropped), at most 64 KiB. The group must be unlocked.
--release keeps it from being read before a time (a time lock), even
while the group is unlocked.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10+3))
			if err != nil {
				return fmt.Errorf("reading the value from stdin: %w", err)
			}
			defer clear(in)
			in = bytes.TrimSuffix(bytes.TrimSuffix(in, []byte("\n")), []byte("\r"))
			req := localapi.GroupRequest{Op: localapi.GroupSet, Group: args[0], Name: args[1], Value: in}
			if release != "" {
				at, err := parseExpiry(release)
				if err != nil {
					return fmt.Errorf("--release: %w", err)
				}
				req.Release = time.Unix(at, 0)
			}
			if _, err := groupDo(g, cmd, req); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stored %s in group %s\n", args[1], args[0])
			return nil
		},
	}
	set.Flags().StringVar(&release, "release", "", "not readable before this time (RFC 3339, or a duration from now)")
	get := &cobra.Command{
		Use:   "get GROUP NAME",
		Short: "Print a group secret (the read is audited, with your name, to every admin)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupGet, Group: args[0], Name: args[1]})
			if err != nil {
				return err
			}
			defer clear(out.Value)
			w := cmd.OutOrStdout()
			w.Write(out.Value)
			fmt.Fprintln(w)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list GROUP",
		Short: "List a group's secret names (names are not secret; values are)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupNames, Group: args[0]})
			if err != nil {
				return err
			}
			for _, n := range out.Names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	rm := &cobra.Command{
		Use:   "rm GROUP NAME",
		Short: "Delete a group secret",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupRemove, Group: args[0], Name: args[1]}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s from group %s\n", args[1], args[0])
			return nil
		},
	}
	cmd.AddCommand(set, get, list, rm)
	return cmd
}

func newGroupAuditCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "audit GROUP",
		Short: "Show the group's audit chain, as your node verified it",
		Long: `Show the group's audit chain: every approval, opening, re-lock, read,
write and change, signed by the group vault peer and chained by hash. Your
node fetches what it missed, checks every record, and says whether the
chain is whole; every admin who holds the same chain sees the same head.
A fork (the vault showing two different records at one height) or a gap
is printed, and the command fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupAudit, Group: args[0]})
			if err != nil {
				return err
			}
			ch := out.Chain
			if jsonOut {
				return printJSON(cmd, ch)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, r := range ch.Records {
				actor := r.Actor
				if actor == "" {
					actor = "(vault)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Height, r.Time.Local().Format(time.DateTime), r.Kind, actor, r.Detail)
			}
			tw.Flush()
			w := cmd.OutOrStdout()
			if ch.Verified {
				head := ch.Head
				if len(head) > 16 {
					head = head[:16]
				}
				fmt.Fprintf(w, "chain verified: %d records signed by the vault, head %s\n", len(ch.Records), head)
			}
			if ch.Problem != "" {
				fmt.Fprintf(w, "problem: %s\n", ch.Problem)
				if !ch.Verified {
					return fmt.Errorf("the audit chain of group %s is not whole", args[0])
				}
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupChangeCmd(g *globals) *cobra.Command {
	var admins string
	var threshold int
	var window time.Duration
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "change GROUP --admins A,B,C --threshold K",
		Short: "Approve a change of admins or threshold; K admins approving the same change re-deal the key",
		Long: `Approve changing GROUP's admins (--admins, in order) and threshold. Each
admin who agrees runs the same command; when the group's current
threshold of admins have approved the same change within 15 minutes, the
vault deals a fresh key among the new admins, re-seals every secret under
it and locks the group. A removed admin's old share then opens nothing.
Admins take their new share on their next unlock.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupChange, Group: args[0], Admins: splitList(admins),
				Threshold: threshold, Window: window})
			if err != nil {
				return err
			}
			return printGroupStatus(cmd, out.Status, jsonOut, "approved the change of")
		},
	}
	cmd.Flags().StringVar(&admins, "admins", "", "the new admins' handles, comma-separated (required)")
	cmd.Flags().IntVar(&threshold, "threshold", 2, "the new threshold")
	durationVar(cmd.Flags(), &window, "window", 0, "the group's new unlock window (default: unchanged)")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupInviteCmd(g *globals) *cobra.Command {
	var role string
	var validFor time.Duration
	cmd := &cobra.Command{
		Use:   "invite GROUP HANDLE",
		Short: "Invite someone to read (or write) a group's secrets; they must accept",
		Long: `Invite HANDLE to GROUP: the vault issues them a group capability (--can
read, the default, or write) that stays pending until they accept it with
mesh group accept, within 7 days, and lasts --for (90 days by default).
The invitation goes to their mailbox. What you see is the same whether or
not anyone holds HANDLE: nobody learns from an invitation who exists.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupInvite, Group: args[0], Name: args[1], Role: role, Window: validFor})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Text)
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "can", "read", "read, or write (read, write and delete secrets)")
	durationVar(cmd.Flags(), &validFor, "for", 0, "how long the membership lasts (default 90d)")
	return cmd
}

func newGroupInvitesCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "invites",
		Short: "List the group invitations you hold (accept with mesh group accept ID)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupInvites})
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, out.Invitations)
			}
			if len(out.Invitations) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no group invitations")
				return nil
			}
			for _, inv := range out.Invitations {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  group %s at %s, to %s, until %s (%s)\n", inv.ID[:12], inv.Group, inv.Vault, inv.Role,
					inv.Expiry.Local().Format(time.DateOnly), inv.Status)
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupAnswerCmd(g *globals, accept bool) *cobra.Command {
	use, short, op := "decline ID", "Decline a group invitation", localapi.GroupDecline
	if accept {
		use, short, op = "accept ID", "Accept a group invitation: you become a member", localapi.GroupAccept
	}
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: op, Name: args[0]})
			if err != nil {
				return err
			}
			if out.Status != nil {
				return printGroupStatus(cmd, out.Status, jsonOut, "joined")
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Text)
			return nil
		},
	}
	if accept {
		jsonFlag(cmd, &jsonOut)
	}
	return cmd
}

func newGroupMembersCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "members GROUP",
		Short: "List a group's members and pending invitations (admins)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupMembers, Group: args[0]})
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, out.Members)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tUNTIL")
			for _, m := range out.Members {
				state := "member"
				if m.Pending {
					state = "invited"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.Role, state, m.Until.Local().Format(time.DateOnly))
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGroupRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove GROUP NAME",
		Short: "Remove a member or an invitation (admins); their capability is revoked at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := groupDo(g, cmd, localapi.GroupRequest{Op: localapi.GroupExpel, Group: args[0], Name: args[1]})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Text)
			return nil
		},
	}
}
