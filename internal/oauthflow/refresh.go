package oauthflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ocmt/mesh/vault"
	"golang.org/x/oauth2"
)

// tracked is what the Flow knows of one stored connection of its
// provider, so that it reads a secret only when it changed or is due.
type tracked struct {
	updated     time.Time // the secret's Updated when it was last read
	adopt       bool      // this Flow wrote it: take the next listed Updated without reading
	expiry      int64     // unix seconds; 0 when unknown
	refreshable bool      // it holds a refresh token
	fails       int       // refreshes failed in a row
	nextTry     time.Time // no attempt before, after a failure
	problem     string    // the last failure in words
}

// Status is what the node knows of one stored connection of the
// provider, for the page that lists them. It holds no token.
type Status struct {
	Name        string
	Expiry      time.Time // zero when unknown
	Refreshable bool      // false: the connection ends at Expiry unless connected again
	Failures    int       // refreshes failed in a row
	Problem     string    // the last failure in words, "" since the last success
	NextTry     time.Time // the next attempt after a failure; zero otherwise
}

// Status lists the connections of the provider the Flow has seen (stored
// by Finish or found by a refresh pass), by name.
func (f *Flow) Status() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, 0, len(f.track))
	for name, t := range f.track {
		out = append(out, Status{Name: name, Expiry: unixOrZero(t.expiry), Refreshable: t.refreshable,
			Failures: t.fails, Problem: t.problem, NextTry: t.nextTry})
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Run refreshes the provider's tokens until ctx ends: a pass at once, then
// one every CheckEvery. Failures are logged (never a token) and retried
// with backoff. It returns nil when ctx ends, or ErrConfig at once when
// the Config cannot list and read secrets.
func (f *Flow) Run(ctx context.Context) error {
	if f.cfg.List == nil {
		return errNoRefresh
	}
	for {
		if _, err := f.RefreshDue(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Logger.Warn("oauth refresh pass failed", "provider", f.cfg.Provider.Name, "problem", err.Error())
		}
		t := time.NewTimer(CheckEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

var errNoRefresh = refuse(ErrConfig, "refreshing needs a way to list secrets and a way to read one")

// RefreshDue makes one refresh pass: it lists the vault's oauth_token
// secrets of the provider, reads those it has not seen or that changed,
// and refreshes each whose expiry is within RefreshBefore and whose
// backoff has passed, keeping the stored refresh token when the endpoint
// sends none. It returns how many it refreshed; a failed refresh is
// logged and kept in Status, and only a failed listing is an error.
func (f *Flow) RefreshDue(ctx context.Context) (refreshed int, err error) {
	if f.cfg.List == nil {
		return 0, errNoRefresh
	}
	f.passMu.Lock()
	defer f.passMu.Unlock()
	infos, err := f.cfg.List(ctx)
	if err != nil {
		return 0, refuse(ErrStore, fmt.Sprintf("the node could not list its secrets to refresh its %s connections: %v", f.title, err), err)
	}
	seen := map[string]bool{}
	for _, in := range infos {
		if in.Type != vault.TypeOAuthToken || in.Provider != f.cfg.Provider.Name {
			continue
		}
		seen[in.Name] = true
		t, ok := f.learn(ctx, in)
		if !ok || !f.due(t, f.cfg.Now()) {
			continue
		}
		if f.refreshOne(ctx, in.Name) {
			refreshed++
		}
	}
	f.mu.Lock()
	for name := range f.track {
		if !seen[name] {
			delete(f.track, name)
		}
	}
	f.mu.Unlock()
	return refreshed, nil
}

// learn returns what is known of the listed secret in, reading it when it
// is new or was changed by another writer.
func (f *Flow) learn(ctx context.Context, in vault.SecretInfo) (tracked, bool) {
	f.mu.Lock()
	t := f.track[in.Name]
	if t != nil && t.adopt {
		t.updated, t.adopt = in.Updated, false
	}
	if t != nil && t.updated.Equal(in.Updated) {
		known := *t
		f.mu.Unlock()
		return known, true
	}
	f.mu.Unlock()
	s, err := f.cfg.Load(ctx, in.Name)
	if err != nil {
		f.cfg.Logger.Warn("oauth connection unreadable", "provider", f.cfg.Provider.Name, "name", in.Name, "problem", err.Error())
		return tracked{}, false
	}
	defer s.Wipe()
	t = &tracked{updated: in.Updated, expiry: s.Expiry, refreshable: len(s.Refresh) > 0}
	f.mu.Lock()
	f.track[in.Name] = t
	f.mu.Unlock()
	return *t, true
}

// due reports whether t should be refreshed at now.
func (f *Flow) due(t tracked, now time.Time) bool {
	if !t.refreshable || t.expiry == 0 || now.Before(t.nextTry) {
		return false
	}
	return !now.Before(time.Unix(t.expiry, 0).Add(-f.cfg.RefreshBefore))
}

// refreshOne refreshes the secret name and reports whether it stored a
// new token.
func (f *Flow) refreshOne(ctx context.Context, name string) bool {
	gen := f.generation(name)
	s, err := f.cfg.Load(ctx, name)
	if err != nil {
		f.failed(name, refuse(ErrStore, fmt.Sprintf("the node could not read the %s connection %q to refresh it: %v", f.title, name, err), err))
		return false
	}
	defer s.Wipe()
	if s.Type != vault.TypeOAuthToken || s.Provider != f.cfg.Provider.Name || len(s.Refresh) == 0 {
		f.mu.Lock()
		if t := f.track[name]; t != nil {
			t.refreshable = false
		}
		f.mu.Unlock()
		return false
	}
	f.mu.Lock()
	t := f.track[name]
	if t != nil {
		t.expiry = s.Expiry // the secret read now is the truth
	}
	due := t != nil && f.due(*t, f.cfg.Now())
	f.mu.Unlock()
	if !due {
		return false
	}
	tok, err := f.exchange(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		return f.oauthConfig(nil).TokenSource(ctx, &oauth2.Token{RefreshToken: string(s.Refresh)}).Token()
	})
	if err != nil {
		f.failed(name, f.tokenError(err, true))
		return false
	}
	scopes, err := f.granted(tok, s.Scopes)
	if err != nil {
		f.failed(name, err)
		return false
	}
	ns := vault.Secret{
		Name:     s.Name,
		Type:     vault.TypeOAuthToken,
		Provider: s.Provider,
		Username: s.Username,
		Scopes:   scopes,
		Expiry:   f.expiry(tok),
		Value:    []byte(tok.AccessToken),
		Refresh:  []byte(tok.RefreshToken),
	}
	if len(ns.Refresh) == 0 {
		ns.Refresh = slices.Clone(s.Refresh) // the endpoint sent none: the old one stays valid
	}
	defer ns.Wipe()
	switch err := f.store(ctx, ns, &gen); {
	case errors.Is(err, errReplaced):
		f.cfg.Logger.Info("oauth refresh dropped: the connection was replaced meanwhile", "provider", ns.Provider, "name", name)
		return false
	case err != nil:
		f.failed(name, err)
		return false
	}
	f.cfg.Logger.Info("oauth token refreshed", "provider", ns.Provider, "name", name, "expiry", unixOrZero(ns.Expiry))
	return true
}

// failed records a failed refresh of name, sets its next attempt after
// backoff and logs it in words.
func (f *Flow) failed(name string, err error) {
	now := f.cfg.Now()
	f.mu.Lock()
	t := f.track[name]
	if t == nil {
		t = &tracked{}
		f.track[name] = t
	}
	t.fails++
	wait := backoff(t.fails)
	t.nextTry, t.problem = now.Add(wait), err.Error()
	f.mu.Unlock()
	f.cfg.Logger.Warn("oauth refresh failed", "provider", f.cfg.Provider.Name, "name", name, "problem", err.Error(), "retry_in", wait)
}

// backoff is the wait after the nth failure in a row: RetryMin, doubled
// for each further failure, at most RetryMax.
func backoff(n int) time.Duration {
	d := RetryMin
	for i := 1; i < n && d < RetryMax; i++ {
		d *= 2
	}
	return min(d, RetryMax)
}

// unixOrZero is the time of unix seconds u, or the zero time for 0.
func unixOrZero(u int64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(u, 0).UTC()
}
