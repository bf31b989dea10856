package wakehook

import (
	"errors"
	"fmt"
	"strings"
)

// Template caps: a wake command is one line an operator writes.
const (
	// MaxTemplateBytes bounds a template.
	MaxTemplateBytes = 4096
	// MaxArgs bounds the words of a template, the program included.
	MaxArgs = 64
)

// The placeholders a template may hold, inside any argument but the
// program.
const (
	PlaceholderHandle = "{handle}"
	PlaceholderPeer   = "{peer}"
)

// ErrBadTemplate is wrapped by every refusal of a template.
var ErrBadTemplate = errors.New("invalid wake command")

// Template is a parsed wake command: the program and its arguments, with
// placeholders still in them.
type Template struct {
	args []string
}

// ParseTemplate splits s into words as a shell would for a plain command,
// and nothing more: no variables, globs, pipes, redirections or command
// substitution, and no shell is ever run. The rules:
//
//   - words are separated by unquoted spaces, tabs and newlines;
//   - '…' quotes everything up to the next ', backslashes included;
//   - "…" quotes up to the next unescaped ", where \" is " and \\ is \
//     (any other backslash stays as it is);
//   - outside quotes, \x is x for any character x (so "\ " is a space
//     inside a word);
//   - quotes join the word they touch: a'b c'd is the one word "ab cd",
//     and ” is an empty argument;
//   - {handle} and {peer} anywhere in an argument, quoted or not, become
//     the node's handle and peer ID after the split, so a value never
//     makes or merges words; any other {word} of lowercase letters is
//     refused as a misspelt placeholder, and other braces are literal;
//   - the first word is the program: it may not hold a placeholder.
func ParseTemplate(s string) (*Template, error) {
	if len(s) > MaxTemplateBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadTemplate, len(s), MaxTemplateBytes)
	}
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		i       int
		quoteAt int
	)
	flush := func() {
		if inWord {
			args = append(args, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			flush()
			i++
		case c == '\'':
			inWord, quoteAt = true, i
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: the single quote at byte %d is never closed", ErrBadTemplate, quoteAt+1)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			inWord, quoteAt = true, i
			i++
			closed := false
			for i < len(s) {
				d := s[i]
				if d == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					cur.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if d == '"' {
					closed = true
					break
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, fmt.Errorf("%w: the double quote at byte %d is never closed", ErrBadTemplate, quoteAt+1)
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("%w: it ends with a lone backslash", ErrBadTemplate)
			}
			inWord = true
			cur.WriteByte(s[i+1])
			i += 2
		default:
			inWord = true
			cur.WriteByte(c)
			i++
		}
	}
	flush()
	if len(args) == 0 || args[0] == "" {
		return nil, fmt.Errorf("%w: it names no program", ErrBadTemplate)
	}
	if len(args) > MaxArgs {
		return nil, fmt.Errorf("%w: %d words, at most %d", ErrBadTemplate, len(args), MaxArgs)
	}
	for n, a := range args {
		if err := checkPlaceholders(a); err != nil {
			return nil, fmt.Errorf("%w: word %d: %v", ErrBadTemplate, n+1, err)
		}
		if n == 0 && (strings.Contains(a, PlaceholderHandle) || strings.Contains(a, PlaceholderPeer)) {
			return nil, fmt.Errorf("%w: the program itself may not depend on the node woken", ErrBadTemplate)
		}
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("%w: word %d holds a NUL byte", ErrBadTemplate, n+1)
		}
	}
	return &Template{args: args}, nil
}

// checkPlaceholders refuses a {word} of lowercase letters that is not a
// known placeholder: {hadle} would otherwise reach the command as is.
func checkPlaceholders(a string) error {
	for rest := a; ; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			return nil
		}
		rest = rest[open:]
		close := strings.IndexByte(rest, '}')
		if close < 0 {
			return nil
		}
		name := rest[1:close]
		if name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyz") == "" &&
			rest[:close+1] != PlaceholderHandle && rest[:close+1] != PlaceholderPeer {
			return fmt.Errorf("unknown placeholder %s (use %s or %s)", rest[:close+1], PlaceholderHandle, PlaceholderPeer)
		}
		rest = rest[1:]
	}
}

// Args returns the template's words, placeholders unexpanded.
func (t *Template) Args() []string { return append([]string(nil), t.args...) }

// Expand returns the command line for target: the words with {handle}
// and {peer} replaced. The target is checked first (CheckTarget).
func (t *Template) Expand(target Target) ([]string, error) {
	if err := CheckTarget(target); err != nil {
		return nil, err
	}
	r := strings.NewReplacer(PlaceholderHandle, target.Handle, PlaceholderPeer, target.Peer.String())
	out := make([]string, len(t.args))
	for i, a := range t.args {
		out[i] = r.Replace(a)
	}
	return out, nil
}
