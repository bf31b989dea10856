package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/socialrecovery"
	"github.com/ocmt/mesh/vault"
)

// socialRecoverFlags are mesh recover --social's: the recovering device's
// side of social recovery (internal/socialrecovery does the work).
type socialRecoverFlags struct {
	handle, backupFile string
	boots, relays      []string
	waitFor, poll      time.Duration
}

func (f *socialRecoverFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.handle, "handle", "", "social: your handle (checked against the backup)")
	fs.StringVar(&f.backupFile, "backup", "", "social: a backup of your vault taken after you enabled social recovery (mesh backup)")
	fs.StringArrayVar(&f.boots, "bootstrap", nil, "social: bootstrap peer multiaddr ending in /p2p/ID (repeatable)")
	fs.StringArrayVar(&f.relays, "relay", nil, "social: relay multiaddr ending in /p2p/ID (repeatable; default: relays found through the bootstrap)")
	durationVar(fs, &f.waitFor, "wait-for", 0, "social: keep asking until the vault opens or this passes (default: ask once)")
	durationVar(fs, &f.poll, "poll", 5*time.Second, "social: the pause between two rounds of asking")
}

const socialRecoverLong = `
With --social, recover on a new device with the friends you chose (mesh
recovery social), when you lost your password and your old device. Give
your handle, a backup of your vault taken after you enabled social
recovery (mesh backup: its header names your friends) and the mesh's
bootstrap (--bootstrap; --relay as your node had). --home is the new home
folder: the command keeps this device's key and its request there, so
running it again continues where it stopped. It sends a signed recovery
request to each friend (live, else to their mailbox) and to your old node
(which may veto it), and prints a verification code: read it to each
friend, who checks it in mesh recovery requests and approves with mesh
recovery help ID. Each friend's share is released after the waiting
period you chose, unless your old node vetoes. Once enough friends
released their share, the backup is restored into --home with the new
password, and every friend is told. Without --wait-for it asks once and
says where each friend stands; with --wait-for 50h it keeps asking until
the vault opens or that time passes.`

// runSocialRecover is mesh recover --social.
func runSocialRecover(cmd *cobra.Command, g *globals, f *socialRecoverFlags, newFile string) error {
	if g.home == "" {
		return errors.New("give the new home folder with --home")
	}
	if f.handle == "" || f.backupFile == "" || len(f.boots) == 0 {
		return errors.New("mesh recover --social needs --handle, --backup and --bootstrap")
	}
	bs, err := p2phost.ParseAddrInfos("bootstrap", f.boots)
	if err != nil {
		return err
	}
	rs, err := p2phost.ParseAddrInfos("relay", f.relays)
	if err != nil {
		return err
	}
	res, err := socialrecovery.RecoverDevice(cmd.Context(), socialrecovery.DeviceConfig{
		Home: g.Home(), Handle: f.handle, Backup: f.backupFile, Bootstrap: bs, Relays: rs, WaitFor: f.waitFor, Poll: f.poll,
		KDF: vault.DefaultKDF(), Out: cmd.OutOrStdout(),
		NewPassword: func() ([]byte, error) {
			return passwordSource{file: newFile, flag: "--new-password-file", env: "MESH_NEW_PASSWORD",
				prompt: "New password: ", confirm: true, what: "new password"}.read()
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Recovered (the last round, which fetched the shares and restored the vault, took %s). Start your node on the new home: mesh node --home %s\n",
		res.LastRound.Round(time.Millisecond), g.home)
	return nil
}
