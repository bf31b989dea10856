package web

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

var funcs = template.FuncMap{}

// page is what every template gets.
type page struct {
	Title, Path  string
	Authed       bool
	CSRF         string
	Flash, Error string
	Nav          []navItem
	Data         any
}

type navItem struct{ Path, Name string }

var nav = []navItem{{"/share", "Share"}, {"/shared-by-me", "Shared by me"}, {"/shared-with-me", "Shared with me"},
	{"/approvals", "Approvals"}, {"/alerts", "Alerts"}, {"/activity", "Activity"}, {"/secrets", "Secrets"}, {"/connections", "Connections"}, {"/recovery", "Recovery"}}

func (s *Server) routes() {
	m := s.mux
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /unlock", s.unlockPage)
	m.HandleFunc("GET /ws/unlock", s.unlockSocket)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.authed(func(w http.ResponseWriter, r *http.Request, se *session) {
		s.sess.end(se)
		clearCookie(w, secure(r))
		http.Redirect(w, r, "/unlock", http.StatusSeeOther)
	}))
	m.HandleFunc("POST /lock", s.authed(func(w http.ResponseWriter, r *http.Request, se *session) {
		if err := s.b.Lock(r.Context()); err != nil {
			s.after(w, r, se, "/share", "", "The vault could not be locked: "+err.Error())
			return
		}
		s.sess.end(nil) // every session: the vault is locked
		clearCookie(w, secure(r))
		http.Redirect(w, r, "/unlock", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /{$}", s.authed(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/share", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /share", s.authed(s.sharePage))
	m.HandleFunc("POST /share", s.authed(s.share))
	m.HandleFunc("GET /shared-by-me", s.authed(s.sharedByMe))
	m.HandleFunc("POST /stop", s.authed(s.stop))
	m.HandleFunc("GET /shared-with-me", s.authed(s.sharedWithMe))
	m.HandleFunc("GET /download", s.authed(s.download))
	m.HandleFunc("GET /approvals", s.authed(s.approvalsPage))
	m.HandleFunc("POST /approvals/decide", s.authed(s.decide))
	m.HandleFunc("GET /alerts", s.authed(s.alertsPage))
	m.HandleFunc("POST /alerts/unlock", s.authed(s.unlockAgent))
	m.HandleFunc("GET /activity", s.authed(s.activity))
	m.HandleFunc("GET /secrets", s.authed(func(w http.ResponseWriter, r *http.Request, se *session) { s.secretsPage(w, r, se, "", "", "") }))
	m.HandleFunc("POST /secrets/add", s.authed(s.secretAdd))
	m.HandleFunc("POST /secrets/remove", s.authed(s.secretRemove))
	m.HandleFunc("POST /secrets/reveal", s.authed(s.secretReveal))
	m.HandleFunc("GET /connections", s.authed(func(w http.ResponseWriter, r *http.Request, se *session) {
		flash, errText := "", ""
		if n := r.URL.Query().Get("connected"); n != "" && vault.CheckName(n) == nil {
			flash = "Connected: the key is in your vault as " + n + "."
		} else if r.URL.Query().Get("failed") != "" {
			errText = "Connecting failed; nothing was stored. Try again, or see your node's log."
		}
		s.connectionsPage(w, r, se, flash, errText)
	}))
	m.HandleFunc("POST /connections/start", s.authed(s.connectStart))
	// The provider's redirect back is a cross-site navigation, which a
	// SameSite=Strict cookie does not follow: the single-use state the
	// flow checks is what ties it to the session that started it.
	m.HandleFunc("GET /connections/callback", s.connectFinish)
	m.HandleFunc("GET /ws/events", s.authed(s.events))
	m.HandleFunc("GET /recovery", s.authed(s.recoveryPage))
	m.HandleFunc("POST /recovery/answer", s.authed(s.recoveryAnswer))
	m.HandleFunc("POST /recovery/fido2", s.authed(s.fido2Enable))
	m.HandleFunc("GET /recover", s.recoverPage)
	m.HandleFunc("GET /recover/options", s.recoverOptions)
	m.HandleFunc("POST /recover", s.recoverWithKey)
}

// after ends a POST: what it did is kept for the page it redirects to
// (303), so that reloading that page never posts again.
func (s *Server) after(w http.ResponseWriter, r *http.Request, se *session, path, flash, errText string) {
	s.sess.mu.Lock()
	se.flash, se.flashErr = flash, errText
	s.sess.mu.Unlock()
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// render writes a page; a template failure is logged and answered 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, se *session, name, title string, data any, flash, errText string) {
	p := page{Title: title, Path: r.URL.Path, Data: data, Flash: flash, Error: errText, Nav: nav}
	if name == "share" {
		p.Path = "/share"
	}
	if se != nil {
		p.Authed, p.CSRF = se.authed, se.csrf
		s.sess.mu.Lock()
		if p.Flash == "" && p.Error == "" {
			p.Flash, p.Error = se.flash, se.flashErr
		}
		se.flash, se.flashErr = "", ""
		s.sess.mu.Unlock()
	}
	t := s.pages[name]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, p); err != nil {
		s.log.Warn("web: a page failed", "page", name, "err", err)
	}
}

func (s *Server) unlockPage(w http.ResponseWriter, r *http.Request) {
	se := s.sess.get(r)
	if se != nil && se.authed {
		if st, err := s.b.Status(r.Context()); err == nil && !st.Locked {
			http.Redirect(w, r, "/share", http.StatusSeeOther)
			return
		}
	}
	if se == nil || se.authed {
		se = s.sess.create(false)
		setCookie(w, se, secure(r))
	}
	s.render(w, r, se, "unlock", "Unlock your vault", nil, "", "")
}

// collection is one thing the Share page offers: a folder of the user's
// resources, in words.
type collection struct{ Name, Value string }

// words names a resource folder as people do: "calendar" → "Calendar".
func words(folder string) string {
	if folder == "" {
		return folder
	}
	return strings.ToUpper(folder[:1]) + strings.ReplaceAll(folder[1:], "-", " ")
}

// what names a pattern in words: "calendar/**" → "Calendar", a single
// resource → "calendar/work".
func what(pattern string) string {
	if f, ok := strings.CutSuffix(pattern, "/**"); ok && !strings.Contains(f, "/") {
		return words(f)
	}
	if f, ok := strings.CutSuffix(pattern, "/*"); ok && !strings.Contains(f, "/") {
		return words(f)
	}
	return pattern
}

func (s *Server) sharePage(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderShare(w, r, se, "", "")
}

func (s *Server) renderShare(w http.ResponseWriter, r *http.Request, se *session, flash, errText string) {
	var data struct {
		Collections []collection
		Contacts    []localapi.Contact
	}
	res, err := s.b.ListResources(r.Context(), "")
	if err != nil {
		errText = problem(err)
	}
	seen := map[string]bool{}
	for _, x := range res {
		f, _, _ := strings.Cut(x.Path, "/")
		if f == "memory" || seen[f] {
			continue
		}
		seen[f] = true
		data.Collections = append(data.Collections, collection{Name: words(f), Value: f + "/**"})
	}
	sort.Slice(data.Collections, func(i, j int) bool { return data.Collections[i].Name < data.Collections[j].Name })
	data.Contacts, _ = s.b.Contacts(r.Context())
	s.render(w, r, se, "share", "Share", data, flash, errText)
}

// canActions maps the page's choices to actions.
var canActions = map[string]string{"view": "read,list", "edit": "read,list,write"}

func (s *Server) share(w http.ResponseWriter, r *http.Request, se *session) {
	f := r.PostForm
	can, ok := canActions[f.Get("can")]
	if !ok {
		s.after(w, r, se, "/share", "", "Choose what they can do: view, or view and edit.")
		return
	}
	valid, err := validity(f.Get("for"), f.Get("until"), s.cfg.Now())
	if err != nil {
		s.after(w, r, se, "/share", "", err.Error())
		return
	}
	with := strings.TrimSpace(f.Get("with"))
	res, err := s.b.Share(r.Context(), localapi.ShareRequest{Path: f.Get("what"), With: with, Can: can, ValidFor: valid})
	if err != nil {
		s.after(w, r, se, "/share", "", problem(err))
		return
	}
	msg := fmt.Sprintf("Shared %s with %s until %s.", what(f.Get("what")), with, day(res.Expiry))
	if res.Delivered == "" {
		msg += " " + with + "'s node is not reachable now: it will get the share as soon as it is."
	}
	s.after(w, r, se, "/share", msg, "")
}

// validity reads the Share page's "for how long".
func validity(choice, until string, now time.Time) (time.Duration, error) {
	if choice != "until" {
		d, err := duration.Parse(choice)
		if err != nil || d <= 0 {
			return 0, errors.New("choose for how long")
		}
		return d, nil
	}
	t, err := time.ParseInLocation("2006-01-02", until, time.Local)
	if err != nil {
		return 0, errors.New("choose the date the share ends")
	}
	d := t.Add(24 * time.Hour).Sub(now) // to the end of that day
	if d <= 0 {
		return 0, errors.New("that date has passed")
	}
	return d.Truncate(time.Minute), nil
}

func day(t time.Time) string { return t.Local().Format("Mon 2 Jan 2006") }

// problem words an error for the page.
func problem(err error) string {
	switch {
	case errors.Is(err, vault.ErrLocked):
		return "Your vault is locked: unlock it again."
	case errors.Is(err, localapi.ErrNeedsNode):
		return "Your node is not running."
	}
	return err.Error()
}

// grantRow is a share as the Shared pages show it.
type grantRow struct {
	ID, What, Who, Can, Until, Status, Pattern, Peer, Open string
	Active                                                 bool
}

func canWords(actions []string) string {
	for _, a := range actions {
		if a == "write" {
			return "view and edit"
		}
	}
	return "view"
}

func statusWords(g localapi.Grant) string {
	switch {
	case g.Status == "active" && g.Via != "":
		return "delivered"
	case g.Status == "undelivered":
		return "waiting to be delivered"
	}
	return g.Status
}

func (s *Server) sharedByMe(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderSharedByMe(w, r, se, "", "")
}

func (s *Server) renderSharedByMe(w http.ResponseWriter, r *http.Request, se *session, flash, errText string) {
	l, err := s.b.Shares(r.Context())
	if err != nil {
		errText = problem(err)
	}
	var rows []grantRow
	for _, g := range l {
		who := g.AudienceHandle
		if who == "" {
			who = "a person without a name (advanced: see the peer ID)"
		}
		rows = append(rows, grantRow{ID: g.ID, What: what(g.Resource), Who: who, Can: canWords(g.Actions), Until: day(g.Expiry),
			Status: statusWords(g), Pattern: g.Resource, Peer: g.Audience, Active: g.Status == "active" || g.Status == "undelivered"})
	}
	s.render(w, r, se, "shared-by-me", "Shared by me", rows, flash, errText)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request, se *session) {
	if _, err := s.b.Revoke(r.Context(), r.PostForm.Get("id")); err != nil {
		s.after(w, r, se, "/shared-by-me", "", problem(err))
		return
	}
	s.after(w, r, se, "/shared-by-me", "Stopped: they can no longer open it, anywhere.", "")
}

// opened is a folder of a share the Shared-with-me page opened.
type opened struct {
	Title string
	Items []struct{ Name, Remote string }
}

func (s *Server) sharedWithMe(w http.ResponseWriter, r *http.Request, se *session) {
	var data struct {
		Grants []grantRow
		Opened *opened
	}
	var errText string
	l, err := s.b.Shared(r.Context())
	if err != nil {
		errText = problem(err)
	}
	for _, g := range l {
		who, owner := g.OwnerHandle, g.OwnerHandle
		if who == "" {
			who, owner = "someone without a name", g.Owner // the peer ID is under Advanced
		}
		folder := strings.TrimSuffix(strings.TrimSuffix(g.Resource, "/**"), "/*")
		data.Grants = append(data.Grants, grantRow{ID: g.ID, What: what(g.Resource), Who: who, Can: canWords(g.Actions), Until: day(g.Expiry),
			Status: statusWords(g), Active: g.Status == "active" || g.Status == localapi.StatusLastSeen, Open: url.QueryEscape(owner + "/" + folder),
			Pattern: g.Resource, Peer: g.Owner})
	}
	if o := r.URL.Query().Get("open"); o != "" {
		names, err := s.b.ListRemote(r.Context(), o)
		if err != nil {
			errText = problem(err)
		} else {
			owner, _, _ := strings.Cut(o, "/")
			op := &opened{Title: o}
			for _, n := range names {
				op.Items = append(op.Items, struct{ Name, Remote string }{path.Base(n), url.QueryEscape(owner + "/" + n)})
			}
			data.Opened = op
		}
	}
	s.render(w, r, se, "shared-with-me", "Shared with me", data, "", errText)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, _ *session) {
	remote := r.URL.Query().Get("r")
	f, err := s.b.Get(r.Context(), localapi.FetchRequest{Remote: remote, Wake: true})
	if err != nil {
		http.Error(w, problem(err), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(remote)))
	w.Write(f.Data)
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderApprovals(w, r, se, "", "")
}

func (s *Server) renderApprovals(w http.ResponseWriter, r *http.Request, se *session, flash, errText string) {
	l, err := s.b.Approvals(r.Context())
	if err != nil {
		errText = problem(err)
	}
	s.render(w, r, se, "approvals", "Approvals", l, flash, errText)
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, se *session) {
	yes := r.PostForm.Get("approve") == "yes"
	d, err := s.b.Decide(r.Context(), r.PostForm.Get("id"), yes)
	if err != nil {
		s.after(w, r, se, "/approvals", "", problem(err))
		return
	}
	msg := "Refused: " + d.Approval.Intent + "."
	if yes {
		msg = "Allowed: " + d.Approval.Intent + "."
	}
	s.after(w, r, se, "/approvals", msg, "")
}

type alertRow struct{ Name, Lock, When string }

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderAlerts(w, r, se, "", "")
}

func (s *Server) renderAlerts(w http.ResponseWriter, r *http.Request, se *session, flash, errText string) {
	l, err := s.b.AgentList(r.Context())
	if err != nil {
		errText = problem(err)
	}
	var rows []alertRow
	for _, a := range l {
		if a.Locked {
			rows = append(rows, alertRow{Name: a.Name, Lock: a.Lock, When: "at " + a.LockedAt.Local().Format("15:04 on Mon 2 Jan")})
		}
	}
	s.render(w, r, se, "alerts", "Alerts", rows, flash, errText)
}

func (s *Server) unlockAgent(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PostForm.Get("name")
	if err := s.b.AgentUnlock(r.Context(), name); err != nil {
		s.after(w, r, se, "/alerts", "", problem(err))
		return
	}
	s.after(w, r, se, "/alerts", "Agent "+name+" can call again.", "")
}

func (s *Server) activity(w http.ResponseWriter, r *http.Request, se *session) {
	var data struct {
		Lines  []string
		Check  string
		Broken bool
	}
	rep, err := s.b.Audit(r.Context())
	if err != nil {
		s.render(w, r, se, "activity", "Activity", data, "", problem(err))
		return
	}
	data.Check = "Every record below is linked to the one before it, and the chain was verified (" + rep.Checked + ")."
	if rep.Broken != "" {
		data.Broken, data.Check = true, "The record chain is broken: "+rep.Broken
	}
	for i := len(rep.Records) - 1; i >= 0 && len(data.Lines) < MaxActivity; i-- {
		data.Lines = append(data.Lines, sentence(rep.Records[i]))
	}
	s.render(w, r, se, "activity", "Activity", data, "", "")
}

// MaxActivity is how many records the Activity page shows, newest first.
const MaxActivity = 200

// opWords are audit operations in words: "%s read %s".
var opWords = map[string]string{
	"resource.read": "%s read %s", "resource.write": "%s wrote %s", "resource.delete": "%s deleted %s",
	"secret.read": "%s revealed the secret %s", "secret.write": "%s saved the secret %s", "secret.delete": "%s removed the secret %s",
	"share.issue": "%s shared %s", "share.serve": "%s opened %s", "share.refused": "%s was refused %s",
	"token.issue": "%s issued capability %s", "token.revoke": "%s stopped sharing (capability %s)",
	"vault.unlock": "%s unlocked the vault%s", "vault.lock": "%s locked the vault%s",
	"agent.add": "%s added agent %s", "agent.rm": "%s removed agent %s", "agent.lock": "%s locked agent %s", "agent.unlock": "%s unlocked agent %s",
	"agent.refused": "%s was refused %s", "agent.calls": "%s made calls (%s)",
	"approval.ask": "%s asked for approval %s", "approval.approve": "%s allowed request %s", "approval.deny": "%s refused request %s",
	"approval.expire": "%s let request %s expire",
}

// sentence writes one audit record as people say it: "You read
// calendar/work at 09:02 on Mon 30 Nov".
func sentence(r vault.AuditRecord) string {
	who := r.Actor
	switch {
	case who == "local-api" || who == "cli":
		who = "You"
	case strings.HasPrefix(who, "agent:"):
		who = "Agent " + strings.TrimPrefix(who, "agent:")
	}
	target := r.Target
	if target != "" {
		target = " " + target
	}
	f, ok := opWords[r.Op]
	var text string
	if ok {
		text = fmt.Sprintf(f, who, strings.TrimSpace(target))
		if strings.HasSuffix(f, "%s") && strings.Contains(f, "vault%s") {
			text = fmt.Sprintf(f, who, "")
		}
	} else {
		text = fmt.Sprintf("%s: %s%s", who, r.Op, target)
	}
	if r.Outcome != "" && r.Outcome != vault.OutcomeOK {
		text += " (" + r.Outcome + ")"
	}
	return text + " at " + r.Time.Local().Format("15:04 on Mon 2 Jan")
}

type secretsData struct {
	Secrets         []vault.SecretInfo
	Revealed, Value string
}

func (s *Server) secretsPage(w http.ResponseWriter, r *http.Request, se *session, flash, errText, reveal string) {
	var data secretsData
	l, err := s.b.SecretList(r.Context())
	if err != nil && errText == "" {
		errText = problem(err)
	}
	data.Secrets = l
	if reveal != "" {
		sec, err := s.b.SecretGet(r.Context(), reveal)
		if err != nil {
			errText = problem(err)
		} else {
			data.Revealed, data.Value = reveal, string(sec.Value)
			sec.Wipe()
		}
	}
	s.render(w, r, se, "secrets", "Secrets", data, flash, errText)
}

func (s *Server) secretAdd(w http.ResponseWriter, r *http.Request, se *session) {
	f := r.PostForm
	t, err := vault.ParseSecretType(f.Get("type"))
	if err != nil {
		s.after(w, r, se, "/secrets", "", "Choose a kind of secret.")
		return
	}
	value := []byte(f.Get("value"))
	defer clear(value)
	if err := s.b.SecretSet(r.Context(), vault.Secret{Name: f.Get("name"), Type: t, Value: value}); err != nil {
		s.after(w, r, se, "/secrets", "", problem(err))
		return
	}
	s.after(w, r, se, "/secrets", "Saved "+f.Get("name")+".", "")
}

func (s *Server) secretRemove(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PostForm.Get("name")
	if err := s.b.SecretRemove(r.Context(), name); err != nil {
		s.after(w, r, se, "/secrets", "", problem(err))
		return
	}
	s.after(w, r, se, "/secrets", "Removed "+name+".", "")
}

func (s *Server) secretReveal(w http.ResponseWriter, r *http.Request, se *session) {
	s.secretsPage(w, r, se, "", "", r.PostForm.Get("name"))
}

type connectionsData struct {
	Choices   []Choice
	Connected []string
}

func (s *Server) connectionsPage(w http.ResponseWriter, r *http.Request, se *session, flash, errText string) {
	var data connectionsData
	if c := s.cfg.Connections; c != nil {
		data.Choices = c.Choices()
		// The form posts here and is redirected to the provider: CSP's
		// form-action governs the redirect too.
		w.Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+c.AuthOrigin(), 1))
	}
	if l, err := s.b.SecretList(r.Context()); err == nil {
		for _, x := range l {
			if x.Type == vault.TypeOAuthToken {
				data.Connected = append(data.Connected, fmt.Sprintf("%s (%s), since %s", x.Name, x.Provider, day(x.Updated)))
			}
		}
	}
	s.render(w, r, se, "connections", "Connections", data, flash, errText)
}

func (s *Server) connectStart(w http.ResponseWriter, r *http.Request, se *session) {
	c := s.cfg.Connections
	if c == nil {
		s.connectionsPage(w, r, se, "", "No connection is configured on this node.")
		return
	}
	u, err := c.Start(r.PostForm.Get("scope"))
	if err != nil {
		s.connectionsPage(w, r, se, "", problem(err))
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (s *Server) connectFinish(w http.ResponseWriter, r *http.Request) {
	c := s.cfg.Connections
	if c == nil {
		http.NotFound(w, r)
		return
	}
	next := "/connections?failed=1"
	if name, err := c.Finish(r.Context(), r.URL.Query()); err != nil {
		s.log.Warn("web: connecting failed", "err", err)
	} else {
		next = "/connections?connected=" + url.QueryEscape(name)
	}
	// A page of its own, not a redirect: the way back started on the
	// provider's site, and a SameSite=Strict cookie follows no navigation
	// that another site started, redirects included. The navigation this
	// page makes starts here, so the session comes along.
	s.render(w, r, nil, "continue", "Back to your node", next, "", "")
}
