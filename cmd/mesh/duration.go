package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/ocmt/mesh/internal/duration"
)

// Every duration the CLI reads, from a flag or a config file, is read by
// duration.Parse: Go's units plus days and weeks (7d, 2w).

// durationValue is a pflag.Value reading duration.Parse's forms.
type durationValue time.Duration

func (d *durationValue) String() string { return duration.Format(time.Duration(*d)) }
func (d *durationValue) Type() string   { return "duration" }
func (d *durationValue) Set(s string) error {
	v, err := duration.Parse(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// durationVar defines a duration flag that takes days and weeks too:
// every command's duration flag is defined with it (mesh relay grant
// --for included).
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var((*durationValue)(p), name, usage+" (e.g. 90m, 36h, 7d, 2w)")
}

// yamlDuration is a config file's duration: duration.Parse's forms ("30m",
// "7d", 0).
type yamlDuration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *yamlDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like 30m, 36h or 7d", n.Line)
	}
	v, err := duration.Parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = yamlDuration(v)
	return nil
}
