package web

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/node/localapi"
)

// recoveryWords names each recovery method for people.
var recoveryWords = map[string]string{
	"phrase":   "Your 24-word recovery phrase",
	"social":   "Your friends",
	"hardware": "Your recovery key file",
	"escrow":   "Your institution's escrow",
	"fido2":    "Your security key",
}

type recoveryRow struct {
	Name, Needs, Added, Tested string
}

type recoveryRequestRow struct {
	ID, Whose, Device, Code, When, State string
	Mine, CanHelp                        bool
}

// recoveryPage shows the vault's recovery methods (mesh recovery status)
// and the recovery requests the node holds: a friend helps from here,
// and the owner refuses one for their own vault.
func (s *Server) recoveryPage(w http.ResponseWriter, r *http.Request, se *session) {
	var data struct {
		Methods  []recoveryRow
		Requests []recoveryRequestRow
		Salt     string // a fresh PRF salt, should a security key be added
	}
	salt := make([]byte, recovery.FIDO2SaltSize)
	rand.Read(salt)
	data.Salt = hex.EncodeToString(salt)
	errText := ""
	st, err := s.b.Recovery(r.Context(), localapi.RecoveryRequest{Op: localapi.RecoveryStatus})
	if err != nil {
		errText = problem(err)
	}
	for _, m := range st.Methods {
		row := recoveryRow{Name: recoveryWords[m.Method], Needs: m.Detail, Added: m.Added.Local().Format("2 Jan 2006"), Tested: "never"}
		if row.Name == "" {
			row.Name = m.Method
		}
		if !m.Tested.IsZero() {
			row.Tested = m.Tested.Local().Format("2 Jan 2006")
		}
		data.Methods = append(data.Methods, row)
	}
	if rq, err := s.b.Recovery(r.Context(), localapi.RecoveryRequest{Op: localapi.RecoveryRequests}); err == nil {
		for _, q := range rq.Requests {
			whose := q.Owner
			if q.Mine {
				whose = "your vault"
			}
			data.Requests = append(data.Requests, recoveryRequestRow{ID: q.ID, Whose: whose, Device: q.Device, Code: q.Code,
				When: q.Time.Local().Format(time.DateTime), State: q.State, Mine: q.Mine, CanHelp: !q.Mine && q.State == "waiting for you"})
		}
	}
	s.render(w, r, se, "recovery", "Recovery", data, "", errText)
}

// recoveryAnswer is a friend's help or the owner's veto.
func (s *Server) recoveryAnswer(w http.ResponseWriter, r *http.Request, se *session) {
	op := localapi.RecoveryHelp
	if r.PostForm.Get("veto") != "" {
		op = localapi.RecoveryVeto
	}
	out, err := s.b.Recovery(r.Context(), localapi.RecoveryRequest{Op: op, ID: r.PostForm.Get("id")})
	if err != nil {
		s.after(w, r, se, "/recovery", "", problem(err))
		return
	}
	s.after(w, r, se, "/recovery", out.Text, "")
}

// fido2Enable takes a security key's registration from the Recovery
// page: the credential, the salt and the key's PRF output for it.
func (s *Server) fido2Enable(w http.ResponseWriter, r *http.Request, se *session) {
	f := r.PostForm
	dec := base64.RawURLEncoding
	cred, err1 := dec.DecodeString(f.Get("credential"))
	salt, err2 := dec.DecodeString(f.Get("salt"))
	prf, err3 := dec.DecodeString(f.Get("prf"))
	defer clear(prf)
	if err := errors.Join(err1, err2, err3); err != nil {
		s.after(w, r, se, "/recovery", "", "The security key's answer did not read: nothing was changed.")
		return
	}
	out, err := s.b.Recovery(r.Context(), localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.FIDO2,
		RPID: f.Get("rp"), Credential: cred, Salt: salt, PRF: prf})
	if err != nil {
		s.after(w, r, se, "/recovery", "", problem(err))
		return
	}
	s.after(w, r, se, "/recovery", out.Text, "")
}

// recoverPage is the unlock page's way out for a lost password: a
// security key sets a new one. Like the unlock page it needs no session
// and makes a pre-unlock one for its token.
func (s *Server) recoverPage(w http.ResponseWriter, r *http.Request) {
	se := s.sess.get(r)
	if se == nil || se.authed {
		se = s.sess.create(false)
		setCookie(w, se, secure(r))
	}
	s.render(w, r, se, "recover", "Set a new password", nil, "", "")
}

// recoverOptions tells the recovery page which key to ask (the fido2
// method's public meta), to a page of this origin with a session.
func (s *Server) recoverOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.sess.get(r) == nil {
		json.NewEncoder(w).Encode(map[string]string{"error": "Open the recovery page first."})
		return
	}
	out, err := s.b.Recovery(r.Context(), localapi.RecoveryRequest{Op: localapi.RecoveryFIDO2Options})
	if err != nil || out.FIDO2 == nil {
		json.NewEncoder(w).Encode(map[string]string{"error": "No security key was added to this vault: use mesh recover with your phrase, key file or friends."})
		return
	}
	enc := base64.RawURLEncoding
	json.NewEncoder(w).Encode(map[string]string{"rp_id": out.FIDO2.RPID, "credential": enc.EncodeToString(out.FIDO2.Credential),
		"salt": enc.EncodeToString(out.FIDO2.Salt)})
}

// recoverWithKey sets a new password with the security key's PRF output:
// a JSON body from the recovery page (same origin, its session's token),
// never a form or a URL, as the unlock page's password.
func (s *Server) recoverWithKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	se := s.sess.get(r)
	var in struct{ CSRF, PRF, Password string }
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if se == nil || !sameOrigin(r) || json.NewDecoder(r.Body).Decode(&in) != nil || !csrfOK(se, in.CSRF) {
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]string{"error": "Refused: reload the recovery page."})
		return
	}
	prf, err1 := base64.RawURLEncoding.DecodeString(in.PRF)
	pw, err2 := base64.StdEncoding.DecodeString(in.Password)
	defer clear(prf)
	defer clear(pw)
	if err1 != nil || err2 != nil || len(pw) == 0 {
		json.NewEncoder(w).Encode(map[string]string{"error": "Give a new password."})
		return
	}
	_, err := s.b.Recovery(r.Context(), localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.FIDO2, PRF: prf, NewPassword: pw})
	if err != nil {
		json.NewEncoder(w).Encode(map[string]string{"error": problem(err)})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{})
}
