package web

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config is what the node gives the web UI.
type Config struct {
	// Backend is the node: the same interface the CLI uses. The UI never
	// opens the vault itself.
	Backend localapi.Backend
	// TLS, when set, serves HTTPS (required off loopback); nil serves
	// plain HTTP, for a loopback address only.
	TLS *tls.Config
	// Now is the clock of sessions; nil is time.Now.
	Now func() time.Time
	// Logger receives failures (never a password, a secret or a cookie).
	Logger *slog.Logger
	// SessionIdle and SessionMax: 0 means DefaultSessionIdle and
	// DefaultSessionMax.
	SessionIdle, SessionMax time.Duration
	// Connections, when set, is the Connections page's OAuth flow.
	Connections Connections
}

// Connections is the Connections page's backend: the OAuth providers a
// user can connect (Google Drive), implemented by internal/oauthflow.
type Connections interface {
	// Choices are the scopes offered, in plain words.
	Choices() []Choice
	// Start returns the provider's authorization URL for the scope.
	Start(scope string) (string, error)
	// Finish takes the provider's redirect back (state, code) and stores
	// the token in the vault; it returns the secret's name.
	Finish(ctx context.Context, q url.Values) (string, error)
	// AuthOrigin is the provider's authorization page's origin
	// (https://accounts.google.com): the Connections page's form may go
	// there (its CSP's form-action names it).
	AuthOrigin() string
}

// Choice is one scope offered: its ID and its words.
type Choice struct{ ID, Words string }

// Server is the web UI.
type Server struct {
	cfg   Config
	log   *slog.Logger
	b     localapi.Backend
	sess  *sessions
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New builds the UI's handler.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("web: no backend")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	s := &Server{cfg: cfg, log: cfg.Logger, b: cfg.Backend, sess: newSessions(cfg.Now, cfg.SessionIdle, cfg.SessionMax), mux: http.NewServeMux()}
	if err := s.parse(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) parse() error {
	s.pages = map[string]*template.Template{}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// ServeHTTP implements http.Handler: every answer carries the security
// headers; every state change needs a session, its CSRF token and a
// same-origin request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on a form post, which sameOrigin must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
		http.Error(w, "refused: this request did not come from this page", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// csp allows this origin's scripts, styles and images only: no inline
// script, no other host.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// sameOrigin reports whether r's Origin (or, without one, its Referer)
// is this server: a form or a WebSocket from another site is refused.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https")
}

// Serve serves the UI on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug), MaxHeaderBytes: 64 << 10}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	go func() {
		<-ctx.Done()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// secure reports whether r came over TLS: its cookies are then Secure.
func secure(r *http.Request) bool { return r.TLS != nil }

// authed wraps a page that needs an unlocked session: without one, the
// browser goes to the unlock page.
func (s *Server) authed(f func(w http.ResponseWriter, r *http.Request, se *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.sess.get(r)
		if se == nil || !se.authed {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/unlock", http.StatusSeeOther)
				return
			}
			http.Error(w, "refused: unlock first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
			if err := r.ParseForm(); err != nil || !csrfOK(se, r.PostFormValue("csrf")) {
				http.Error(w, "refused: the form's token does not match this session; reload the page", http.StatusForbidden)
				return
			}
		}
		f(w, r, se)
	}
}

// unlockSocket takes the password over a WebSocket (never a form post,
// never a URL) and unlocks the vault through the backend; on success it
// answers a one-time ticket that POST /login turns into a new session.
func (s *Server) unlockSocket(w http.ResponseWriter, r *http.Request) {
	se := s.sess.get(r)
	if se == nil || !sameOrigin(r) {
		http.Error(w, "refused: open the unlock page first", http.StatusForbidden)
		return
	}
	c, err := websocket.Accept(w, r, nil) // checks Origin against Host
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(MaxPasswordMessage)
	ctx, cancel := context.WithTimeout(r.Context(), UnlockTimeout)
	defer cancel()
	var msg struct {
		Password []byte `json:"password"`
		CSRF     string `json:"csrf"`
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return
	}
	err = json.Unmarshal(b, &msg)
	clear(b)
	defer clear(msg.Password)
	reply := func(v any) { b, _ := json.Marshal(v); c.Write(ctx, websocket.MessageText, b) }
	if err != nil || !csrfOK(se, msg.CSRF) {
		reply(map[string]string{"error": "refused: reload the page and try again"})
		return
	}
	if err := s.b.Unlock(ctx, msg.Password); err != nil {
		reply(map[string]string{"error": unlockWords(err)})
		return
	}
	reply(map[string]string{"ticket": s.sess.issueTicket(se)})
	c.Close(websocket.StatusNormalClosure, "")
}

// unlockWords says why an unlock failed, without the password.
func unlockWords(err error) string {
	var be *vault.BackoffError
	switch {
	case errors.As(err, &be):
		return fmt.Sprintf("Too many wrong passwords: try again in %s.", be.Wait.Round(time.Second))
	case errors.Is(err, vault.ErrBadPassword):
		return "Wrong password."
	}
	return "The vault could not be unlocked: " + err.Error()
}

// login turns a ticket into a fresh, authenticated session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	se := s.sess.get(r)
	r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
	if se == nil || r.ParseForm() != nil || !csrfOK(se, r.PostFormValue("csrf")) || !s.sess.redeem(r.PostFormValue("ticket"), se) {
		http.Error(w, "refused: unlock again", http.StatusForbidden)
		return
	}
	setCookie(w, s.sess.create(true), secure(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// events streams agent events to the Approvals and Alerts pages.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ *session) {
	// Subscribed before the socket is accepted: no event falls between.
	sub, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch, err := s.b.Events(sub)
	if err != nil {
		http.Error(w, "no event stream", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(sub)
	go func() {
		<-ctx.Done()
		cancel()
	}()
	for ev := range ch {
		b, _ := json.Marshal(map[string]string{"kind": ev.Kind, "text": ev.Text, "agent": ev.Agent})
		if c.Write(ctx, websocket.MessageText, b) != nil {
			return
		}
	}
}
