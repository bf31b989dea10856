package broker

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ocmt/mesh/vault"
)

// credential is how one secret goes into a request: the header it sets,
// its value, and the values redaction must look for.
type credential struct {
	header string
	value  string
	hide   [][]byte
}

// apiKeyHeaders names the providers whose API keys go in a header of their
// own; every other api_key (OpenAI and the many OpenAI-compatible servers)
// goes in "Authorization: Bearer". doc.go, "Injection", is this table.
var apiKeyHeaders = map[string]string{
	"anthropic":    "X-Api-Key",
	"azure-openai": "Api-Key",
	"google":       "X-Goog-Api-Key",
	"gemini":       "X-Goog-Api-Key",
}

// inject builds the credential for s, or says why s cannot be used.
func inject(s *vault.Secret, now time.Time) (credential, error) {
	if len(s.Value) < MinSecretBytes {
		return credential{}, fmt.Errorf("%w: secret %q is shorter than %d bytes, too short to be kept out of responses reliably", ErrUnusable, s.Name, MinSecretBytes)
	}
	hide := [][]byte{s.Value, s.Refresh}
	if s.Type == vault.TypeAPIKey || s.Type == vault.TypeOAuthToken {
		for _, c := range s.Value {
			if c < 0x21 || c > 0x7e {
				return credential{}, fmt.Errorf("%w: secret %q holds a space, a control character or a character outside ASCII, which cannot go in a header", ErrUnusable, s.Name)
			}
		}
	}
	switch s.Type {
	case vault.TypeAPIKey:
		if h, ok := apiKeyHeaders[strings.ToLower(s.Provider)]; ok {
			return credential{header: h, value: string(s.Value), hide: hide}, nil
		}
		return credential{header: "Authorization", value: "Bearer " + string(s.Value), hide: hide}, nil
	case vault.TypeOAuthToken:
		if s.Expiry != 0 && !now.Before(time.Unix(s.Expiry, 0)) {
			return credential{}, fmt.Errorf("%w: the access token in secret %q has expired; refresh it", ErrUnusable, s.Name)
		}
		return credential{header: "Authorization", value: "Bearer " + string(s.Value), hide: hide}, nil
	case vault.TypePassword:
		if s.Username == "" || strings.Contains(s.Username, ":") {
			return credential{}, fmt.Errorf("%w: secret %q is a password without a user name (or with a ':' in it), which HTTP Basic needs", ErrUnusable, s.Name)
		}
		pair := s.Username + ":" + string(s.Value)
		return credential{header: "Authorization", value: "Basic " + base64.StdEncoding.EncodeToString([]byte(pair)), hide: append(hide, []byte(pair))}, nil
	}
	return credential{}, fmt.Errorf("%w: secret %q is a %s, which the broker does not send", ErrUnusable, s.Name, s.Type)
}

// reserved lists the request headers an agent may not set: every header a
// credential goes in, the ones the transport owns, and Accept-Encoding
// (a compressed answer could hide the key from redaction).
var reserved = map[string]string{
	"Authorization":       "the broker adds the credential itself",
	"Proxy-Authorization": "the broker adds the credential itself",
	"Cookie":              "cookies are credentials too",
	"Accept-Encoding":     "a compressed answer could not be checked for the key",
	"Host":                "the host comes from the URL",
	"Content-Length":      "the broker sets it",
	"Transfer-Encoding":   "the broker sets it",
	"Connection":          "the broker manages connections",
	"Keep-Alive":          "the broker manages connections",
	"Upgrade":             "the broker manages connections",
	"Te":                  "the broker manages connections",
	"Trailer":             "the broker manages connections",
	"Proxy-Connection":    "the broker manages connections",
	"Expect":              "the broker sends the body at once",
}

func init() {
	for _, h := range apiKeyHeaders {
		reserved[h] = "the broker adds the credential itself"
	}
}

// checkHeaders copies the agent's headers into a request header, refusing
// the reserved ones and bounding their number and size.
func checkHeaders(in http.Header) (http.Header, error) {
	out := http.Header{}
	count, size := 0, 0
	for k, vs := range in {
		name := http.CanonicalHeaderKey(k)
		if why, ok := reserved[name]; ok {
			return nil, fmt.Errorf("%w: the agent may not set the %s header: %s", ErrRefused, name, why)
		}
		if name == "" || strings.ContainsAny(name, " :\r\n\t") || strings.HasPrefix(name, "Proxy-") {
			return nil, fmt.Errorf("%w: the agent may not set %q: it is a proxy's header or not a valid name", ErrRefused, k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fmt.Errorf("%w: the %s header holds a line break", ErrRefused, name)
			}
			count++
			size += len(name) + len(v)
			out.Add(name, v)
		}
	}
	if count > MaxHeaders || size > MaxHeaderBytes {
		return nil, fmt.Errorf("%w: the agent may set at most %d headers of %d bytes in all", ErrRefused, MaxHeaders, MaxHeaderBytes)
	}
	return out, nil
}
