package oauthflow

import (
	"net/url"
	"strings"
)

// Callback is what the provider sent back to the node's callback page,
// checked by ParseCallback.
type Callback struct {
	State       string // the state Start handed out, stateLen base64url characters
	Code        string // the authorization code, "" when Error is set
	Error       string // the provider's error code ("access_denied"), "" on success
	Description string // the provider's error_description, clipped and cleaned; "" if none
	Issuer      string // the iss parameter (RFC 9207), "" if none
}

// The parameters a callback may carry; any other is ignored (Google adds
// scope, authuser, hd and prompt).
const (
	paramState       = "state"
	paramCode        = "code"
	paramError       = "error"
	paramDescription = "error_description"
	paramIssuer      = "iss"
)

// ParseCallback checks the query of a request to the callback page
// (doc.go "Callback"): each known parameter at most once, a state of the
// shape Start makes, exactly one of a code and an error, each within its
// length and character set. error_description is never refused: it is
// clipped to MaxDescriptionLen bytes and each byte outside its character
// set becomes "?". Every refusal wraps ErrCallback and is a sentence that
// repeats none of the parameters.
func ParseCallback(q url.Values) (Callback, error) {
	var c Callback
	for _, p := range []string{paramState, paramCode, paramError, paramDescription, paramIssuer} {
		if len(q[p]) > 1 {
			return Callback{}, refuse(ErrCallback, "the answer to the callback page repeats its "+p+" parameter: start again")
		}
	}
	c.State, c.Code, c.Error, c.Issuer = q.Get(paramState), q.Get(paramCode), q.Get(paramError), q.Get(paramIssuer)
	c.Description = cleanWords(q.Get(paramDescription), MaxDescriptionLen)
	switch {
	case c.State == "":
		return Callback{}, refuse(ErrCallback, "the answer to the callback page carries no state: open the page only through Connect")
	case !isState(c.State):
		return Callback{}, refuse(ErrCallback, "the answer to the callback page carries a state the node never makes: start again")
	case c.Code != "" && c.Error != "":
		return Callback{}, refuse(ErrCallback, "the answer to the callback page carries both a code and an error: start again")
	case c.Code == "" && c.Error == "":
		return Callback{}, refuse(ErrCallback, "the answer to the callback page carries neither a code nor an error: start again")
	case c.Code != "" && !charsIn(c.Code, MaxCodeLen, isVSChar):
		return Callback{}, refuse(ErrCallback, "the authorization code in the answer is too long or holds characters a code cannot: start again")
	case c.Error != "" && !charsIn(c.Error, MaxErrorCodeLen, isNQSChar):
		return Callback{}, refuse(ErrCallback, "the error code in the answer is too long or holds characters an error code cannot: start again")
	case len(q[paramIssuer]) == 1 && !charsIn(c.Issuer, MaxIssuerLen, isNQChar):
		return Callback{}, refuse(ErrCallback, "the issuer in the answer is empty, too long or holds characters a URL cannot: start again")
	}
	if c.Error == "" {
		c.Description = "" // words are for errors only
	}
	return c, nil
}

// values encodes c as the query ParseCallback reads back.
func (c Callback) values() url.Values {
	q := url.Values{paramState: {c.State}}
	if c.Code != "" {
		q.Set(paramCode, c.Code)
	}
	if c.Error != "" {
		q.Set(paramError, c.Error)
		if c.Description != "" {
			q.Set(paramDescription, c.Description)
		}
	}
	if c.Issuer != "" {
		q.Set(paramIssuer, c.Issuer)
	}
	return q
}

// isState reports whether s has the shape of a state Start makes.
func isState(s string) bool {
	return charsIn(s, stateLen, isBase64URL) && len(s) == stateLen
}

// charsIn reports whether s is 1 to max bytes, each allowed by ok.
func charsIn(s string, max int, ok func(byte) bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// isVSChar is RFC 6749's VSCHAR, the characters of a code: printable
// ASCII and the space.
func isVSChar(c byte) bool { return c >= 0x20 && c <= 0x7e }

// isNQSChar is RFC 6749's NQSCHAR, the characters of an error code and
// its description: printable ASCII and the space, without '"' and '\'.
func isNQSChar(c byte) bool { return isVSChar(c) && c != '"' && c != '\\' }

// isNQChar is RFC 6749's NQCHAR, the characters of a scope: NQSCHAR
// without the space.
func isNQChar(c byte) bool { return isNQSChar(c) && c != ' ' }

// cleanWords makes words a provider chose safe to repeat to the user: each
// byte outside NQSCHAR becomes "?", and text over max bytes is clipped and
// ends with "…".
func cleanWords(s string, max int) string {
	if s == "" {
		return ""
	}
	clipped := len(s) > max
	if clipped {
		s = s[:max]
	}
	var b strings.Builder
	for i := range len(s) {
		if isNQSChar(s[i]) {
			b.WriteByte(s[i])
		} else {
			b.WriteByte('?')
		}
	}
	out := strings.TrimSpace(b.String())
	if clipped {
		out += "…"
	}
	return out
}
