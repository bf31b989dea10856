// Package web is the home node's web UI (issue 14): pages in plain words
// for a user who does not know what a capability token is, served by the
// node itself, talking to it through localapi.Backend like the CLI, and
// never opening the vault itself.
//
// # Serving
//
// Every asset is embedded (templates/, static/): no CDN, no other host.
// Pages are rendered on the server with html/template; two small scripts
// run the WebSocket parts (static/unlock.js, static/live.js). Every answer
// carries a Content-Security-Policy of this origin only, with no inline
// script ("default-src 'self'"), and nosniff, no-referrer and DENY
// framing. Off loopback the node serves HTTPS only (mesh node --ui).
//
// # Unlock and sessions
//
// GET /unlock gives the browser an unauthenticated session (cookie
// mesh_session: HttpOnly, SameSite=Strict, Secure under TLS) and its CSRF
// token. The page sends the password over a WebSocket to /ws/unlock (the
// Origin must be this host), with the CSRF token; the node unlocks its
// vault through the backend, so wrong passwords meet the vault's own
// persistent backoff. A success answers a one-time ticket (TicketTTL, 60
// seconds), which the page posts to /login: the node then makes a new,
// authenticated session, so an ID planted before the unlock gains
// nothing. A session ends after DefaultSessionIdle (900 seconds) unused
// or DefaultSessionMax (28800 seconds) in all; Lock locks the vault and
// ends every session; Log out ends this one. At most MaxSessions (256)
// are kept.
//
// Every request other than GET and HEAD must come from this origin
// (Origin, else Referer), and every POST must carry the session's CSRF
// token; a page that needs a session sends the browser to /unlock.
//
// # Pages
//
// Share (collections, people with their verification codes, "view" or
// "view and edit", for how long), Shared by me (with Stop sharing, which
// revokes), Shared with me (open and download), Approvals and Alerts
// (live, from the node's event stream), Activity (the audit log in
// sentences, chain verified), Secrets (names and kinds; a value only on
// Reveal, which the vault audits), Connections (OAuth, through a
// Connections implementation). Tokens, peer IDs and patterns appear only
// under "Advanced".
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name                 value     unit      what it bounds
//	DefaultSessionIdle   900       seconds   a session unused
//	DefaultSessionMax    28800     seconds   a session in all
//	MaxSessions          256       sessions  sessions kept
//	TicketTTL            60        seconds   an unlock's ticket waiting for /login
//	MaxPasswordMessage   8192      bytes     the unlock WebSocket's message
//	UnlockTimeout        60        seconds   one unlock exchange
//	MaxForm              2097152   bytes     a form's body
//	MaxDownload          67108864  bytes     one download
//	MaxActivity          200       records   the Activity page's records, newest first
//	SelfSignedLife       71280000  seconds   a self-signed UI certificate (825 days)
package web
