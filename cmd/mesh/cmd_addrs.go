package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/node/localapi"
)

// addrsPoll is how often mesh addrs looks again while it waits.
const addrsPoll = 50 * time.Millisecond

func newAddrsCmd(g *globals) *cobra.Command {
	var wait time.Duration
	var reachable, jsonOut bool
	cmd := &cobra.Command{
		Use:   "addrs",
		Short: "Print the addresses of the bootstrap, relay or home node running on this folder",
		Long: `Print the multiaddrs, each ending in /p2p/ID, of what runs on this folder
(--home), one a line: a bootstrap's or a relay's (what mesh node and mesh
relay take as --bootstrap and --relay), or a home node's listen addresses.
In a script: B=$(mesh --home ~/boot addrs).

A role that is just starting is waited for, up to --wait; if none is
running by then, it says so and exits non-zero.

With --reachable, a home node's or a group vault's addresses are printed
only once it holds a relay slot, which it reserves after claiming its
handle in the directory: others can then reach it by handle, through the
relay.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addrs, err := waitAddrs(cmd.Context(), g.Home(), wait, reachable)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, struct {
					Addrs []string `json:"addrs"`
				}{addrs})
			}
			for _, a := range addrs {
				fmt.Fprintln(cmd.OutOrStdout(), a)
			}
			return nil
		},
	}
	durationVar(cmd.Flags(), &wait, "wait", 10*time.Second, "how long to wait for a role that is starting")
	cmd.Flags().BoolVar(&reachable, "reachable", false, "for a home node or a group vault: wait until it holds a relay slot (it is then in the directory)")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// waitAddrs looks at h every addrsPoll until a running role's addresses
// are there (with reachable, a home node's once it holds a relay slot) or
// wait has passed, and then says what it last saw.
func waitAddrs(ctx context.Context, h home.Home, wait time.Duration, reachable bool) ([]string, error) {
	deadline := time.Now().Add(wait)
	for {
		addrs, done, why := lookAddrs(ctx, h, reachable)
		if done {
			return addrs, nil
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%s (waited %s)", why, wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(addrsPoll, time.Until(deadline))):
		}
	}
}

// lookAddrs looks once: a home node answering on its socket, else a
// bootstrap or relay whose process holds the folder and wrote its addrs
// file. When it is not done, why says what runs there, in a sentence.
func lookAddrs(ctx context.Context, h home.Home, reachable bool) (addrs []string, done bool, why string) {
	c, err := localapi.Dial(ctx, h.SocketPath())
	if err == nil {
		defer c.Close()
		st, err := c.Status(ctx)
		switch {
		case err != nil:
			return nil, false, fmt.Sprintf("the node on %s does not answer: %v", h, err)
		case !reachable:
			return st.Listen, true, ""
		case st.Handle == "":
			return nil, false, fmt.Sprintf("the node on %s has no handle, so it is not in the directory (set one with mesh handle NAME)", h)
		case st.HandleProblem != "":
			return nil, false, fmt.Sprintf("the node on %s runs, but its handle %s is %s", h, st.Handle, st.HandleProblem)
		case !st.Relayed:
			return nil, false, fmt.Sprintf("the node on %s runs, but holds no relay slot yet (is it started with --bootstrap and a relay? mesh status shows more)", h)
		}
		return st.Listen, true, ""
	}
	pid, running := home.Holder(h)
	if running {
		if addrs, err := home.ReadAddrs(h); err == nil && len(addrs) > 0 {
			if _, err := os.Stat(h.ReachablePath()); reachable && err != nil {
				return nil, false, fmt.Sprintf("the peer on %s runs, but has not claimed its handle and a relay slot yet", h)
			}
			return addrs, true, ""
		}
		return nil, false, fmt.Sprintf("a mesh process (pid %d) holds %s but has not published its addresses", pid, h)
	}
	_, aerr := os.Stat(h.AddrsPath())
	switch {
	case errors.Is(err, localapi.ErrStaleSocket):
		return nil, false, fmt.Sprintf("the node on %s is not running (stale socket: it stopped without cleaning up); start it again with mesh node", h)
	case aerr == nil:
		return nil, false, fmt.Sprintf("the bootstrap or relay on %s is not running (its addrs file is left from a run that stopped without cleaning up)", h)
	case !h.Exists():
		return nil, false, fmt.Sprintf("nothing runs on %s: no bootstrap, relay or node was ever started there", h)
	}
	return nil, false, fmt.Sprintf("no bootstrap, relay or node is running on %s", h)
}
