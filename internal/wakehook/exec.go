package wakehook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
)

// Output caps of a wake command: its lines go to the relay's log, so a
// chatty or hostile command cannot fill it.
const (
	// MaxLogLine bounds one logged line; the rest of a longer line is
	// dropped and the line marked truncated.
	MaxLogLine = 1024
	// MaxLogLines bounds the lines logged per command and stream; the
	// rest is read and dropped, with one notice.
	MaxLogLines = 1000
)

// Environment variables a wake command gets besides its environment.
const (
	EnvHandle = "OCMT_WAKE_HANDLE"
	EnvPeer   = "OCMT_WAKE_PEER"
)

// ExecConfig configures an Exec hook.
type ExecConfig struct {
	// Default is the template for a handle PerHandle does not name; ""
	// wakes only the handles PerHandle names.
	Default string
	// PerHandle overrides Default for some handles (handle → template).
	PerHandle map[string]string
	// Env is the commands' environment; nil is the relay's own. EnvHandle
	// and EnvPeer are added either way.
	Env []string
	// Dir is the commands' working directory; "" is the relay's.
	Dir string
	// Logger receives the commands' output lines and exit statuses;
	// default discards.
	Logger *slog.Logger
}

// Exec wakes a node by running a command on the relay host.
type Exec struct {
	def       *Template
	perHandle map[string]*Template
	env       []string
	dir       string
	log       *slog.Logger
	children  sync.WaitGroup
}

// NewExec parses every template of cfg; any that does not parse, or a
// PerHandle key that is not a handle, is an error naming it.
func NewExec(cfg ExecConfig) (*Exec, error) {
	e := &Exec{perHandle: map[string]*Template{}, env: cfg.Env, dir: cfg.Dir, log: cfg.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("hook", "exec")
	if cfg.Default != "" {
		t, err := ParseTemplate(cfg.Default)
		if err != nil {
			return nil, fmt.Errorf("the default wake command: %w", err)
		}
		e.def = t
	}
	for h, s := range cfg.PerHandle {
		if err := checkHandle(h); err != nil {
			return nil, fmt.Errorf("the wake command for %q: %w", h, err)
		}
		t, err := ParseTemplate(s)
		if err != nil {
			return nil, fmt.Errorf("the wake command for %s: %w", h, err)
		}
		e.perHandle[h] = t
	}
	if e.def == nil && len(e.perHandle) == 0 {
		return nil, fmt.Errorf("%w: no command is configured", ErrBadTemplate)
	}
	return e, nil
}

// ErrNoCommand is returned for a handle no template covers.
var ErrNoCommand = errors.New("no wake command is configured for this handle")

// Command is the command line Wake would run for t.
func (e *Exec) Command(t Target) ([]string, error) {
	if err := CheckTarget(t); err != nil {
		return nil, err
	}
	tpl := e.perHandle[t.Handle]
	if tpl == nil {
		tpl = e.def
	}
	if tpl == nil {
		return nil, fmt.Errorf("%s: %w", t.Handle, ErrNoCommand)
	}
	return tpl.Expand(t)
}

// Wake starts the command for t, detached in a process group of its own
// with no input, and returns once it has started (or failed to). Its
// output lines are logged as they come and it is reaped in the
// background; ctx only bounds the start, never the command.
func (e *Exec) Wake(ctx context.Context, t Target) error {
	args, err := e.Command(t)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd := exec.Command(args[0], args[1:]...)
	env := e.env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(append([]string(nil), env...), EnvHandle+"="+t.Handle, EnvPeer+"="+t.Peer.String())
	cmd.Dir = e.dir
	detach(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("preparing the wake command for %s: %w", t.Handle, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("preparing the wake command for %s: %w", t.Handle, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the wake command for %s: %w", t.Handle, err)
	}
	log := e.log.With("handle", t.Handle, "peer", t.Peer.String(), "pid", cmd.Process.Pid)
	log.Info("wake command started", "program", args[0])
	e.children.Add(1)
	go func() {
		defer e.children.Done()
		var readers sync.WaitGroup
		readers.Go(func() { logLines(log, "stdout", stdout) })
		readers.Go(func() { logLines(log, "stderr", stderr) })
		readers.Wait() // every line read before Wait closes the pipes
		if err := cmd.Wait(); err != nil {
			log.Warn("wake command failed", "err", err)
			return
		}
		log.Info("wake command exited")
	}()
	return nil
}

// Wait blocks until every command started so far has exited and been
// reaped (shutdown, tests).
func (e *Exec) Wait() { e.children.Wait() }

// logLines logs r's lines, each cut at MaxLogLine bytes, at most
// MaxLogLines of them, and reads the rest to its end.
func logLines(log *slog.Logger, stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, MaxLogLine)
	n := 0
	for {
		line, prefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !prefix) {
			switch {
			case n < MaxLogLines:
				log.Info("wake command output", "stream", stream, "line", string(line), "truncated", prefix)
			case n == MaxLogLines:
				log.Warn("wake command output: further lines are not logged", "stream", stream)
			}
			n++
		}
		for prefix && err == nil { // drop the rest of a long line
			_, prefix, err = br.ReadLine()
		}
		if err != nil {
			return
		}
	}
}
