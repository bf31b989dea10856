package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node/localapi"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Encrypted copies of what you share, kept at your relays for when your node sleeps",
		Long: `While your node runs, it keeps an encrypted copy of every resource you
share at the relays it uses, so the people you shared it with can read it
while your node is offline. Each copy is sealed to you and to everyone who
may read it now: the relay cannot open it, swap it or roll it back, and
a share you revoke is refused by the relay and left out of the next copy.
Copies are made when you put a shared resource, share or revoke, and
every few days; these commands push them now and show where they are.`,
	}
	cmd.AddCommand(newSnapshotPushCmd(g), newSnapshotStatusCmd(g))
	return cmd
}

func newSnapshotPushCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "push [PATTERN]",
		Short: "Seal and push the shared resources PATTERN covers (default: all) to your relays now",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			pattern := ""
			if len(args) == 1 {
				pattern = args[0]
			}
			l, err := b.SnapshotPush(cmd.Context(), pattern)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, l)
			}
			if len(l) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "nothing to push: no resource there is shared with anyone")
				return nil
			}
			return printSnapshots(cmd, l)
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newSnapshotStatusCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "What is cached at which relay, which version, and when it was pushed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			l, err := b.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, l)
			}
			if len(l) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "nothing cached yet: resources are cached once they are shared and your node holds a relay reservation")
				return nil
			}
			return printSnapshots(cmd, l)
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// printSnapshots prints one line per resource and relay.
func printSnapshots(cmd *cobra.Command, l []localapi.Snapshot) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tVERSION\tREADERS\tRELAY\tPUSHED\tEXPIRES\tSTATE")
	for _, s := range l {
		ago := func(t time.Time) string { return roughAge(time.Since(t)) + " ago" }
		if len(s.Caches) == 0 {
			fmt.Fprintf(tw, "%s\t%d\t%d\t-\t%s\t%s\tno relay yet\n", s.Resource, s.Version, s.Readers, ago(s.Sealed), s.Expiry.Local().Format(time.DateTime))
		}
		for _, c := range s.Caches {
			state := "cached"
			if c.Error != "" {
				state = c.Error
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Resource, s.Version, s.Readers, shortPeer(c.Relay), ago(c.At), s.Expiry.Local().Format(time.DateTime), state)
		}
	}
	return tw.Flush()
}
