// Command mesh is the one OCMT Mesh binary: the home node, the bootstrap
// peer, the relay, the demo, and the CLI that talks to a home node. This package only
// parses flags, environment and config files; behaviour lives in packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/vault"
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
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if errors.Is(err, vault.ErrLocked) {
			msg += " (run `mesh unlock`)"
		}
		fmt.Fprintln(os.Stderr, "mesh: "+msg)
		os.Exit(1)
	}
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

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "mesh",
		Short:         "OCMT Mesh: your secrets on your own node, shared by capability",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", defaultHome(), "node folder (env MESH_HOME, default ~/.mesh)")
	root.PersistentFlags().StringVar(&g.passwordFile, "password-file", "", "read the vault password from this file (else $MESH_PASSWORD, else a prompt)")
	root.AddCommand(
		newDemoCmd(),
		newInitCmd(g),
		newIDCmd(g),
		newNodeCmd(g),
		newUnlockCmd(g),
		newLockCmd(g),
		newStatusCmd(g),
		newPasswdCmd(g),
		newSecretCmd(g),
		newAuditCmd(g),
		newTokenCmd(g),
		newBootstrapCmd(g),
		newRelayCmd(g),
		newHandleCmd(g),
		newPutCmd(g),
		newRmCmd(g),
		newLsCmd(g),
		newShareCmd(g),
		newSharesCmd(g),
		newSharedCmd(g),
		newGetCmd(g),
		newContactsCmd(g),
		newRevokeCmd(g),
	)
	return root
}
