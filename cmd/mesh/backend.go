package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// need says what a command requires of its backend.
type need int

const (
	needAny      need = iota // a running node, or the vault opened directly (locked)
	needUnlocked             // as needAny, but a direct vault is unlocked with the password
	needNode                 // a running node (the command talks to other peers)
	// needKeyIfGiven is needUnlocked when a password is at hand (a file,
	// $MESH_PASSWORD or a terminal), else needAny: mesh audit checks
	// every record with the vault key when it can, and the structure
	// without a way to ask.
	needKeyIfGiven
)

// open returns the backend a command needs; callers Close it. It is the
// running node's API client or, when no node runs, the vault opened
// directly (unlocked with the user's password for needUnlocked; a running
// node is unlocked with `mesh unlock`). A direct unlock derives the
// password's key before it opens the store for the command, so parallel
// commands take turns on the store only for their work. A socket left by a node that
// crashed falls back the same way, but a command that cannot go on
// without the node says so instead of asking for a password.
func (g *globals) open(cmd *cobra.Command, n need) (localapi.Backend, error) {
	ctx := cmd.Context()
	c, err := localapi.Dial(ctx, g.Home().SocketPath())
	if err == nil {
		return c, nil
	}
	if errors.Is(err, localapi.ErrForbidden) {
		return nil, err // a node runs, as another user: opening its vault directly would be wrong too
	}
	stale := errors.Is(err, localapi.ErrStaleSocket)
	if n == needNode {
		if stale {
			return nil, g.staleSocket("")
		}
		return nil, errNoNodeRunning
	}
	if n == needKeyIfGiven {
		n = needAny
		if g.passwordAtHand() {
			n = needUnlocked
		}
	}
	if n != needUnlocked {
		l, err := node.Open(ctx, g.Home(), node.Options{})
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	// The password's key is derived (Argon2id) before the store is opened
	// for the command, so parallel commands hold it for their work only
	// (node.KeyParams).
	params, err := node.KeyParams(ctx, g.Home())
	if err != nil {
		return nil, err
	}
	pw, err := readPassword(g, "Vault password: ", false)
	if err != nil {
		if stale {
			return nil, g.staleSocket("give the password (--password-file or $MESH_PASSWORD) so this command opens the vault itself")
		}
		return nil, err
	}
	defer clear(pw)
	key := params.Derive(pw)
	defer key.Wipe()
	l, err := node.Open(ctx, g.Home(), node.Options{})
	if err != nil {
		return nil, err
	}
	if err := waitOutBackoff(cmd, func() error { return l.UnlockPrepared(ctx, key, pw) }); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// staleSocket says that the node that made the socket is gone, and what
// to do: start it again, or else what the command needs without it.
func (g *globals) staleSocket(orElse string) error {
	msg := fmt.Sprintf("the node at %s is not running (stale socket: it stopped without cleaning up, as after a crash or a kill); start it again with mesh node", g.home)
	if orElse != "" {
		msg += ", or " + orElse
	}
	return errors.New(msg)
}

var errNoNodeRunning = errors.New("no mesh node is running on this home folder; start one with `mesh node` (without a node, commands open the vault directly and ask for the password each time)")

// maxBackoffWaits bounds how many unlock backoffs one command waits out:
// more means someone else keeps trying wrong passwords.
const maxBackoffWaits = 3

// unlockWaiting unlocks b with pw, waiting out a failed-unlock backoff.
func unlockWaiting(cmd *cobra.Command, b localapi.Backend, pw []byte) error {
	return waitOutBackoff(cmd, func() error { return b.Unlock(cmd.Context(), pw) })
}

// waitOutBackoff runs try; while the vault refuses it because wrong
// passwords are being waited out, it says so on stderr ("too many wrong
// passwords: next try in 12 s"), waits, with a countdown on a terminal,
// and tries once more. It never tries before the vault allows it.
func waitOutBackoff(cmd *cobra.Command, try func() error) error {
	for waited := 0; ; waited++ {
		err := try()
		var be *vault.BackoffError
		if !errors.As(err, &be) || waited == maxBackoffWaits {
			return err
		}
		if err := showWait(cmd.Context(), cmd.ErrOrStderr(), be.Wait); err != nil {
			return err
		}
	}
}

// showWait waits d, saying so: one line, and on a terminal a countdown
// rewritten once a second. It returns the context's error if the command
// is interrupted.
func showWait(ctx context.Context, w io.Writer, d time.Duration) error {
	d = max(d, 0)
	line := func(left time.Duration) string {
		secs := max(int64((left+time.Second-1)/time.Second), 1)
		return fmt.Sprintf("too many wrong passwords: next try in %d s", secs)
	}
	f, isFile := w.(*os.File)
	if !isFile || !isTerminal(f) {
		fmt.Fprintln(w, line(d)+"; waiting")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	end := time.Now().Add(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		left := time.Until(end)
		if left <= 0 {
			fmt.Fprintln(w, "\r"+line(0)+"; trying   ")
			return nil
		}
		fmt.Fprint(w, "\r"+line(left)+"   ")
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return ctx.Err()
		case <-tick.C:
		case <-time.After(left):
		}
	}
}
