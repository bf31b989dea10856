package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/legacy"
)

// legacyPasswordSource is where the legacy vault's password comes from:
// --legacy-password-file, else $MESH_LEGACY_PASSWORD, else a prompt.
func legacyPasswordSource(file string, confirm bool) passwordSource {
	return passwordSource{file: file, flag: "--legacy-password-file", env: "MESH_LEGACY_PASSWORD",
		prompt: "Legacy vault password: ", confirm: confirm, what: "legacy password"}
}

func newMigrateCmd(g *globals) *cobra.Command {
	var from, pwFile, onConflict string
	var dryRun, jsonOut bool
	cmd := &cobra.Command{
		Use:   "migrate --from FILE",
		Short: "Import secrets from the legacy server vault's export",
		Long: `Import the secrets of a legacy management-server vault export into this
node's vault. The export is decrypted here, with the legacy password
(--legacy-password-file, else $MESH_LEGACY_PASSWORD, else a prompt); the
server never sees a plaintext. The whole export is checked (password,
every record, the integrity check over the list) before anything is
written; each secret is read back after it is written.

Re-running imports nothing twice and resumes an interrupted run. A name
the vault already holds with another value is never overwritten unless
--on-conflict overwrite: by default the legacy secret is imported as
NAME.legacy. The format: docs/legacy-vault.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("--from: give the legacy export file")
			}
			on, err := legacy.ParseOnConflict(onConflict)
			if err != nil {
				return err
			}
			f, err := os.Open(from)
			if err != nil {
				return fmt.Errorf("opening the export: %w", err)
			}
			exp, err := legacy.ReadExport(f)
			f.Close()
			if err != nil {
				return err
			}
			pw, err := legacyPasswordSource(pwFile, false).read()
			if err != nil {
				return err
			}
			ps, err := exp.Open(pw)
			clear(pw)
			if err != nil {
				return err
			}
			defer legacy.WipeAll(ps)
			b, err := g.open(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer b.Close()
			prog := newMigrateProgress(cmd.ErrOrStderr(), len(ps), dryRun)
			rep, err := legacy.Import(cmd.Context(), b, ps, legacy.Options{OnConflict: on, DryRun: dryRun, Progress: prog.update})
			prog.finish()
			if err != nil {
				return fmt.Errorf("%w (%s so far; run it again to resume)", err, reportWords(rep, false))
			}
			if jsonOut {
				if err := printJSON(cmd, migrateJSON(rep, dryRun)); err != nil {
					return err
				}
			} else {
				printMigrateReport(cmd.OutOrStdout(), rep, dryRun)
			}
			if rep.Skipped > 0 && !dryRun {
				return fmt.Errorf("%d of %d secrets were not imported: the vault holds other values under their names (%s); see --on-conflict",
					rep.Skipped, rep.Total, nameList(rep.SkippedNames))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the legacy vault's export (JSON, docs/legacy-vault.md)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the export and show what would be imported; write nothing")
	cmd.Flags().StringVar(&onConflict, "on-conflict", "rename", "for a name the vault holds with another value: rename (import as NAME.legacy), skip, or overwrite")
	cmd.Flags().StringVar(&pwFile, "legacy-password-file", "", "read the legacy vault password from this file (else $MESH_LEGACY_PASSWORD, else a prompt)")
	jsonFlag(cmd, &jsonOut)
	cmd.AddCommand(newMakeTestExportCmd())
	return cmd
}

// migrateReport is mesh migrate --json's output.
type migrateReport struct {
	DryRun      bool     `json:"dry_run,omitempty"`
	Total       int      `json:"total"`
	Imported    int      `json:"imported"`
	Renamed     []string `json:"renamed,omitempty"`
	Overwritten int      `json:"overwritten,omitempty"`
	Already     int      `json:"already_there"`
	Skipped     []string `json:"skipped,omitempty"`
}

func migrateJSON(r legacy.Report, dry bool) migrateReport {
	return migrateReport{DryRun: dry, Total: r.Total, Imported: r.Imported, Renamed: r.RenamedNames,
		Overwritten: r.Overwritten, Already: r.Already, Skipped: r.SkippedNames}
}

// reportWords: "imported 3 (1 renamed, 0 overwritten), already there 2, skipped 0 of 5".
func reportWords(r legacy.Report, dry bool) string {
	verb := "imported"
	if dry {
		verb = "would import"
	}
	return fmt.Sprintf("%s %d (%d renamed, %d overwritten), already there %d, skipped %d of %d",
		verb, r.Imported, r.Renamed, r.Overwritten, r.Already, r.Skipped, r.Total)
}

func printMigrateReport(w io.Writer, r legacy.Report, dry bool) {
	fmt.Fprintln(w, reportWords(r, dry))
	for _, n := range r.RenamedNames {
		fmt.Fprintf(w, "renamed: %s (the vault holds another value under %s)\n", n, strings.TrimSuffix(n, legacy.RenameSuffix))
	}
	for _, n := range r.SkippedNames {
		fmt.Fprintf(w, "skipped: %s (the vault holds another value under it)\n", n)
	}
	if dry {
		fmt.Fprintln(w, "dry run: nothing was written")
	}
}

// nameList names at most 5 names, then how many more.
func nameList(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
}

// migrateProgress shows an import's progress: a bar on a terminal, else a
// plain line each 1% of the records and at the end.
type migrateProgress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	total int
	every int
	dry   bool
}

func newMigrateProgress(w io.Writer, total int, dry bool) *migrateProgress {
	p := &migrateProgress{w: w, total: total, every: max(1, total/100), dry: dry}
	if f, ok := w.(*os.File); ok && isTerminal(f) && !dry {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("migrating"),
			progressbar.OptionShowCount(), progressbar.OptionSetItsString("secrets"), progressbar.OptionShowIts(),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *migrateProgress) update(r legacy.Report) {
	switch {
	case p.dry:
	case p.bar != nil:
		p.bar.Set(r.Done)
	case r.Done%p.every == 0 || r.Done == p.total:
		fmt.Fprintf(p.w, "migrate: %d/%d (imported %d, already there %d, skipped %d)\n", r.Done, p.total, r.Imported, r.Already, r.Skipped)
	}
}

func (p *migrateProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// kdfCosts are make-test-export's --kdf-cost choices.
var kdfCosts = map[string]map[string]legacy.KDF{
	"default": {
		"scrypt": {Name: legacy.KDFScrypt, N: 1 << 15, R: 8, P: 1},
		"pbkdf2": {Name: legacy.KDFPBKDF2, Iterations: 600_000},
	},
	"low": {
		"scrypt": {Name: legacy.KDFScrypt, N: 1 << 10, R: 8, P: 1},
		"pbkdf2": {Name: legacy.KDFPBKDF2, Iterations: 1000},
	},
}

func newMakeTestExportCmd() *cobra.Command {
	var out, kdf, cost, pwFile, account string
	var count int
	cmd := &cobra.Command{
		Use:   "make-test-export --out FILE --count N",
		Short: "Write a legacy vault export of N made-up secrets, for tests and demos",
		Long: `Write a legacy vault export (docs/legacy-vault.md) of N realistic, made-up
secrets (API keys, OAuth tokens, passwords, notes), sealed under the legacy
password (--legacy-password-file, else $MESH_LEGACY_PASSWORD, else a prompt
asked twice). --kdf-cost low is for tests and demos only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out: give the file to write")
			}
			if count < 0 || count > legacy.MaxRecords {
				return fmt.Errorf("--count: 0 to %d", legacy.MaxRecords)
			}
			byKDF, ok := kdfCosts[cost]
			if !ok {
				return fmt.Errorf("--kdf-cost %q: want default or low", cost)
			}
			params, ok := byKDF[kdf]
			if !ok {
				return fmt.Errorf("--kdf %q: want scrypt or pbkdf2", kdf)
			}
			pw, err := legacyPasswordSource(pwFile, true).read()
			if err != nil {
				return err
			}
			defer clear(pw)
			now := time.Now()
			ps, err := legacy.Sample(rand.Reader, count, now)
			if err != nil {
				return err
			}
			defer legacy.WipeAll(ps)
			exp, err := legacy.Seal(rand.Reader, pw, params, account, now, ps)
			if err != nil {
				return err
			}
			b, err := exp.Encode()
			if err != nil {
				return err
			}
			// Never replace a file: an export may be the only copy of a
			// real vault's data.
			if err := writeNewFile(out, b); err != nil {
				return fmt.Errorf("writing the export: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %d made-up secrets, %s\n", out, count, kdfWords(params))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the file to write (never replaced)")
	cmd.Flags().IntVar(&count, "count", 20, "how many secrets")
	cmd.Flags().StringVar(&kdf, "kdf", "scrypt", "scrypt or pbkdf2 (PBKDF2-SHA256)")
	cmd.Flags().StringVar(&cost, "kdf-cost", "default", "default (scrypt N=2^15, PBKDF2 600,000 rounds) or low (tests and demos only)")
	cmd.Flags().StringVar(&account, "account", "alice@example.com", "the legacy account the export names")
	cmd.Flags().StringVar(&pwFile, "legacy-password-file", "", "read the legacy vault password from this file (else $MESH_LEGACY_PASSWORD, else a prompt)")
	return cmd
}

func kdfWords(k legacy.KDF) string {
	if k.Name == legacy.KDFScrypt {
		return fmt.Sprintf("scrypt N=%d r=%d p=%d", k.N, k.R, k.P)
	}
	return fmt.Sprintf("pbkdf2-sha256 %d iterations", k.Iterations)
}
