package wakehook

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

func TestTemplateSplitsLikeAPlainShellCommand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"mesh node --home /homes/{handle}", []string{"mesh", "node", "--home", "/homes/{handle}"}},
		{"  a\tb\n c  ", []string{"a", "b", "c"}},
		{`prog 'two words' "and \"more\"" x\ y`, []string{"prog", "two words", `and "more"`, "x y"}},
		{`prog 'a\b' "c\d" "e\\f"`, []string{"prog", `a\b`, `c\d`, `e\f`}},
		{`prog a'b c'd "" ''`, []string{"prog", "ab cd", "", ""}},
		{`prog '$HOME' ; | > $(x) *`, []string{"prog", "$HOME", ";", "|", ">", "$(x)", "*"}},
		{`prog {"json": 1} {} {X}`, []string{"prog", "{json:", "1}", "{}", "{X}"}},
		{`prog --peer={peer} "{handle} {peer}"`, []string{"prog", "--peer={peer}", "{handle} {peer}"}},
	} {
		tpl, err := ParseTemplate(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := tpl.Args(); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTemplateRefusals(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "names no program",
		"   ":                                   "names no program",
		"'' arg":                                "names no program",
		"prog 'open":                            "single quote at byte 6 is never closed",
		`prog "open \"`:                         "double quote at byte 6 is never closed",
		`prog trailing\`:                        "lone backslash",
		"/homes/{handle}/bin/wake":              "program itself may not depend",
		"prog {hadle}":                          "unknown placeholder {hadle}",
		"prog --x={peers}":                      "unknown placeholder {peers}",
		strings.Repeat("a ", MaxArgs+1):         "65 words",
		strings.Repeat("a", MaxTemplateBytes+1): "4097 bytes",
		"prog a\x00b":                           "NUL",
	} {
		_, err := ParseTemplate(in)
		if err == nil || !errors.Is(err, ErrBadTemplate) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestExpandNeverMakesOrMergesWords(t *testing.T) {
	tpl, err := ParseTemplate(`prog --home=/homes/{handle} {peer} "x {handle} y"`)
	if err != nil {
		t.Fatal(err)
	}
	id := testkit.Key(t, "alice").ID()
	got, err := tpl.Expand(Target{Handle: "al-ice_2", Peer: id})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"prog", "--home=/homes/al-ice_2", id.String(), "x al-ice_2 y"}
	if !slices.Equal(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
	for _, bad := range []Target{
		{Handle: "a b", Peer: id}, {Handle: "../etc", Peer: id}, {Handle: "x;rm", Peer: id},
		{Handle: "Alice", Peer: id}, {Handle: "a", Peer: id}, {Handle: strings.Repeat("a", 33), Peer: id},
		{Handle: "alice", Peer: ""}, {Handle: "alice", Peer: "not a peer"},
	} {
		if _, err := tpl.Expand(bad); !errors.Is(err, ErrBadTarget) {
			t.Errorf("%+v: %v, want ErrBadTarget", bad, err)
		}
	}
}

// TestHandleRuleIsTheDirectorys: a handle the directory accepts is one a
// hook takes, and the other way round.
func TestHandleRuleIsTheDirectorys(t *testing.T) {
	if MinHandleLen != directory.MinHandleLen || MaxHandleLen != directory.MaxHandleLen {
		t.Fatal("handle lengths differ from the directory's")
	}
	id := testkit.Key(t, "alice").ID()
	cands := []string{"ab", "a", "alice", "a-b_c9", "Alice", "al ice", "é1", "a.b", "a/b", strings.Repeat("z", 32), strings.Repeat("z", 33), ""}
	for c := 0; c < 256; c++ {
		cands = append(cands, "x"+string(rune(c)))
	}
	for _, h := range cands {
		_, derr := directory.ParseHandle(h)
		herr := CheckTarget(Target{Handle: h, Peer: id})
		if (derr == nil) != (herr == nil) {
			t.Errorf("%q: directory %v, hook %v", h, derr, herr)
		}
	}
}
