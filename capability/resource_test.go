package capability

import (
	"errors"
	"strings"
	"testing"
)

func TestPatternMatchesPaths(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		path    string
		allow   bool
	}{
		{"an exact path matches itself", "calendar/work", "calendar/work", true},
		{"an exact path does not match a child", "calendar/work", "calendar/work/mon", false},
		{"an exact path does not match its parent", "calendar/work", "calendar", false},
		{"an exact path does not match a sibling", "calendar/work", "calendar/home", false},
		{"matching is case-sensitive because uppercase is invalid", "calendar/work", "Calendar/work", false},
		{"a star matches one segment", "calendar/*", "calendar/work", true},
		{"a star does not match two segments", "calendar/*", "calendar/work/mon", false},
		{"a star does not match zero segments", "calendar/*", "calendar", false},
		{"a middle star matches one segment", "calendar/*/mon", "calendar/work/mon", true},
		{"a middle star needs the literal after it", "calendar/*/mon", "calendar/work/tue", false},
		{"a double star matches one segment", "calendar/**", "calendar/work", true},
		{"a double star matches many segments", "calendar/**", "calendar/work/2026/03/01", true},
		{"a double star does not match its own prefix", "calendar/**", "calendar", false},
		{"a double star does not match a prefix look-alike", "calendar/**", "calendars/work", false},
		{"a lone double star matches everything", "**", "notes/a/b", true},
		{"a lone star matches one top-level segment", "*", "notes", true},
		{"a lone star does not match nested paths", "*", "notes/a", false},
		{"dots inside a name are fine", "files/*", "files/report.v2.pdf", true},
		{"hyphen and underscore are fine", "a-b/c_d", "a-b/c_d", true},
		{"traversal with dot-dot is denied", "calendar/**", "calendar/../secrets", false},
		{"traversal with a leading dot-dot is denied", "**", "../other-user/secrets", false},
		{"a single dot segment is denied", "calendar/**", "calendar/./work", false},
		{"a triple dot segment is denied", "calendar/*", "calendar/...", false},
		{"an empty segment is denied", "calendar/**", "calendar//work", false},
		{"a leading slash is denied", "**", "/calendar/work", false},
		{"a trailing slash is denied", "calendar/**", "calendar/work/", false},
		{"percent-encoded slash is denied", "calendar/*", "calendar/work%2fsecret", false},
		{"percent-encoded dots are denied", "calendar/**", "calendar/%2e%2e/secret", false},
		{"a backslash is denied", "calendar/*", "calendar/..\\secrets", false},
		{"a NUL byte is denied", "calendar/*", "calendar/work\x00", false},
		{"a newline is denied", "calendar/*", "calendar/work\nx", false},
		{"a space is denied", "calendar/*", "calendar/my work", false},
		{"Cyrillic a look-alike is denied", "calendar/*", "c\u0430lendar/work", false},
		{"Cyrillic a look-alike in the pattern never matches", "c\u0430lendar/*", "calendar/work", false},
		{"a fullwidth solidus is denied", "calendar/**", "calendar\uff0fwork", false},
		{"a decomposed accent is denied", "files/*", "files/cafe\u0301", false},
		{"a precomposed accent is denied", "files/*", "files/caf\u00e9", false},
		{"a zero-width joiner is denied", "files/*", "files/a\u200db", false},
		{"a wildcard in the request path is denied", "calendar/*", "calendar/*", false},
		{"a double star in the request path is denied", "**", "calendar/**", false},
		{"an empty path is denied", "**", "", false},
		{"a double star not last makes the pattern invalid", "**/secrets", "a/secrets", false},
		{"a too-long segment is denied", "files/*", "files/" + strings.Repeat("a", MaxSegmentLen+1), false},
		{"a segment at the length cap is allowed", "files/*", "files/" + strings.Repeat("a", MaxSegmentLen), true},
		{"too many segments are denied", "**", strings.Repeat("a/", MaxResourceSegments) + "a", false},
		{"a path at the segment cap is allowed", "**", strings.TrimSuffix(strings.Repeat("a/", MaxResourceSegments), "/"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pattern(tc.pattern).Match(ResourcePath(tc.path)); got != tc.allow {
				t.Fatalf("Pattern(%q).Match(%q) = %v, want %v", tc.pattern, tc.path, got, tc.allow)
			}
			if !tc.allow {
				return
			}
			if _, err := ParsePath(tc.path); err != nil {
				t.Fatalf("allowed path does not parse: %v", err)
			}
		})
	}
}

func TestPatternContainment(t *testing.T) {
	cases := []struct {
		name   string
		child  string
		parent string
		within bool
	}{
		{"a pattern is within itself", "calendar/*", "calendar/*", true},
		{"a literal is within a star", "calendar/work", "calendar/*", true},
		{"a star is within a double star", "calendar/*", "calendar/**", true},
		{"a deeper star path is within a double star", "calendar/*/mon", "calendar/**", true},
		{"a double star is within a shorter double star", "calendar/work/**", "calendar/**", true},
		{"a double star is within itself", "calendar/**", "calendar/**", true},
		{"everything is within the lone double star", "a/b/*/**", "**", true},
		{"a double star is not within a star", "calendar/**", "calendar/*", false},
		{"a star is not within a literal", "calendar/*", "calendar/work", false},
		{"a shorter pattern is not within a longer one", "calendar", "calendar/*", false},
		{"the prefix is not within its double star", "calendar", "calendar/**", false},
		{"a longer pattern is not within a star", "calendar/work/mon", "calendar/*", false},
		{"a sibling is not within", "contacts/*", "calendar/*", false},
		{"the lone double star is not within a namespace", "**", "calendar/**", false},
		{"a star in the middle is within the same star", "a/*/c", "a/*/c", true},
		{"a middle double star cannot be written", "a/**/c", "**", false},
		{"a traversal child is never within", "calendar/../secrets", "**", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pattern(tc.child).Within(Pattern(tc.parent)); got != tc.within {
				t.Fatalf("Pattern(%q).Within(%q) = %v, want %v", tc.child, tc.parent, got, tc.within)
			}
		})
	}
}

// TestContainmentAgreesWithMatching checks Within against Match on every
// concrete path over a small alphabet: if child ⊆ parent then each path the
// child matches, the parent matches too; if not, some path tells them apart.
func TestContainmentAgreesWithMatching(t *testing.T) {
	segs := []string{"a", "b", "*", "**"}
	var patterns []string
	var build func(prefix []string)
	build = func(prefix []string) {
		if len(prefix) > 0 {
			patterns = append(patterns, strings.Join(prefix, "/"))
		}
		if len(prefix) == 3 {
			return
		}
		for _, s := range segs {
			build(append(append([]string(nil), prefix...), s))
		}
	}
	build(nil)
	var paths []ResourcePath
	for _, p := range patterns {
		if !strings.Contains(p, "*") {
			paths = append(paths, ResourcePath(p))
		}
	}
	// Add paths with a segment outside the alphabet and deeper ones.
	for _, p := range append([]ResourcePath(nil), paths...) {
		paths = append(paths, p+"/c", p+"/c/d", ResourcePath("c/")+p)
	}
	checked := 0
	for _, c := range patterns {
		for _, p := range patterns {
			cp, pp := Pattern(c), Pattern(p)
			if cp.Validate() != nil || pp.Validate() != nil {
				continue
			}
			sub := true
			for _, r := range paths {
				if cp.Match(r) && !pp.Match(r) {
					sub = false
					break
				}
			}
			if got := cp.Within(pp); got != sub {
				t.Fatalf("Pattern(%q).Within(%q) = %v, brute force says %v", c, p, got, sub)
			}
			checked++
		}
	}
	if checked < 500 {
		t.Fatalf("only %d pairs checked", checked)
	}
}

func TestParsePatternReportsErrBadPattern(t *testing.T) {
	for _, s := range []string{"", "/a", "a/", "a//b", "..", "a/.", "A", "a%20b", "a\\b", "**/a", "é", strings.Repeat("a", MaxResourceLen+1)} {
		if _, err := ParsePattern(s); !errors.Is(err, ErrBadPattern) {
			t.Errorf("ParsePattern(%q) = %v, want ErrBadPattern", s, err)
		}
	}
	if _, err := ParsePath("a/*"); !errors.Is(err, ErrBadPattern) {
		t.Errorf("ParsePath with a wildcard = %v", err)
	}
	if _, err := ParsePattern("calendar/work/**"); err != nil {
		t.Errorf("valid pattern rejected: %v", err)
	}
}
