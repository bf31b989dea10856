package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ocmt/mesh/node/infra"
)

// TestEveryBootstrapLimitIsConfigurable: every field of
// infra.BootstrapLimits has a field in infraFile that bootstrapLimits
// passes on, a key in configs/bootstrap.yaml set to its default under a
// comment that says "Default", and a line in docs/scaling.md.
func TestEveryBootstrapLimitIsConfigurable(t *testing.T) {
	file := reflect.TypeOf(infraFile{})
	yaml, err := os.ReadFile("../../configs/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scaling, err := os.ReadFile("../../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := loadInfraConfig("../../configs/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := reflect.ValueOf(fc.bootstrapLimits())
	lim := reflect.TypeOf(infra.BootstrapLimits{})
	for i := range lim.NumField() {
		name := lim.Field(i).Name
		f, ok := file.FieldByName(name)
		if !ok {
			t.Errorf("infra.BootstrapLimits.%s has no field in infraFile", name)
			continue
		}
		key := f.Tag.Get("yaml")
		doc := string(yaml)
		at := strings.Index(doc, "\n"+key+":")
		if at < 0 {
			t.Errorf("configs/bootstrap.yaml has no %s:", key)
			continue
		}
		comment := doc[:at]
		if j := strings.LastIndex(comment, "\n\n"); j >= 0 {
			comment = comment[j:]
		}
		if !strings.Contains(comment, "Default") {
			t.Errorf("configs/bootstrap.yaml: the comment above %s: gives no default:%s", key, comment)
		}
		if !strings.Contains(string(scaling), "`"+key+"`") {
			t.Errorf("docs/scaling.md does not list `%s`", key)
		}
		if got.Field(i).IsZero() {
			t.Errorf("bootstrapLimits does not pass %s (%s) on, or configs/bootstrap.yaml leaves it 0", name, key)
		}
	}
	want := infra.BootstrapLimits{
		MaxConns:          infra.DefaultBootstrapMaxConns,
		MaxConnsPerIP:     infra.DefaultBootstrapMaxConnsPerIP,
		MaxHandshakes:     infra.DefaultBootstrapMaxHandshakes,
		MaxStreams:        infra.DefaultBootstrapMaxStreams,
		MaxStreamsPerPeer: infra.DefaultBootstrapMaxStreamsPerPeer,
		MaxMemory:         infra.DefaultBootstrapMaxMemory,
		FDMargin:          infra.DefaultBootstrapFDMargin,
	}
	if l := fc.bootstrapLimits(); l != want {
		t.Errorf("configs/bootstrap.yaml does not set every limit to its default:\n got %+v\nwant %+v", l, want)
	}
}
