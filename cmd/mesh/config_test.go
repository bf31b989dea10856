package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ocmt/mesh/node"
)

func TestExampleConfigsParse(t *testing.T) {
	fc, err := loadNodeConfig("../../configs/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Listen) != 2 {
		t.Fatalf("listen = %v, want the two documented defaults", fc.Listen)
	}
	for _, f := range []string{"../../configs/bootstrap.yaml", "../../configs/relay.yaml"} {
		if _, err := loadInfraConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	rc, _ := loadInfraConfig("../../configs/relay.yaml")
	if rc.MaxReservations != 4096 || rc.Metrics == "" || len(rc.Bootstrap) != 1 {
		t.Fatalf("relay.yaml = %+v", rc)
	}
	if _, err := loadNodeConfig("../../configs/relay.yaml"); err == nil {
		t.Fatal("a relay file was accepted as a node config: unknown fields must be refused")
	}
}

// TestEveryNodeFlagHasAConfigField: each mesh node flag but --config has
// a field in nodeFile and in configs/node.yaml, where a comment above it
// names the flag and its default.
func TestEveryNodeFlagHasAConfigField(t *testing.T) {
	fields := map[string]bool{}
	typ := reflect.TypeOf(nodeFile{})
	for i := range typ.NumField() {
		fields[typ.Field(i).Tag.Get("yaml")] = true
	}
	b, err := os.ReadFile("../../configs/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rename := map[string]string{"relay": "relays", "relay-token": "relay_tokens"}
	newNodeCmd(&globals{}).Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "help" {
			return
		}
		key := strings.ReplaceAll(f.Name, "-", "_")
		if r, ok := rename[f.Name]; ok {
			key = r
		}
		if !fields[key] {
			t.Errorf("--%s has no field %q in nodeFile", f.Name, key)
		}
		i := strings.Index(doc, "\n"+key+":")
		if i < 0 {
			t.Errorf("configs/node.yaml has no %s:", key)
			return
		}
		comment := doc[:i]
		if j := strings.LastIndex(comment, "\n\n"); j >= 0 {
			comment = comment[j:]
		}
		if !strings.Contains(comment, "--"+f.Name) || !strings.Contains(comment, "Default") {
			t.Errorf("configs/node.yaml: the comment above %s: does not name --%s and its default:%s", key, f.Name, comment)
		}
	})
	fc, err := loadNodeConfig("../../configs/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if fc.LockAfter == nil || time.Duration(*fc.LockAfter) != node.DefaultLockAfter || fc.Metrics != "" || fc.Handle != "" {
		t.Fatalf("node.yaml's values are not the flags' defaults: %+v", fc)
	}
}

// TestHelpNamesOnlyFlagsThatExist: a flag a command's help mentions
// exists, on that command or another, and every command says what it
// does.
func TestHelpNamesOnlyFlagsThatExist(t *testing.T) {
	root := newRoot()
	flags := map[string]bool{"help": true}
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		c.Flags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	mention := regexp.MustCompile(`--([a-z][a-z-]*[a-z])`)
	for _, c := range all {
		if c.Short == "" && c.Name() != "completion" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		text := c.Long + " " + c.Short
		c.Flags().VisitAll(func(f *pflag.Flag) { text += " " + f.Usage })
		for _, m := range mention.FindAllStringSubmatch(text, -1) {
			if !flags[m[1]] {
				t.Errorf("%s's help mentions --%s, which no command has", c.CommandPath(), m[1])
			}
		}
	}
}
