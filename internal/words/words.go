package words

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/vault"
)

// phrased is an error worded for the user around the error it explains.
type phrased struct {
	msg string
	err error
}

func (e *phrased) Error() string { return e.msg }
func (e *phrased) Unwrap() error { return e.err }

// Say words err for the user.
func Say(err error, format string, args ...any) error {
	return &phrased{msg: fmt.Sprintf(format, args...), err: err}
}

// BadPath words a refused path or pattern (capability.ParsePath or
// ParsePattern failed on s).
func BadPath(s string, err error, pattern bool) error {
	what := "path"
	if pattern {
		what = "path or pattern"
	}
	return Say(err, "%q is not a valid %s: %s", s, what, pathProblem(s, pattern))
}

// pathProblem says what breaks capability's path rules in s, in words.
func pathProblem(s string, pattern bool) string {
	const rule = "a path is lowercase letters, digits, '.', '_' and '-', in segments separated by '/'"
	if s == "" {
		return "it is empty"
	}
	if len(s) > capability.MaxResourceLen {
		return fmt.Sprintf("it is longer than %d bytes", capability.MaxResourceLen)
	}
	segs := strings.Split(s, "/")
	if len(segs) > capability.MaxResourceSegments {
		return fmt.Sprintf("it has more than %d segments", capability.MaxResourceSegments)
	}
	for i, seg := range segs {
		switch {
		case seg == "":
			return "it has an empty segment (a '/' at the start or the end, or two together)"
		case seg == "*" || seg == "**":
			if !pattern {
				return "only a share pattern may hold * or **; name one resource"
			}
			if seg == "**" && i != len(segs)-1 {
				return "** may only be the last segment"
			}
			continue
		case len(seg) > capability.MaxSegmentLen:
			return fmt.Sprintf("a segment is longer than %d bytes", capability.MaxSegmentLen)
		case strings.Trim(seg, ".") == "":
			return fmt.Sprintf("%q is not a segment name", seg)
		}
		for _, c := range seg {
			if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' {
				continue
			}
			if 'A' <= c && c <= 'Z' {
				return "paths are lowercase (" + rule + ")"
			}
			if c == '*' {
				return "* stands alone as a whole segment (calendar/*, files/**)"
			}
			return fmt.Sprintf("%q cannot be in a path (%s)", c, rule)
		}
	}
	return rule
}

// BadActions words a refused --can list.
func BadActions(s string, err error, allowed capability.Actions) error {
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if _, ferr := capability.ParseActions(f); ferr != nil || f == "" {
			return Say(err, "%q is not an action: give some of %s, separated by commas", f, ActionList(allowed))
		}
		if seen[f] {
			return Say(err, "%q is given twice", f)
		}
		seen[f] = true
	}
	return Say(err, "%q is not a list of actions: give some of %s, separated by commas", s, ActionList(allowed))
}

// ActionList writes a set of actions as "read, list, write, delete and share".
func ActionList(a capability.Actions) string {
	names := a.Names()
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// BadLifetime words a refused validity (capability.CheckLifetime).
func BadLifetime(d time.Duration, err error) error {
	if d < capability.MinLifetime {
		return Say(err, "a validity of %s is too short: at least %s", duration.Format(d), duration.Format(capability.MinLifetime))
	}
	return Say(err, "a validity of %s is too long: at most %s; share again when it ends", duration.Format(d), duration.Format(capability.MaxLifetime))
}

// BadToken words a token that was refused: text that does not parse, or
// a token that does not verify. what names it ("the token", "the parent
// token").
func BadToken(what, text string, err error) error {
	text = strings.TrimSpace(text)
	if errors.Is(err, capability.ErrMalformed) || errors.Is(err, capability.ErrTooLarge) {
		if p := TokenTextProblem(text); p != "" {
			return Say(err, "%s is not a valid token: %s", what, p)
		}
	}
	return Say(err, "%s is not valid: %s", what, TokenProblem(capability.ErrorName(err)))
}

// TokenTextProblem says what is wrong with a token's text, or "" when
// its text is well-formed and the fault is inside.
func TokenTextProblem(text string) string {
	const again = "copy it again, whole"
	switch {
	case text == "":
		return "it is empty"
	case len(text) > capability.MaxTextLen:
		return fmt.Sprintf("it is longer than any token (%d characters)", len(text))
	case !strings.HasPrefix(text, capability.TextPrefix):
		return fmt.Sprintf("a token starts with %q; %s", capability.TextPrefix, again)
	}
	for i, c := range text[len(capability.TextPrefix):] {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Sprintf("%q at position %d cannot be in a token; %s", c, len(capability.TextPrefix)+i+1, again)
		}
	}
	return "it is cut short or was changed on the way; " + again
}

// TokenProblem says in a sentence what a capability sentinel, by its name
// (capability.ErrorName; Report.Error of mesh token inspect), means for
// the token's holder.
func TokenProblem(name string) string {
	switch name {
	case "ErrMalformed":
		return "it is cut short or was changed on the way; copy it again, whole"
	case "ErrTooLarge":
		return "it is larger than any valid token"
	case "ErrTooDeep":
		return "it was passed on more times than a token may be"
	case "ErrBadPattern":
		return "its resource pattern is not valid"
	case "ErrBadSignature":
		return "a signature in it does not check out: it was changed after it was signed"
	case "ErrBrokenChain":
		return "its chain is broken: a link was passed on by someone it was not given to"
	case "ErrNoShare":
		return "it was passed on from a share that did not allow passing it on"
	case "ErrEscalation":
		return "it allows more than the share it was passed on from"
	case "ErrWidened":
		return "it covers more than the share it was passed on from"
	case "ErrValidityExtended":
		return "it lasts longer than the share it was passed on from"
	case "ErrCeiling":
		return "it allows more than the agent ceiling it is bound by"
	case "ErrExpired":
		return "it has expired"
	case "ErrNotYetValid":
		return "it is not valid yet"
	case "ErrRevoked":
		return "it was revoked"
	case "ErrWrongAudience":
		return "it was made for another node"
	case "ErrWrongOwner":
		return "it is not from the owner of what it was used on"
	case "ErrNotPermitted":
		return "it does not allow that"
	case "ErrReplayed":
		return "it has been used as many times as it allows"
	case "ErrReplayFull":
		return "the owner's node cannot count more uses right now; try again later"
	}
	return "it does not check out"
}

// BadHandle words a refused handle (directory.ParseHandle failed).
func BadHandle(h string, err error) error {
	return Say(err, "%q is not a valid handle: a handle is %d to %d characters of a-z, 0-9, - and _",
		h, directory.MinHandleLen, directory.MaxHandleLen)
}

// ReachProblem says in words why the directory could not be asked.
func ReachProblem(err error) string {
	switch {
	case errors.Is(err, meshnet.ErrNoBootstrap):
		return "this node has no bootstrap peer (start it with mesh node --bootstrap MULTIADDR)"
	case errors.Is(err, wire.RateLimited):
		return "the bootstrap asked this node to slow down; try again in a moment"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "the bootstrap did not answer in time"
	}
	return "the bootstrap is unreachable right now"
}

// PeerAddrs parses the addresses of a kind of peer ("bootstrap",
// "relay"), saying which one is wrong and what one looks like.
func PeerAddrs(kind string, addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := p2phost.ParseAddrInfos(kind, []string{a})
		if err != nil {
			return nil, Say(err, "the %s address %q is not a peer's address: want a multiaddr ending in /p2p/PEERID, such as /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW..., as mesh %s prints it", kind, a, kind)
		}
		out = append(out, ai...)
	}
	return out, nil
}

// CheckListen refuses a listen address that is not a multiaddr, in words.
func CheckListen(addrs []string) error {
	for _, a := range addrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return Say(err, "the listen address %q is not one: want a multiaddr such as /ip4/0.0.0.0/tcp/4001 or /ip4/0.0.0.0/udp/4001/quic-v1", a)
		}
	}
	return nil
}

// NotFound words a vault.ErrNotFound for a name the user gave: what was
// looked for, and where to see what there is.
func NotFound(err error, what, name, see string) error {
	if errors.Is(err, vault.ErrNotFound) {
		return Say(err, "there is no %s %q (see %s)", what, name, see)
	}
	return err
}

// Refusal says why an owner refused a token, from the refusal's message
// ("token: ErrNotPermitted", protocols/capwire), as the end of a sentence
// ("alice refused: the share was made for another node").
func Refusal(msg string) string {
	name, ok := strings.CutPrefix(msg, "token: ")
	if !ok {
		return "the share does not allow that"
	}
	name, _, _ = strings.Cut(name, ":")
	if name == "ErrNotPermitted" {
		return "the share does not allow that"
	}
	return "the share " + strings.TrimPrefix(TokenProblem(name), "it ")
}

// GrantParams checks what a share or token is asked to allow: a resource
// pattern, actions among allowed, a lifetime. what names it in errors
// ("a share", "a token").
func GrantParams(what, path, can string, validFor time.Duration, allowed capability.Actions) (capability.Pattern, capability.Actions, error) {
	res, err := capability.ParsePattern(path)
	if err != nil {
		return "", 0, BadPath(path, err, true)
	}
	acts, err := capability.ParseActions(can)
	if err != nil {
		return "", 0, BadActions(can, err, allowed)
	}
	if extra := acts &^ allowed; extra != 0 {
		return "", 0, fmt.Errorf("%s can allow %s; %s is not something home nodes serve", what, ActionList(allowed), ActionList(extra))
	}
	if err := capability.CheckLifetime(validFor); err != nil {
		return "", 0, BadLifetime(validFor, err)
	}
	return res, acts, nil
}
