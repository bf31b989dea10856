package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

func newHandleCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "handle [NAME]",
		Short: "Print this node's handle, or claim a new one",
		Long: `Print this node's handle: the name others share with. With NAME, set it;
a running node with a bootstrap claims it there at once (a handle is 2 to
32 characters of a-z, 0-9, - and _, first come first served).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			if len(args) == 1 {
				if err := b.SetHandle(cmd.Context(), args[0]); err != nil {
					return err
				}
			}
			st, err := b.Status(cmd.Context())
			if err != nil {
				return err
			}
			if st.Handle == "" {
				return errors.New("no handle yet: claim one with `mesh handle NAME`")
			}
			if jsonOut {
				return printJSON(cmd, struct {
					Handle string `json:"handle"`
				}{st.Handle})
			}
			fmt.Fprintln(cmd.OutOrStdout(), st.Handle)
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newPutCmd(g *globals) *cobra.Command {
	var own bool
	cmd := &cobra.Command{
		Use:   "put [HANDLE/]PATH",
		Short: "Store a resource read from stdin: your own (PATH), or one someone shared with you for writing (HANDLE/PATH)",
		Long: `Store a resource read from stdin, sealed in the vault.

mesh put calendar/work stores your own calendar/work. mesh put alice/notes/todo
writes alice's notes/todo with a share alice gave you that allows write (her
node audits the write under your name). An argument is HANDLE/PATH when its
first segment is the handle of someone who shared with you; --own stores it
as your own path anyway.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), int64(node.MaxResource)+1))
			if err != nil {
				return err
			}
			if len(data) > node.MaxResource {
				return fmt.Errorf("%w: a resource holds at most %d MiB", vault.ErrTooLarge, (node.MaxResource>>20)+1)
			}
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			remote, path, err := target(cmd, b, args[0], own)
			if err != nil {
				return err
			}
			if remote {
				if err := b.PutRemote(cmd.Context(), path, data); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes) with the share you hold\n", path, len(data))
				return nil
			}
			if err := b.PutResource(cmd.Context(), path, data); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "stored %s (%d bytes)\n", path, len(data))
			return nil
		},
	}
	cmd.Flags().BoolVar(&own, "own", false, "the argument is your own path, even if it starts with a handle")
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	var own bool
	cmd := &cobra.Command{
		Use:   "rm [HANDLE/]PATH",
		Short: "Delete a resource: your own (PATH), or one someone shared with you for deleting (HANDLE/PATH)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			remote, path, err := target(cmd, b, args[0], own)
			if err != nil {
				return err
			}
			if remote {
				err = b.RemoveRemote(cmd.Context(), path)
			} else {
				err = b.RemoveResource(cmd.Context(), path)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted %s\n", path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&own, "own", false, "the argument is your own path, even if it starts with a handle")
	return cmd
}

// target reads a put or rm argument (localapi.Target); someone else's
// resource needs a running node.
func target(cmd *cobra.Command, b localapi.Backend, arg string, own bool) (remote bool, path string, err error) {
	if own {
		return false, arg, nil
	}
	remote, path, err = localapi.Target(cmd.Context(), b, arg)
	if err == nil && remote {
		if st, serr := b.Status(cmd.Context()); serr == nil && !st.Running {
			return false, "", errNoNodeRunning
		}
	}
	return remote, path, err
}

func newLsCmd(g *globals) *cobra.Command {
	var from string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "ls [PREFIX]",
		Short: "List your resources, or with --from HANDLE what that person shared with you",
		Long: `List the paths of your own resources under PREFIX (all of them without
one). With --from HANDLE, ask HANDLE's node for the paths its shares with
you let you list (needs a running node).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			out := cmd.OutOrStdout()
			n := needUnlocked
			if from != "" {
				n = needNode
			}
			b, err := g.open(cmd, n)
			if err != nil {
				return err
			}
			defer b.Close()
			rs := []localapi.Resource{}
			if from != "" {
				names, err := b.ListRemote(cmd.Context(), from+"/"+prefix)
				if err != nil {
					return err
				}
				for _, n := range names {
					rs = append(rs, localapi.Resource{Path: n})
				}
			} else {
				own, err := b.ListResources(cmd.Context(), prefix)
				if err != nil {
					return err
				}
				rs = append(rs, own...)
			}
			if jsonOut {
				return printJSON(cmd, rs)
			}
			for _, r := range rs {
				fmt.Fprintln(out, r.Path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "list what HANDLE shared with you")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newShareCmd(g *globals) *cobra.Command {
	var req localapi.ShareRequest
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "share PATH --with HANDLE",
		Short: "Share a resource (or pattern: calendar/*, files/**) with someone by handle",
		Long: `Share PATH with HANDLE: your node signs a token for HANDLE's node that
allows --can on PATH for --for, and delivers it (live, else to HANDLE's
mailbox at the bootstrap; while neither answers, your node keeps trying).
PATH is one resource (calendar/work) or a pattern: * is one segment
(calendar/*), ** the rest (files/**). It prints the share's ID, which
mesh shares lists and mesh revoke takes. Needs a running, unlocked node.

With --from HANDLE2, pass on a share HANDLE2 gave you (it must allow share):
the new share never allows more, covers more or lasts longer than it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Path = args[0]
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := b.Share(cmd.Context(), req)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", res.ID)
			how := "delivered " + res.Delivered
			if res.Delivered == "mailbox" {
				// the directory answers a handle nobody holds like any
				// other: a share left in a mailbox may never be fetched
				how = "left in " + req.With + "'s mailbox; not fetched yet"
			}
			if res.Pending != "" {
				how = "not delivered yet: " + res.Pending + "; your node keeps trying while it runs"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "shared %s with %s: %s, until %s (%s)\n",
				req.Path, req.With, listWords(req.Can), res.Expiry.Local().Format(time.DateTime), how)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.With, "with", "", "the handle to share with")
	cmd.Flags().StringVar(&req.From, "from", "", "pass on what HANDLE shared with you (their share must include share)")
	cmd.Flags().StringVar(&req.Can, "can", "read,list", "what they may do, comma-separated: read, list, write, delete, share (share lets them pass it on)")
	durationVar(cmd.Flags(), &req.ValidFor, "for", 24*time.Hour, "how long the share lasts, at most 366d")
	cmd.MarkFlagRequired("with")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func printGrants(cmd *cobra.Command, gs []localapi.Grant, jsonOut, issued bool) error {
	out := cmd.OutOrStdout()
	if jsonOut {
		if gs == nil {
			gs = []localapi.Grant{}
		}
		return printJSON(cmd, gs)
	}
	if len(gs) == 0 {
		if issued {
			fmt.Fprintln(out, "you have not shared anything yet")
		} else {
			fmt.Fprintln(out, "nothing has been shared with you yet")
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, g := range gs {
		until := g.Expiry.Local().Format(time.DateTime)
		acts := strings.Join(g.Actions, ", ")
		if issued {
			fmt.Fprintf(tw, "%s\t%s\twith %s\t%s\tuntil %s\t%s\n", g.ID[:12], g.Resource, g.AudienceHandle, acts, until, g.Status)
		} else {
			who := g.OwnerHandle
			if who == "" {
				who = g.Owner
			}
			fmt.Fprintf(tw, "%s shared %s with you: %s, until %s\t(%s, %s)\n", who, g.Resource, acts, until, g.Status, g.ID[:12])
		}
	}
	return tw.Flush()
}

func newSharesCmd(g *globals) *cobra.Command { return newGrantsCmd(g, true) }

func newSharedCmd(g *globals) *cobra.Command { return newGrantsCmd(g, false) }

// newGrantsCmd is `mesh shares` (issued) or `mesh shared` (received).
func newGrantsCmd(g *globals, issued bool) *cobra.Command {
	var jsonOut bool
	use, short := "shared", "What others have shared with you, with status"
	if issued {
		use, short = "shares", "What you have shared, with status"
	}
	long := `What others have shared with you, one line each: who, what, which actions, until
when, and its status: active, expired, revoked or not yet valid.`
	if issued {
		long = `What you have shared, one line each: its ID (for mesh revoke), what, with
whom, which actions, until when, and its status: active, undelivered (not
yet delivered: your node keeps trying while it runs), expired, revoked or
not yet valid.`
	}
	long += `

Without a running node, revocations are read from those the node stored;
if they cannot be read, a share that may be revoked shows as
"unknown (node not running)", never as active.`
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			list := b.Shared
			if issued {
				list = b.Shares
			}
			gs, err := list(cmd.Context())
			if err != nil {
				return err
			}
			return printGrants(cmd, gs, jsonOut, issued)
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newGetCmd(g *globals) *cobra.Command {
	var live, jsonOut bool
	cmd := &cobra.Command{
		Use:   "get HANDLE/PATH",
		Short: "Fetch a resource someone shared with you and print its bytes",
		Long: `Fetch PATH from HANDLE's node with the newest share HANDLE gave you that
allows read there, and print its bytes as they are. Your own handle reads
your own resource. Needs a running node.

When HANDLE's node is offline, the read falls back to the encrypted copy
HANDLE's node left at its relays (mesh snapshot): only you and HANDLE
can open it, and stderr says which relay served it and how old it is.
--live skips the cache. When neither answers and HANDLE's node
hibernated, its relay is asked to wake it ("waking alice…"), and the
woken node answers. --json prints where it came from with the bytes
(base64, field "data").`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			req := localapi.FetchRequest{Remote: args[0], Live: live, Quick: true}
			f, err := b.Get(cmd.Context(), req)
			if errors.Is(err, localapi.ErrUnreachable) {
				// Nothing answered: ask the owner's relays to wake it.
				fmt.Fprintf(cmd.ErrOrStderr(), "waking %s…\n", strings.SplitN(args[0], "/", 2)[0])
				req.Wake, req.Quick = true, false
				f, err = b.Get(cmd.Context(), req)
			}
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, f)
			}
			if f.Source == localapi.SourceCache {
				why := strings.SplitN(args[0], "/", 2)[0] + "'s node is offline"
				if f.Why == "too large" {
					why = "larger than a live read carries"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: served from the cache at relay %s, the copy sealed %s ago\n",
					why, shortPeer(f.Relay), roughAge(time.Since(f.Sealed)))
			}
			_, err = cmd.OutOrStdout().Write(f.Data)
			return err
		},
	}
	cmd.Flags().BoolVar(&live, "live", false, "ask the owner's node only, never a cached copy")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// roughAge says how old something is, to the unit worth saying.
func roughAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// shortPeer shortens a peer ID for a line of text: …and its last 8.
func shortPeer(id string) string {
	if len(id) <= 12 {
		return id
	}
	return "…" + id[len(id)-8:]
}

func newContactsCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "contacts [accept HANDLE]",
		Short: "Handles you have seen, with a verification code to compare with them",
		Long: `List the handles your node has looked up, each pinned to the peer ID it
first had (trust on first use), with a code to compare with that person by
phone or in person: both of you see the same code. If the directory later
gives a handle another key, it is refused and marked KEY CHANGED until you
run mesh contacts accept HANDLE.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			if len(args) > 0 {
				if args[0] != "accept" || len(args) != 2 {
					return errors.New("usage: mesh contacts accept HANDLE")
				}
				if err := b.AcceptContact(cmd.Context(), args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "accepted the new key for %s\n", args[1])
				return nil
			}
			cs, err := b.Contacts(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				if cs == nil {
					cs = []localapi.Contact{}
				}
				return printJSON(cmd, cs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, c := range cs {
				line := fmt.Sprintf("%s\t%s\tcode %s", c.Handle, c.Peer, c.Code)
				if c.Pending != "" {
					line += "\tKEY CHANGED to " + c.Pending + ": run `mesh contacts accept " + c.Handle + "` once verified"
				}
				fmt.Fprintln(tw, line)
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// listWords writes a comma-separated list as the rest of the CLI does:
// "read, list, share".
func listWords(csv string) string {
	parts := strings.Split(csv, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ", ")
}
