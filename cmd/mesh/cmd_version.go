package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what mesh version prints: the module's version, the
// commit it was built from (as the go tool stamped it), and the Go
// release that built it.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`            // "(devel)" for a build from a checkout
	Revision string `json:"revision,omitempty"` // VCS commit
	Time     string `json:"time,omitempty"`     // commit time, RFC 3339
	Modified bool   `json:"modified"`           // built from a tree with uncommitted changes
	Go       string `json:"go"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "github.com/ocmt/mesh", Version: "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Version, v.Go = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print mesh's version, the commit it was built from and the Go release",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if jsonOut {
				return printJSON(cmd, v)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "mesh %s (%s)\n", v.Version, v.Module)
			if v.Revision != "" {
				mod := ""
				if v.Modified {
					mod = ", with uncommitted changes"
				}
				fmt.Fprintf(out, "commit %s%s\n", v.Revision, mod)
				if v.Time != "" {
					fmt.Fprintf(out, "committed %s\n", v.Time)
				}
			}
			fmt.Fprintf(out, "built with %s\n", v.Go)
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}
