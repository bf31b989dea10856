package main

import (
	"encoding/json"

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
