package oauthflow

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"golang.org/x/oauth2"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"StateTTL": s(StateTTL), "MaxPending": MaxPending, "StateBytes": StateBytes, "stateLen": stateLen,
		"verifierLen": verifierLen, "MaxCodeLen": MaxCodeLen, "MaxErrorCodeLen": MaxErrorCodeLen,
		"MaxDescriptionLen": MaxDescriptionLen, "MaxIssuerLen": MaxIssuerLen, "MaxProviderNameLen": MaxProviderNameLen,
		"MaxScopes": MaxScopes, "MaxScopeIDLen": MaxScopeIDLen, "MaxOAuthScopes": MaxOAuthScopes, "MaxScopeLen": MaxScopeLen,
		"ExchangeTimeout": s(ExchangeTimeout), "MaxExpiresIn": s(MaxExpiresIn), "DefaultRefreshBefore": s(DefaultRefreshBefore),
		"CheckEvery": s(CheckEvery), "RetryMin": s(RetryMin), "RetryMax": s(RetryMax),
	})
	testkit.DocSays(t, doc, "(10 minutes)", "(365 days)", "(5 minutes)", "(30 minutes)",
		"DefaultRefreshBefore, 300 seconds",
		"files only files I pick https://www.googleapis.com/auth/drive.file",
		"read read all my files https://www.googleapis.com/auth/drive.readonly",
		"full full access https://www.googleapis.com/auth/drive",
		`access_type=offline and prompt=consent`)
	if StateTTL != 10*time.Minute || MaxExpiresIn != 365*24*time.Hour || DefaultRefreshBefore != 5*time.Minute || RetryMax != 30*time.Minute {
		t.Fatal("a duration doc.go spells out no longer holds")
	}
	if stateLen != base64.RawURLEncoding.EncodedLen(StateBytes) || len(randomText()) != stateLen {
		t.Fatal("stateLen is no longer StateBytes in unpadded base64url")
	}
	if len(oauth2.GenerateVerifier()) != verifierLen || verifierLen < 43 || verifierLen > 128 {
		t.Fatal("verifierLen is no longer the length of a verifier, or outside RFC 7636's 43 to 128")
	}
	if RetryMin >= RetryMax || CheckEvery >= DefaultRefreshBefore {
		t.Fatal("the refresh timings no longer nest")
	}
	// The Google table of doc.go is GoogleDrive's.
	p := GoogleDrive("id", "")
	for i, want := range [][3]string{{"files", "only files I pick", DriveFiles}, {"read", "read all my files", DriveReadOnly}, {"full", "full access", DriveFull}} {
		if sc := p.Scopes[i]; sc.ID != want[0] || sc.Words != want[1] || len(sc.OAuth) != 1 || sc.OAuth[0] != want[2] {
			t.Fatalf("GoogleDrive's scope %d is %+v, doc.go says %v", i, sc, want)
		}
	}
	if err := checkProvider(p); err != nil {
		t.Fatal(err)
	}
}
