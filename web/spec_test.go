package web

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"DefaultSessionIdle": s(DefaultSessionIdle), "DefaultSessionMax": s(DefaultSessionMax), "MaxSessions": MaxSessions,
		"TicketTTL": s(TicketTTL), "MaxPasswordMessage": MaxPasswordMessage, "UnlockTimeout": s(UnlockTimeout),
		"MaxForm": MaxForm, "MaxDownload": MaxDownload, "MaxActivity": MaxActivity, "SelfSignedLife": s(SelfSignedLife),
	})
	testkit.DocSays(t, doc, "default-src 'self'", "mesh_session", "HttpOnly, SameSite=Strict")
}
