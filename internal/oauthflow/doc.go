// Package oauthflow connects the home node to an OAuth 2.0 provider
// (Google Drive first) from the node's own web page, and keeps the
// connection alive: the authorization code flow with PKCE (RFC 6749,
// RFC 7636) runs between the user's browser, the provider and the node
// alone; the tokens land in the vault as an oauth_token secret; the node
// refreshes them before they expire. The management side never sees a
// token, a code or a verifier: none leaves the node except to the
// provider's token endpoint.
//
// The package runs the flow; the node serves the pages. It holds no
// vault: the node passes its vault write (which audits), and for
// refreshing its listing and its audited read.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name                  value     unit      what it bounds
//	StateTTL              600       seconds   a started connection's life (10 minutes)
//	MaxPending            16        flows     connections started and not finished
//	StateBytes            32        bytes     a state's randomness, and a verifier's
//	stateLen              43        chars     a state, in unpadded base64url
//	verifierLen           43        chars     a PKCE code verifier
//	MaxCodeLen            2048      bytes     an authorization code in a callback
//	MaxErrorCodeLen       64        bytes     an error code (callback or token endpoint)
//	MaxDescriptionLen     200       bytes     a provider's error_description repeated to the user
//	MaxIssuerLen          512       bytes     a callback's iss
//	MaxProviderNameLen    32        bytes     a provider's name
//	MaxScopes             8         scopes    the scopes a provider offers
//	MaxScopeIDLen         16        bytes     a scope's ID
//	MaxOAuthScopes        16        scopes    the OAuth scopes one offered scope asks for, or a secret records
//	MaxScopeLen           256       bytes     one OAuth scope
//	ExchangeTimeout       30        seconds   one token endpoint request
//	MaxExpiresIn          31536000  seconds   the lifetime a token endpoint may announce (365 days)
//	DefaultRefreshBefore  300       seconds   how long before expiry a token is refreshed (5 minutes)
//	CheckEvery            60        seconds   Run's passes
//	RetryMin              30        seconds   the wait after a first failed refresh
//	RetryMax              1800      seconds   the longest wait between refresh attempts (30 minutes)
//
// # Provider
//
// A Provider is an authorization endpoint, a token endpoint, the client
// the node is registered as (ID, and a secret unless it is a public
// client) and 1 to MaxScopes (8) scopes, each an ID of 1 to MaxScopeIDLen
// (16) bytes of a-z, 0-9 and "-", words for the page, and 1 to
// MaxOAuthScopes (16) OAuth scopes. Its name, 1 to MaxProviderNameLen
// (32) bytes of a-z, 0-9 and "-", is the Provider field of every secret
// it stores, and its title names it in every error. Endpoints and the
// callback page are https URLs (http only to a loopback host, for tests
// and a node on the user's own machine), without user info or fragment.
// GoogleDrive gives Google's endpoints and issuer, sends the client
// secret in the request body, asks for access_type=offline and
// prompt=consent (so every connection gets a refresh token), and offers:
//
//	ID     words              OAuth scope
//	files  only files I pick  https://www.googleapis.com/auth/drive.file
//	read   read all my files  https://www.googleapis.com/auth/drive.readonly
//	full   full access        https://www.googleapis.com/auth/drive
//
// Each Flow has its own callback page (RedirectURL): a code is only ever
// sent to the token endpoint of the provider whose page it came back to,
// and the state of one Flow is unknown to every other.
//
// # Start
//
// Start(scope, name) makes a state and a PKCE code verifier, each
// StateBytes (32) random bytes in unpadded base64url (stateLen (43) and
// verifierLen (43) characters), keeps them in memory with the scope and
// the secret name (vault.CheckName's rules) for StateTTL (600) seconds,
// and returns the authorization URL: response_type=code, client_id,
// redirect_uri, scope (the OAuth scopes joined by spaces), state,
// code_challenge (BASE64URL(SHA-256(verifier))), code_challenge_method=S256
// and the provider's extra parameters, which may not set any of these. At
// most MaxPending (16) connections are in progress: past it the oldest is
// forgotten (its callback is then refused as unknown), so the newest
// click always works and memory stays bounded. Nothing is written to disk:
// a connection started before a restart cannot finish after it.
//
// # Callback
//
// The browser comes back to the callback page with a query that
// ParseCallback checks before anything else:
//
//	param              rule
//	state              required, exactly stateLen base64url characters
//	code               1 to MaxCodeLen bytes of VSCHAR (0x20-0x7E); present iff error is not
//	error              1 to MaxErrorCodeLen bytes of NQSCHAR (VSCHAR without '"' and '\')
//	error_description  optional; clipped to MaxDescriptionLen bytes, other bytes become "?"; kept with error only
//	iss                optional; 1 to MaxIssuerLen bytes of NQCHAR (NQSCHAR without the space)
//
// Each of them at most once; any other parameter is ignored. Finish then,
// in this order:
//
//  1. takes the connection whose state matches, comparing the state with
//     every one in progress in constant time; it is removed whatever
//     follows, so a state works once (ErrState otherwise), and one older
//     than StateTTL is refused (ErrExpired);
//  2. refuses an iss that differs from the provider's issuer, when both
//     are known (ErrProvider);
//  3. refuses an error in words: access_denied as "you did not allow
//     access" (ErrDenied), any other as the provider's refusal with its
//     code and description (ErrProvider);
//  4. when the Flow can list secrets, refuses a name that holds a secret
//     other than a connection to this provider (ErrName), before any code
//     is exchanged: connecting replaces a connection, never a password;
//  5. exchanges the code at the token endpoint with the verifier and the
//     same redirect_uri, within ExchangeTimeout (30) seconds, by a client
//     that follows no redirect; a refusal names the endpoint's error code
//     and HTTP status, never its body or description (ErrProvider), and a
//     failure to reach it the endpoint's host (ErrUnreachable);
//  6. refuses a token_type other than bearer (any case) or none;
//  7. takes the granted scopes from the answer's scope field (text, 1 to
//     MaxOAuthScopes (16) scopes of at most MaxScopeLen (256) bytes of
//     NQCHAR, or ErrProvider), or the ones asked when it has none (RFC 6749
//     5.1), and refuses when none of the asked ones was granted (ErrDenied);
//  8. stores the secret (below) with the node's write, and returns
//     Connected: the name, the scope, the granted scopes, the expiry and
//     whether it is refreshable.
//
// Storing replaces the secret of the same name: connecting again renews
// a connection.
//
// # The secret
//
//	field     value
//	Name      the name given to Start
//	Type      oauth_token
//	Provider  Provider.Name ("google-drive")
//	Scopes    the granted OAuth scopes, sorted, at most MaxOAuthScopes
//	Expiry    unix seconds: the Flow's clock at the answer plus expires_in, at most MaxExpiresIn; 0 if none
//	Value     the access token
//	Refresh   the refresh token; absent if the provider sent none
//
// # Refreshing
//
// RefreshDue makes one pass, and Run makes one at once and then every
// CheckEvery (60) seconds. A pass lists the vault's secrets (no values),
// reads each oauth_token secret of the provider it has not seen or that
// another writer changed since (the listed Updated time differs), and
// refreshes each that holds a refresh token and expires within
// RefreshBefore (DefaultRefreshBefore, 300 seconds) on the Flow's clock.
// A refresh reads the secret again (the read is the truth), sends
// grant_type=refresh_token, and stores the new access token, expiry and
// scopes (the old ones when the answer lists none) with the refresh token
// the answer gives, or the old one when it gives none. A secret with no
// expiry or no refresh token is never refreshed.
//
// Stores are one at a time, and a refresh stores nothing if the secret
// was stored by the Flow (Finish, or another refresh) after it was read:
// a reconnection is never overwritten by a token of the grant it
// replaced. Passes are one at a time.
//
// A failed refresh is logged in words (the provider, the name, the
// problem, the wait; never a token) and kept in Status, and the secret is
// not tried again before RetryMin (30) seconds, doubled after each further
// failure up to RetryMax (1800) seconds. invalid_grant (a refresh token
// the user revoked) says to connect again; it is still retried, at most
// twice an hour. A success clears the failures.
//
// # Secrets in memory
//
// The package never writes a token, code, verifier or client secret to an
// error, a log line or Connected, and wipes the byte slices of every
// secret it reads or stores when done. The golang.org/x/oauth2 package
// holds them as strings, which cannot be wiped; they live until the
// garbage collector reclaims them.
package oauthflow
