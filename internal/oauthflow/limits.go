package oauthflow

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// StateTTL is how long a started connection waits for the browser to
	// come back: long enough to sign in and read the consent page, short
	// enough that a forgotten tab's state is soon useless.
	StateTTL = 10 * time.Minute
	// MaxPending bounds the connections started and not yet finished. A
	// person clicks "Connect" a few times at most; past the bound the
	// oldest is forgotten, so the newest click always works and memory
	// stays small whatever calls Start.
	MaxPending = 16
	// StateBytes is the randomness of a state, printed as stateLen
	// base64url characters: unguessable, so only the browser sent to the
	// provider by Start can come back with it.
	StateBytes = 32
	// stateLen is the length of a state: StateBytes in unpadded base64url.
	stateLen = 43
	// verifierLen is the length of a PKCE code verifier (32 random bytes in
	// unpadded base64url, oauth2.GenerateVerifier); RFC 7636 asks for 43
	// to 128 characters.
	verifierLen = 43

	// MaxCodeLen bounds an authorization code taken from a callback:
	// Google's are about 100 bytes; 2 KiB leaves room for any provider and
	// bounds what is sent on to the token endpoint.
	MaxCodeLen = 2048
	// MaxErrorCodeLen bounds the error code of a callback or a token
	// endpoint answer ("access_denied", "invalid_grant").
	MaxErrorCodeLen = 64
	// MaxDescriptionLen bounds the provider's words (error_description)
	// repeated in an error for the user; longer ones are clipped.
	MaxDescriptionLen = 200
	// MaxIssuerLen bounds the iss parameter of a callback (RFC 9207), a
	// URL.
	MaxIssuerLen = 512

	// MaxProviderNameLen bounds a provider's name, the Provider field of
	// every secret it stores ("google-drive").
	MaxProviderNameLen = 32
	// MaxScopes bounds the scopes a provider offers: a short list a person
	// picks from.
	MaxScopes = 8
	// MaxScopeIDLen bounds a scope's ID ("files", "read", "full").
	MaxScopeIDLen = 16
	// MaxOAuthScopes bounds the OAuth scope strings one offered scope
	// asks for, and the granted ones a secret records.
	MaxOAuthScopes = 16
	// MaxScopeLen bounds one OAuth scope string (a URL for Google).
	MaxScopeLen = 256

	// ExchangeTimeout bounds one request to the token endpoint, the
	// exchange of a code or a refresh.
	ExchangeTimeout = 30 * time.Second
	// MaxExpiresIn bounds the lifetime a token endpoint may announce
	// (expires_in); a longer one is taken as this, a year.
	MaxExpiresIn = 365 * 24 * time.Hour

	// DefaultRefreshBefore is how long before its expiry a token is
	// refreshed: Google's last an hour, and five minutes leave room for a
	// few retries before a call would fail.
	DefaultRefreshBefore = 5 * time.Minute
	// CheckEvery is how often Run looks for tokens to refresh, well below
	// DefaultRefreshBefore.
	CheckEvery = time.Minute
	// RetryMin is the wait after a first failed refresh; each further
	// failure doubles it.
	RetryMin = 30 * time.Second
	// RetryMax caps the wait between refresh attempts: a refresh token
	// the provider revoked is retried (and logged) twice an hour, not in a
	// loop.
	RetryMax = 30 * time.Minute
)
