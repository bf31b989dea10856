package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/node/localapi"
)

// recoveryNode is fakeNode with recovery methods and one friend's request.
type recoveryNode struct {
	*fakeNode
	asked []localapi.RecoveryRequest
}

func (f *recoveryNode) Recovery(_ context.Context, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	f.asked = append(f.asked, req)
	switch req.Op {
	case localapi.RecoveryStatus:
		return localapi.RecoveryReply{Methods: []localapi.RecoveryMethod{
			{Method: "phrase", Added: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), Detail: "the 24-word phrase shown when it was enabled"},
			{Method: "social", Added: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), Tested: time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC),
				Detail: "3 of 5 friends (bob, carol, dave, erin, frank), then a wait of 2d"}}}, nil
	case localapi.RecoveryRequests:
		return localapi.RecoveryReply{Requests: []localapi.RecoveryRequestInfo{
			{ID: "a1b2c3", Owner: "alice", Device: "12D3KooWdevice", Code: "12345 67890 11111 22222", Time: time.Now(), State: "waiting for you"}}}, nil
	case localapi.RecoveryHelp:
		return localapi.RecoveryReply{Text: "you help alice: your share is released after the wait"}, nil
	}
	return localapi.RecoveryReply{}, nil
}

// TestTheRecoveryPageShowsTheMethodsAndLetsAFriendHelp: the page says,
// in words, how a lost password would be recovered, and a friend helps
// with one click (a POST with the session's token).
func TestTheRecoveryPageShowsTheMethodsAndLetsAFriendHelp(t *testing.T) {
	h := newHarness(t)
	rn := &recoveryNode{fakeNode: h.node}
	h.web.b = rn
	b := h.browser()
	if _, err := b.unlock(password); err != nil {
		t.Fatal(err)
	}
	resp, page := b.get("/recovery")
	for _, want := range []string{"Your 24-word recovery phrase", "Your friends", "3 of 5 friends", "last tried never",
		"alice</strong> asked for your help", "12345 67890 11111 22222", "Help (call them first"} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("the Recovery page lacks %q:\n%s", want, page)
		}
	}
	resp, _ = b.post("/recovery/answer", url.Values{"csrf": {b.csrf}, "id": {"a1b2c3"}}, h.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("helping: %s", resp.Status)
	}
	if last := rn.asked[len(rn.asked)-1]; last.Op != localapi.RecoveryHelp || last.ID != "a1b2c3" {
		t.Fatalf("the node was asked %+v", last)
	}
	if _, page = b.get("/recovery"); !strings.Contains(page, "you help alice") {
		t.Fatalf("the page after helping:\n%s", page)
	}
	// without the session's token, nothing is done
	n := len(rn.asked)
	b.post("/recovery/answer", url.Values{"id": {"a1b2c3"}}, h.srv.URL)
	for _, q := range rn.asked[n:] {
		if q.Op == localapi.RecoveryHelp {
			t.Fatal("a help without the token was carried out")
		}
	}
}
