// Command mesh is the one OCMT Mesh binary: the home node, the bootstrap
// peer, the relay, the demo, and the CLI that talks to a home node. This package only
// parses flags, environment and config files; behaviour lives in packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node"
)

// globals are the flags every command shares.
type globals struct {
	home         string
	passwordFile string
	jsonOut      bool
}

func (g *globals) Home() node.Home { return node.Home(g.home) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go stopWithin(ctx, stopGrace)
	cmd, err := newRoot().ExecuteContextC(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mesh: "+errorLine(cmd, err))
		os.Exit(1)
	}
}

// stopGrace is how long a role may take to stop once interrupted: every
// store write is synced, so what it would still close loses nothing.
const stopGrace = 30 * time.Second

// stopWithin ends the process if it has not stopped grace after ctx
// ended (an interrupt or SIGTERM), saying so on stderr with where each
// goroutine waits: a stop that hangs is a bug, shown rather than hidden.
func stopWithin(ctx context.Context, grace time.Duration) {
	<-ctx.Done()
	<-time.NewTimer(grace).C
	fmt.Fprintf(os.Stderr, "mesh: still stopping %s after the interrupt; exiting (where it waited follows)\n", grace)
	pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	os.Exit(1)
}

func defaultHome() string {
	if h := os.Getenv("MESH_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".mesh")
	}
	return ".mesh"
}

const rootLong = `OCMT Mesh keeps your secrets and files on your own home node and shares
them with other people's nodes by capability: a signed, scoped, expiring
token bound to the recipient.

Start here:
  mesh init --handle NAME        create this node's identity and vault
  mesh node --bootstrap ADDR &   run the node (see mesh node --help)
  mesh unlock                    open the vault for the running node
  mesh share PATH --with HANDLE  share something; mesh shares lists them
  mesh demo                      see everything work on this machine

Commands that touch the vault go through the running node's local API
(DIR/api.sock); with no node running they open the vault themselves and
ask for the password. Passwords come from --password-file, else
$MESH_PASSWORD, else a prompt. Durations take 90m, 36h, 7d, 2w. Commands
that print data take --json.`

func newRoot() *cobra.Command {
	cobra.EnableCommandSorting = false // help lists commands in the order a new user needs them
	g := &globals{}
	root := &cobra.Command{
		Use:           "mesh",
		Short:         "OCMT Mesh: your secrets on your own node, shared by capability",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", defaultHome(), "this node's folder (else $MESH_HOME, else ~/.mesh)")
	root.PersistentFlags().StringVar(&g.passwordFile, "password-file", "", "read the vault password from this file (else $MESH_PASSWORD, else a prompt)")
	root.AddGroup(
		&cobra.Group{ID: "start", Title: "Set up and run a home node:"},
		&cobra.Group{ID: "vault", Title: "Your vault (secrets, password, audit):"},
		&cobra.Group{ID: "share", Title: "Resources and sharing:"},
		&cobra.Group{ID: "agents", Title: "AI agents:"},
		&cobra.Group{ID: "groups", Title: "Group vaults (K of N admins unlock shared secrets):"},
		&cobra.Group{ID: "infra", Title: "Infrastructure and tools:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("start", newInitCmd(g), newNodeCmd(g), newUnlockCmd(g), newLockCmd(g), newStatusCmd(g), newIDCmd(g), newHandleCmd(g), newHibernateCmd(g))
	add("vault", newSecretCmd(g), newPasswdCmd(g), newAuditCmd(g), newBackupCmd(g), newRestoreCmd(g), newRecoveryCmd(g), newRecoverCmd(g), newMigrateCmd(g))
	add("share", newPutCmd(g), newGetCmd(g), newLsCmd(g), newRmCmd(g), newShareCmd(g), newSharesCmd(g), newSharedCmd(g),
		newRevokeCmd(g), newContactsCmd(g), newTokenCmd(g), newSnapshotCmd(g))
	add("agents", newAgentCmd(g), newApprovalsCmd(g), newDecideCmd(g, true), newDecideCmd(g, false), newDigestCmd(g))
	add("groups", newGroupCmd(g))
	add("infra", newBootstrapCmd(g), newRelayCmd(g), newGroupVaultCmd(g), newAddrsCmd(g), newDemoCmd(), newVersionCmd(), newSuperviseCmd(g))
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommandGroupID("infra")
	root.SetCompletionCommandGroupID("infra")
	return root
}
