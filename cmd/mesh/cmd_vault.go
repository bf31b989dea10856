package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/vault"
)

// kdfFlags let constrained containers lower Argon2id memory (never below
// the OWASP floor) and let tests use tiny, insecure parameters.
type kdfFlags struct {
	memoryMiB    uint32
	insecureFast bool
}

func (k *kdfFlags) add(cmd *cobra.Command) {
	cmd.Flags().Uint32Var(&k.memoryMiB, "kdf-memory", 64, "Argon2id memory in MiB (t=3, p=4; minimum 19)")
	cmd.Flags().BoolVar(&k.insecureFast, "insecure-test-kdf", false, "tiny KDF parameters, for tests only")
	cmd.Flags().MarkHidden("insecure-test-kdf")
}

func (k *kdfFlags) params() (vault.KDFParams, error) {
	if k.insecureFast {
		return vault.TestKDF(), nil
	}
	if k.memoryMiB < 19 {
		return vault.KDFParams{}, errors.New("--kdf-memory below 19 MiB is too weak")
	}
	p := vault.DefaultKDF()
	p.MemoryKiB = k.memoryMiB << 10
	return p, nil
}

func newInitCmd(g *globals) *cobra.Command {
	var kf kdfFlags
	var handle string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create this node's identity (peer key) and vault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kdf, err := kf.params()
			if err != nil {
				return err
			}
			pw, err := readPassword(g, "New vault password: ", true)
			if err != nil {
				return err
			}
			defer clear(pw)
			id, err := node.Init(cmd.Context(), g.Home(), node.InitOptions{Password: pw, KDF: kdf, Handle: handle})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s\npeer ID: %s\n", g.home, id)
			return nil
		},
	}
	kf.add(cmd)
	cmd.Flags().StringVar(&handle, "handle", "", "the name others share with (claimed at the bootstrap when the node starts)")
	return cmd
}

func newIDCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print this node's peer ID (no password needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := home.LoadIdentity(g.Home())
			if err != nil {
				return err
			}
			defer k.Wipe()
			fmt.Fprintln(cmd.OutOrStdout(), k.ID())
			return nil
		},
	}
}

func newUnlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Unlock the running node's vault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			pw, err := readPassword(g, "Vault password: ", false)
			if err != nil {
				return err
			}
			defer clear(pw)
			if err := b.Unlock(cmd.Context(), pw); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "unlocked")
			return nil
		},
	}
}

func newLockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Lock the running node's vault and wipe its keys from memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needNode)
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.Lock(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "locked")
			return nil
		},
	}
}

func newStatusCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the node's state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			st, err := b.Status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.jsonOut {
				return json.NewEncoder(out).Encode(st)
			}
			fmt.Fprintf(out, "peer ID:  %s\nhome:     %s\n", st.PeerID, st.Home)
			if st.Handle != "" {
				fmt.Fprintf(out, "handle:   %s\n", st.Handle)
				if st.HandleProblem != "" {
					fmt.Fprintf(out, "          %s\n", st.HandleProblem)
				}
			}
			if st.Running {
				fmt.Fprintln(out, "node:     running")
				for _, a := range st.Listen {
					fmt.Fprintf(out, "          %s\n", a)
				}
				if st.Relayed {
					fmt.Fprintln(out, "relay:    slot reserved")
				}
			} else {
				fmt.Fprintln(out, "node:     not running")
			}
			state := "unlocked"
			if st.Locked {
				state = "locked"
			}
			fmt.Fprintf(out, "vault:    %s\n", state)
			if st.FailedUnlocks > 0 {
				fmt.Fprintf(out, "failed unlock attempts: %d (next attempt waits until %s)\n", st.FailedUnlocks, st.NextUnlockFrom.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&g.jsonOut, "json", false, "print JSON")
	return cmd
}

func newPasswdCmd(g *globals) *cobra.Command {
	var oldFile, newFile string
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the vault password (rewraps the master key only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			oldPw, err := readPassword(&globals{passwordFile: oldFile}, "Current password: ", false)
			if err != nil {
				return err
			}
			defer clear(oldPw)
			newPw, err := readPassword(&globals{passwordFile: newFile}, "New password: ", true)
			if err != nil {
				return err
			}
			defer clear(newPw)
			if err := b.ChangePassword(cmd.Context(), oldPw, newPw); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "password changed")
			return nil
		},
	}
	cmd.Flags().StringVar(&oldFile, "old-password-file", "", "file holding the current password (else $MESH_PASSWORD or a prompt)")
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "file holding the new password (else a prompt)")
	return cmd
}

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the audit log and verify its hash chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			rep, err := b.Audit(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.jsonOut {
				if err := json.NewEncoder(out).Encode(rep); err != nil {
					return err
				}
			} else {
				for _, r := range rep.Records {
					fmt.Fprintf(out, "%5d  %s  %-10s %-22s %-7s %s %s\n", r.Seq, r.Time.Format(time.RFC3339), r.Actor, r.Op, r.Outcome, r.Target, r.Detail)
				}
			}
			if rep.Broken != "" {
				return fmt.Errorf("audit chain does not verify: %s", rep.Broken)
			}
			if !g.jsonOut {
				fmt.Fprintf(out, "chain verified: %d records\n", len(rep.Records))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&g.jsonOut, "json", false, "print JSON")
	return cmd
}
