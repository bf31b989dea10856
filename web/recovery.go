package web

import (
	"net/http"
	"time"

	"github.com/ocmt/mesh/node/localapi"
)

// recoveryWords names each recovery method for people.
var recoveryWords = map[string]string{
	"phrase":   "Your 24-word recovery phrase",
	"social":   "Your friends",
	"hardware": "Your recovery key file",
	"escrow":   "Your institution's escrow",
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
	}
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
