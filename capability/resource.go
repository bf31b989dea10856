package capability

import (
	"fmt"
	"strings"
)

// ResourcePath is a concrete path in an owner's namespace, such as
// "calendar/work/2026-03". It never contains wildcards.
type ResourcePath string

// Pattern is a resource pattern in the issuer's namespace: a ResourcePath
// whose segments may also be "*" (exactly one segment) or, as the last
// segment only, "**" (one or more segments).
//
// The character rule is deliberately narrow so that one string has one
// meaning on every node and in every log: a segment is 1–64 bytes of
// [a-z0-9._-], and is not made only of dots ("." and ".." are traversal,
// "..." is reserved). Everything else is rejected rather than normalised:
// uppercase (case-folding collisions), non-ASCII (Unicode look-alikes and
// NFC/NFD twins), '%' (percent-encoding), '\' (Windows separators), spaces,
// control characters, empty segments and leading or trailing '/'.
type Pattern string

// ParsePath validates a concrete path.
func ParsePath(s string) (ResourcePath, error) {
	if err := validate(s, false); err != nil {
		return "", err
	}
	return ResourcePath(s), nil
}

// ParsePattern validates a pattern.
func ParsePattern(s string) (Pattern, error) {
	if err := validate(s, true); err != nil {
		return "", err
	}
	return Pattern(s), nil
}

// Validate checks p against the pattern rules.
func (p Pattern) Validate() error { return validate(string(p), true) }

// Validate checks p against the path rules.
func (p ResourcePath) Validate() error { return validate(string(p), false) }

func validate(s string, wildcards bool) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadPattern)
	}
	if len(s) > MaxResourceLen {
		return fmt.Errorf("%w: %d bytes, max %d", ErrBadPattern, len(s), MaxResourceLen)
	}
	n := 0
	for rest := s; ; n++ {
		seg, tail, more := strings.Cut(rest, "/")
		if n >= MaxResourceSegments {
			return fmt.Errorf("%w: more than %d segments", ErrBadPattern, MaxResourceSegments)
		}
		if err := validSegment(seg, wildcards, !more); err != nil {
			return fmt.Errorf("%w: segment %d: %s", ErrBadPattern, n+1, err)
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

func validSegment(seg string, wildcards, last bool) error {
	switch {
	case seg == "":
		return fmt.Errorf("empty segment (leading, trailing or double '/')")
	case seg == "*":
		if !wildcards {
			return fmt.Errorf("wildcard in a concrete path")
		}
		return nil
	case seg == "**":
		if !wildcards {
			return fmt.Errorf("wildcard in a concrete path")
		}
		if !last {
			return fmt.Errorf("'**' is allowed only as the last segment")
		}
		return nil
	case len(seg) > MaxSegmentLen:
		return fmt.Errorf("%d bytes, max %d", len(seg), MaxSegmentLen)
	case strings.Trim(seg, ".") == "":
		return fmt.Errorf("%q is a dot segment", seg)
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("byte %#02x at %d is outside [a-z0-9._-]", c, i)
		}
	}
	return nil
}

// Match reports whether the concrete path r is matched by p. Both must be
// valid; an invalid one never matches.
func (p Pattern) Match(r ResourcePath) bool {
	if p.Validate() != nil || r.Validate() != nil {
		return false
	}
	return within(string(r), string(p))
}

// Within reports whether every path p matches is also matched by parent:
// the rule a delegated token's resource must follow. Both must be valid.
func (p Pattern) Within(parent Pattern) bool {
	if p.Validate() != nil || parent.Validate() != nil {
		return false
	}
	return within(string(p), string(parent))
}

// within reports whether child's language is a subset of parent's, segment
// by segment. A concrete path is the special case with no wildcards.
//
//   - parent "**" (always last) covers one or more remaining segments of any
//     kind, so child needs at least one segment left;
//   - parent "*" covers exactly one segment: a literal or "*", not "**";
//   - a parent literal covers only the same literal.
func within(child, parent string) bool {
	// Both are valid: no empty segment, so "" means no segment left. The
	// segments are walked in place (strings.Cut): Match runs on every
	// verification and allocates nothing.
	for {
		ps, prest, pmore := strings.Cut(parent, "/")
		if ps == "**" {
			return child != ""
		}
		if child == "" {
			return false
		}
		cs, crest, cmore := strings.Cut(child, "/")
		switch {
		case ps == "*":
			if cs == "**" {
				return false
			}
		case cs != ps:
			return false
		}
		if !pmore {
			return !cmore
		}
		parent, child = prest, ""
		if cmore {
			child = crest
		}
	}
}
