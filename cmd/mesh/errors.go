package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// errorLine is the one line mesh prints for a failed command: the error
// as a sentence (packages word theirs; the node words its own at its
// Backend boundary, node/words.go), plus what to do where that depends on
// the command that ran.
func errorLine(cmd *cobra.Command, err error) string {
	var stopped *localapi.NodeStoppedError
	var msg string
	switch {
	case errors.As(err, &stopped):
		msg = nodeStopped(cmd, stopped)
	default:
		msg = err.Error()
	}
	if errors.Is(err, vault.ErrLocked) && !strings.Contains(msg, "mesh unlock") {
		msg += " (run `mesh unlock`)"
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " ")
}

// flagErrorText is how pflag words a value a flag refused.
var flagErrorText = regexp.MustCompile(`^invalid argument ".*" for "(.*)" flag: (.*)$`)

// flagError words a refused flag value as "--for: why", and points at
// the command's help for a flag it does not have.
func flagError(cmd *cobra.Command, err error) error {
	if m := flagErrorText.FindStringSubmatch(err.Error()); m != nil {
		name := m[1]
		if i := strings.LastIndex(name, "--"); i >= 0 {
			name = name[i:] // "-v, --verbose" → "--verbose"
		}
		return fmt.Errorf("%s: %s", name, m[2])
	}
	return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
}

// checkWith names, for each command that changes something, the command
// that shows whether it was done.
var checkWith = map[string]string{
	"mesh secret set":    "mesh secret list",
	"mesh migrate":       "mesh secret list",
	"mesh secret rm":     "mesh secret list",
	"mesh put":           "mesh ls",
	"mesh rm":            "mesh ls",
	"mesh share":         "mesh shares",
	"mesh revoke":        "mesh shares",
	"mesh token issue":   "mesh audit",
	"mesh token use":     "mesh shared",
	"mesh unlock":        "mesh status",
	"mesh lock":          "mesh status",
	"mesh passwd":        "mesh unlock (with the new password, or else the old one)",
	"mesh handle":        "mesh handle",
	"mesh contacts":      "mesh contacts",
	"mesh secret get":    "",
	"mesh secret list":   "",
	"mesh status":        "",
	"mesh get":           "",
	"mesh ls":            "",
	"mesh shares":        "",
	"mesh shared":        "",
	"mesh audit":         "",
	"mesh token inspect": "",
}

// nodeStopped says what a node that stopped under a command means for
// that command, and what to do.
func nodeStopped(cmd *cobra.Command, e *localapi.NodeStoppedError) string {
	const restart = "start it again with mesh node"
	if !e.Sent {
		return e.Error() + ": " + restart + ", then run this again"
	}
	path := ""
	if cmd != nil {
		path = cmd.CommandPath()
	}
	check, known := checkWith[path]
	switch {
	case known && check == "":
		return "the node stopped while handling this command, which changes nothing: " + restart + ", then run this again"
	case !known:
		check = "mesh audit"
	}
	return fmt.Sprintf("%s: %s, then check with %s", e.Error(), restart, check)
}
