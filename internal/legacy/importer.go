package legacy

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/ocmt/mesh/vault"
)

// Target is where secrets are imported: a home node's vault, through the
// running node's API or opened directly (localapi.Backend is one).
type Target interface {
	SecretList(ctx context.Context) ([]vault.SecretInfo, error)
	SecretGet(ctx context.Context, name string) (vault.Secret, error)
	SecretSet(ctx context.Context, s vault.Secret) error
}

// OnConflict says what to do with a legacy secret whose name the vault
// already holds with another value or description.
type OnConflict int

const (
	// Rename (the default) keeps the vault's secret and imports the
	// legacy one as NAME + RenameSuffix, unless that name is taken too.
	Rename OnConflict = iota
	// Skip keeps the vault's secret and imports nothing for that name.
	Skip
	// Overwrite replaces the vault's secret with the legacy one.
	Overwrite
)

// RenameSuffix is what Rename appends to a conflicting name.
const RenameSuffix = ".legacy"

// ParseOnConflict reads "rename", "skip" or "overwrite".
func ParseOnConflict(s string) (OnConflict, error) {
	switch s {
	case "rename":
		return Rename, nil
	case "skip":
		return Skip, nil
	case "overwrite":
		return Overwrite, nil
	}
	return 0, fmt.Errorf("--on-conflict %q: want rename, skip or overwrite", s)
}

// Options configure Import. The zero value renames on conflict, writes,
// and reports no progress.
type Options struct {
	OnConflict OnConflict
	// DryRun plans and reports without writing anything.
	DryRun bool
	// Progress, if set, is called after each record is done (written and
	// verified, found already there, or skipped) in the write phase.
	Progress func(Report)
}

// Report counts what an import did (or, in a dry run, would do).
type Report struct {
	Total       int // records in the export
	Done        int // records handled so far
	Imported    int // written and verified (Renamed and Overwritten included)
	Renamed     int // of Imported: written as NAME.legacy
	Overwritten int // of Imported: replaced a vault secret of the same name
	Already     int // the vault already holds it, same value (an earlier run)
	Skipped     int // not imported: a conflict Skip or a taken rename
	// SkippedNames and RenamedNames name the conflicts, in export order.
	SkippedNames []string
	RenamedNames []string // the new names
}

// action is the plan for one record.
type action int

const (
	actWrite action = iota
	actAlready
	actSkip
)

type step struct {
	act       action
	name      string // where it goes
	renamed   bool
	overwrite bool
}

// Import writes ps into t, in order, and returns what it did. It lists
// the vault's secrets once; then for each record it decides (a read of
// the name when the vault already holds it, to compare) and writes: each
// secret is written, read back and compared (both copies wiped); a
// mismatch stops the import. Re-running it after a crash or a finished
// run imports nothing twice: a secret the vault already holds with the
// same value and description counts as Already. The caller checks the
// export (Open) first, so nothing is written from an export that does
// not verify.
//
// Decisions made one record at a time equal decisions made all first:
// a record writes only its own name or NAME.legacy, which is no other
// record's name (see decide), so no write changes what a later record
// finds.
func Import(ctx context.Context, t Target, ps []Plain, opt Options) (Report, error) {
	rep := Report{Total: len(ps)}
	list, err := t.SecretList(ctx)
	if err != nil {
		return rep, fmt.Errorf("listing the vault's secrets: %w", err)
	}
	held := make(map[string]bool, len(list))
	for _, s := range list {
		held[s.Name] = true
	}
	inExport := make(map[string]bool, len(ps))
	for _, p := range ps {
		inExport[p.Name] = true
	}
	for i := range ps {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		st, err := decide(ctx, t, &ps[i], held, inExport, opt.OnConflict)
		if err != nil {
			return rep, err
		}
		switch st.act {
		case actAlready:
			rep.Already++
		case actSkip:
			rep.Skipped++
			rep.SkippedNames = append(rep.SkippedNames, ps[i].Name)
		case actWrite:
			if !opt.DryRun {
				if err := writeVerified(ctx, t, &ps[i], st.name); err != nil {
					return rep, err
				}
			}
			rep.Imported++
			if st.renamed {
				rep.Renamed++
				rep.RenamedNames = append(rep.RenamedNames, st.name)
			}
			if st.overwrite {
				rep.Overwritten++
			}
		}
		rep.Done++
		if opt.Progress != nil {
			opt.Progress(rep)
		}
	}
	return rep, nil
}

// decide is one record's step, from what the vault held when the import
// started (held) and the export's names.
func decide(ctx context.Context, t Target, p *Plain, held, inExport map[string]bool, on OnConflict) (step, error) {
	// same reports whether the vault holds p under name, same in all but
	// the time it was stored.
	same := func(name string) (bool, error) {
		got, err := t.SecretGet(ctx, name)
		if err != nil {
			return false, fmt.Errorf("reading %q to compare it: %w", name, err)
		}
		defer got.Wipe()
		want := p.Secret()
		want.Name = name
		return equalSecret(&got, &want), nil
	}
	if !held[p.Name] {
		return step{act: actWrite, name: p.Name}, nil
	}
	eq, err := same(p.Name)
	switch {
	case err != nil:
		return step{}, err
	case eq:
		return step{act: actAlready, name: p.Name}, nil
	case on == Overwrite:
		return step{act: actWrite, name: p.Name, overwrite: true}, nil
	case on == Skip:
		return step{act: actSkip}, nil
	}
	// Rename. A name another record of the export has is never taken, so
	// a re-run decides the same way.
	alt := p.Name + RenameSuffix
	if inExport[alt] || vault.CheckName(alt) != nil {
		return step{act: actSkip}, nil
	}
	if !held[alt] {
		return step{act: actWrite, name: alt, renamed: true}, nil
	}
	if eq, err = same(alt); err != nil {
		return step{}, err
	}
	if eq {
		return step{act: actAlready, name: alt}, nil
	}
	return step{act: actSkip}, nil
}

// ErrVerify means a secret read back after writing it differs from what
// was written.
var ErrVerify = errors.New("a secret read back differs from what was written")

func writeVerified(ctx context.Context, t Target, p *Plain, name string) error {
	s := p.Secret()
	s.Name = name
	if err := t.SecretSet(ctx, s); err != nil {
		return fmt.Errorf("writing %q: %w", name, err)
	}
	got, err := t.SecretGet(ctx, name)
	if err != nil {
		return fmt.Errorf("reading %q back: %w", name, err)
	}
	defer got.Wipe()
	if !equalSecret(&got, &s) {
		return fmt.Errorf("%w: %q", ErrVerify, name)
	}
	return nil
}

// equalSecret compares everything but Updated (set by the vault); the
// secret parts in constant time.
func equalSecret(a, b *vault.Secret) bool {
	meta := a.Name == b.Name && a.Type == b.Type && a.Provider == b.Provider && a.Username == b.Username &&
		a.Expiry == b.Expiry && slices.Equal(a.Scopes, b.Scopes)
	v := subtle.ConstantTimeCompare(a.Value, b.Value) == 1
	r := subtle.ConstantTimeCompare(a.Refresh, b.Refresh) == 1 || (len(a.Refresh) == 0 && len(b.Refresh) == 0)
	return meta && v && r
}
