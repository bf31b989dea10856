package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"
)

// JSON output: every command that prints data takes --json and then
// prints one JSON value on stdout. A field has one name and one JSON type
// in every command: times are RFC 3339 strings (never unix numbers), IDs
// are hex strings, actions are lists of names, peers are peer ID strings.

// jsonFlag adds --json to cmd, stored in p.
func jsonFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "json", false, "print JSON instead (times in RFC 3339)")
}

// printJSON writes v as one line of JSON on cmd's stdout.
func printJSON(cmd *cobra.Command, v any) error {
	return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
}

// writeNewFile writes data to a new file with mode 0600; it never
// replaces a file (a key, a phrase or an export may be the only copy),
// and leaves none behind when the write fails.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(path)
	}
	return werr
}
