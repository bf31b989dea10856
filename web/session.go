package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// session is one browser's state: unauthenticated (the unlock page's)
// until the vault is unlocked through it, then authenticated.
type session struct {
	id      string
	csrf    string
	authed  bool
	created time.Time
	used    time.Time
	// flash and flashErr are what a POST did, shown once by the page it
	// redirects to (post, redirect, get: a reload never posts again).
	flash, flashErr string
}

// sessions keeps the browser sessions in memory, bounded: a new one
// pushes out the least recently used unauthenticated session, then the
// least recently used one.
type sessions struct {
	mu     sync.Mutex
	now    func() time.Time
	idle   time.Duration
	max    time.Duration
	byID   map[string]*session
	ticket map[string]ticket // one-time login tickets
}

// ticket turns a successful unlock over the WebSocket into a fresh
// session cookie (POST /login): the unlocking session's ID is never
// promoted, so a cookie planted before the unlock gains nothing.
type ticket struct {
	session string
	expires time.Time
}

func newSessions(now func() time.Time, idle, max time.Duration) *sessions {
	return &sessions{now: now, idle: idle, max: max, byID: map[string]*session{}, ticket: map[string]ticket{}}
}

func randomID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// get returns the live session named by r's cookie; nil when there is
// none, or it is past its idle timeout or its lifetime.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.byID[c.Value]
	if se == nil {
		return nil
	}
	now := s.now()
	if now.Sub(se.used) > s.idle || now.Sub(se.created) > s.max {
		delete(s.byID, se.id)
		return nil
	}
	se.used = now
	return se
}

// create makes a session (authenticated or not) and returns it.
func (s *sessions) create(authed bool) *session {
	now := s.now()
	se := &session{id: randomID(), csrf: randomID(), authed: authed, created: now, used: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= MaxSessions {
		s.evictLocked()
	}
	s.byID[se.id] = se
	return se
}

func (s *sessions) evictLocked() {
	var victim *session
	for _, se := range s.byID {
		if victim == nil || (!se.authed && victim.authed) || (se.authed == victim.authed && se.used.Before(victim.used)) {
			victim = se
		}
	}
	if victim != nil {
		delete(s.byID, victim.id)
	}
}

// issueTicket records a one-time login ticket for the session se.
func (s *sessions) issueTicket(se *session) string {
	t := randomID()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.ticket {
		if now.After(v.expires) {
			delete(s.ticket, k)
		}
	}
	if len(s.ticket) >= MaxSessions {
		return ""
	}
	s.ticket[t] = ticket{session: se.id, expires: now.Add(TicketTTL)}
	return t
}

// redeem spends a ticket issued to se, ending se; true when it was good.
func (s *sessions) redeem(t string, se *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.ticket[t]
	delete(s.ticket, t)
	if !ok || v.session != se.id || s.now().After(v.expires) {
		return false
	}
	delete(s.byID, se.id)
	return true
}

// end drops a session (log out), or every session (lock).
func (s *sessions) end(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se == nil {
		clear(s.byID)
		clear(s.ticket)
		return
	}
	delete(s.byID, se.id)
}

// csrfOK checks the form's token against the session's.
func csrfOK(se *session, token string) bool {
	return se != nil && token != "" && subtle.ConstantTimeCompare([]byte(se.csrf), []byte(token)) == 1
}

const cookieName = "mesh_session"

// setCookie writes se's cookie: HttpOnly, SameSite=Strict, Secure when
// served over TLS.
func setCookie(w http.ResponseWriter, se *session, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: se.id, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}
