package web

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// DefaultSessionIdle ends a session unused for this long: a browser
	// left open is not an unlocked vault for the next person.
	DefaultSessionIdle = 15 * time.Minute
	// DefaultSessionMax ends any session after this long, used or not.
	DefaultSessionMax = 8 * time.Hour
	// MaxSessions bounds the sessions kept (each a few hundred bytes); a
	// new one pushes out the least recently used unauthenticated one.
	MaxSessions = 256
	// TicketTTL is how long a successful unlock's ticket may wait for
	// POST /login: the page posts it at once.
	TicketTTL = time.Minute
	// MaxPasswordMessage bounds the unlock WebSocket's one message: a
	// password of up to 1 KiB in JSON with the CSRF token.
	MaxPasswordMessage = 8 << 10
	// UnlockTimeout bounds an unlock exchange, Argon2id included.
	UnlockTimeout = time.Minute
	// MaxForm bounds a form's body; a secret's value is the largest field.
	MaxForm = 2 << 20
	// MaxDownload bounds what the "Shared with me" page downloads in one
	// answer: a resource the owner's node serves live.
	MaxDownload = 64 << 20
	// SelfSignedLife is a self-signed UI certificate's life: the user
	// checks its fingerprint once, so it should not change often.
	SelfSignedLife = 825 * 24 * time.Hour
)
