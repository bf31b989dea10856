package main

import (
	"bytes"
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
	cmd.Flags().Uint32Var(&k.memoryMiB, "kdf-memory", 64, "Argon2id memory in MiB for the password (t=3, p=4; at least 19)")
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
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create this node's identity (peer key) and vault",
		Long: `Create this node's folder (--home, default ~/.mesh): its peer key, which
names it on the mesh, and its vault, encrypted under a password (asked
twice, or --password-file, or $MESH_PASSWORD). --handle sets the name
others share with; the node claims it at the bootstrap when it starts.`,
		Args: cobra.NoArgs,
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
			if jsonOut {
				return printJSON(cmd, struct {
					Home   string `json:"home"`
					PeerID string `json:"peer_id"`
				}{g.home, id.String()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s\npeer ID: %s\n", g.home, id)
			return nil
		},
	}
	kf.add(cmd)
	cmd.Flags().StringVar(&handle, "handle", "", "the name others share with (claimed at the bootstrap when the node starts)")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newIDCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print this node's peer ID (no password needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := home.LoadIdentity(g.Home())
			if err != nil {
				return err
			}
			defer k.Wipe()
			if jsonOut {
				return printJSON(cmd, struct {
					PeerID string `json:"peer_id"`
				}{k.ID().String()})
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.ID())
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newUnlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Unlock the running node's vault",
		Long: `Unlock the running node's vault with its password (--password-file, else
$MESH_PASSWORD, else a prompt). After wrong passwords the vault waits
before it tries another (250 ms, doubling to 30 s); mesh unlock says how
long and waits.

The node locks its vault again by itself when nothing has used it for the
time set with mesh node --lock-after (default 30m).`,
		Args: cobra.NoArgs,
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
			if err := unlockWaiting(cmd, b, pw); err != nil {
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
			// A lock never fails once the keys are wiped; what the full disk
			// kept from it (its audit record) is a warning.
			if st, err := b.Status(cmd.Context()); err == nil && st.DiskWarning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+st.DiskWarning)
			}
			return nil
		},
	}
}

func newStatusCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the node's state: peer ID, handle, whether it runs, whether the vault is locked",
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
			if jsonOut {
				return printJSON(cmd, st)
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
			if st.LockAfter != "" {
				state += fmt.Sprintf(" (locks itself after %s unused)", st.LockAfter)
			}
			fmt.Fprintf(out, "vault:    %s\n", state)
			if st.FailedUnlocks > 0 {
				fmt.Fprintf(out, "failed unlock attempts: %d (the next is tried from %s)\n", st.FailedUnlocks, st.NextUnlockFrom.Local().Format(time.DateTime))
			}
			if st.DiskWarning != "" {
				fmt.Fprintf(out, "disk:     %s\n", st.DiskWarning)
			}
			if st.UI != "" {
				fmt.Fprintf(out, "web UI:   %s%s\n", st.UI, fingerprintWords(st.UIFingerprint))
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newPasswdCmd(g *globals) *cobra.Command {
	var oldFile, newFile string
	var rotate bool
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the vault password (--rotate-key: and the master key)",
		Long: `Change the vault password. Only the master key is rewrapped; records are
untouched, so an old copy of the wrap still opens with the old password.

With --rotate-key the master key changes too and every record is encrypted
again, so an old copy of the wrap (in a backup, on a lost device, or read
by someone who learnt the old password) opens nothing written from now on.
Use it after a password leaked, or when a device or backup holding an old
copy of the vault is out of your hands. It takes longer: every record is
rewritten.

The current password comes from --password-file, else $MESH_PASSWORD, else
a prompt. The new one comes from --new-password-file, else
$MESH_NEW_PASSWORD, else a prompt (asked twice).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cur := g.passwordFile
			if oldFile != "" {
				cur = oldFile
			}
			oldPw, err := passwordSource{file: cur, flag: "--password-file", env: "MESH_PASSWORD",
				prompt: "Current password: ", what: "current password"}.read()
			if err != nil {
				return err
			}
			defer clear(oldPw)
			newPw, err := passwordSource{file: newFile, flag: "--new-password-file", env: "MESH_NEW_PASSWORD",
				prompt: "New password: ", confirm: true, what: "new password"}.read()
			if err != nil {
				return err
			}
			defer clear(newPw)
			if bytes.Equal(oldPw, newPw) {
				return errors.New("the new password is the same as the current one")
			}
			b, err := g.open(cmd, needAny)
			if err != nil {
				return err
			}
			defer b.Close()
			change, done := b.ChangePassword, "password changed"
			if rotate {
				change, done = b.RotateKey, "password and master key changed; every record was encrypted again"
			}
			if err := waitOutBackoff(cmd, func() error { return change(cmd.Context(), oldPw, newPw) }); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), done)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate-key", false, "also change the master key and encrypt every record again (after a leak; see above)")
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "read the new password from this file (else $MESH_NEW_PASSWORD, else a prompt)")
	cmd.Flags().StringVar(&oldFile, "old-password-file", "", "the current password's file")
	cmd.Flags().MarkDeprecated("old-password-file", "use the global --password-file for the current password")
	return cmd
}

func newAuditCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the vault's audit log and verify its hash chain",
		Long: `Print the vault's audit log, one record a line (sequence, time, who, what,
outcome, target, detail), and verify its hash chain. Exits non-zero if the
chain does not verify.

The whole check needs the vault key: every record's tag, the head, the
records written while the vault was locked. Through a running node that
is unlocked it is done; without a node, mesh audit asks for the password
(--password-file, $MESH_PASSWORD or a prompt) and does it. Without either
it checks the structure only (sequence, links, head), which a person who
can write the store and recompute the links could get past, and says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.open(cmd, needKeyIfGiven)
			if err != nil {
				return err
			}
			defer b.Close()
			rep, err := b.Audit(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				if err := printJSON(cmd, rep); err != nil {
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
			if !jsonOut {
				how := "with the vault key: every record and the head are as written"
				if rep.Checked != "keyed" {
					how = "structure only (links and head); to check every record with its key, unlock the node (mesh unlock) or, with no node running, give the password (--password-file or $MESH_PASSWORD)"
				}
				fmt.Fprintf(out, "chain verified, %s: %d records\n", how, len(rep.Records))
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}
