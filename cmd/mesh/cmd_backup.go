package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node"
)

func newBackupCmd(g *globals) *cobra.Command {
	var out string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write an encrypted copy of this home (vault, key, shares) that only the vault password opens",
		Long: `Write an encrypted, consistent copy of this home folder: the vault, the
peer key, what you shared and what was shared with you, and the audit log,
as they were at one instant. A running node keeps running and serving while
it writes; without a node the command opens the vault itself.

Only the vault password as it is now opens the copy (after mesh passwd,
older backups still open with the older password). Nothing in the file is
readable without it, not even secret names. Restore it with mesh restore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s already exists; choose another file (a backup never overwrites one)", out)
			}
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
			if err != nil {
				return err
			}
			tmp := f.Name()
			defer os.Remove(tmp) // after the rename, nothing to remove
			if err := f.Chmod(0o600); err != nil {
				f.Close()
				return err
			}
			info, err := b.Backup(cmd.Context(), f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			if jsonOut {
				info.Size = fileSize(out)
				return printJSON(cmd, info)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s written to %s (%d bytes); restore it with mesh restore %s\n", info.ID, out, fileSize(out), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the file to write (it must not exist)")
	cmd.MarkFlagRequired("out")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func newRestoreCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into an empty home folder (--home), on this or another machine",
		Long: `Restore a backup made with mesh backup into the home folder --home (or
$MESH_HOME), which must be empty or not exist: restore never overwrites a
home, and refuses one a node is using. It asks for the vault password as it
was when the backup was made, checks every record and the audit log, and
records the restore in the restored vault's audit log. Then start the node
as usual (mesh node) with the same --home.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no backup at %s", args[0])
			} else if err != nil {
				return err
			}
			defer f.Close()
			pw, err := readPassword(g, "Vault password (as when the backup was made): ", false)
			if err != nil {
				return err
			}
			defer clear(pw)
			info, err := node.Restore(cmd.Context(), f, g.Home(), pw)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, restoreJSON{ID: info.ID, Peer: info.PeerID.String(), Created: info.Created, Entries: info.Entries,
					Secrets: info.Secrets, Resources: info.Resources, Records: info.Records, AuditRecords: info.AuditRecords,
					Checked: info.AuditCheck.String(), Problems: append([]string{}, info.Problems...)})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "restored backup %s of %s into %s: peer %s, %s, %s, %s\n",
				info.ID, info.Created.Local().Format(time.DateTime), g.Home(), info.PeerID,
				count(info.Secrets, "secret"), count(info.Resources, "resource"), count(info.AuditRecords, "audit record"))
			for _, p := range info.Problems {
				fmt.Fprintf(out, "note: %s\n", p)
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// restoreJSON is mesh restore --json: the names and types the other
// commands use (an ID and a peer as text, times as RFC 3339, "checked" as
// in mesh audit --json).
type restoreJSON struct {
	ID           string    `json:"id"`
	Peer         string    `json:"peer"`
	Created      time.Time `json:"created"`
	Entries      uint64    `json:"entries"`
	Secrets      int       `json:"secrets"`
	Resources    int       `json:"resources"`
	Records      int       `json:"records"`       // vault records restored and verified
	AuditRecords int       `json:"audit_records"` // the restored audit log's length
	Checked      string    `json:"checked"`       // how far the audit log was verified
	Problems     []string  `json:"problems"`
}

// count says "1 secret" or "3 secrets".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
