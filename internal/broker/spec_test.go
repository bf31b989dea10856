package broker

import (
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxURLBytes": MaxURLBytes, "MaxHeaders": MaxHeaders, "MaxHeaderBytes": MaxHeaderBytes,
		"MaxRequestBody": MaxRequestBody, "MaxResponseBytes": MaxResponseBytes, "MaxInFlight": MaxInFlight,
		"DefaultTimeout": testkit.Seconds(DefaultTimeout), "DialTimeout": testkit.Seconds(DialTimeout),
		"MaxRedirects": MaxRedirects, "MaxEndpoints": MaxEndpoints, "MinSecretBytes": MinSecretBytes,
		"MaxBatch": MaxBatch, "MaxTextBytes": MaxTextBytes, "MaxDimension": MaxDimension,
		"MaxNotes": MaxNotes, "MaxIDBytes": MaxIDBytes, "MaxK": MaxK, "MaxEncodedBytes": int64(MaxEncodedBytes),
	})
	testkit.DocSays(t, doc,
		"api_key any other, or none Authorization: Bearer KEY",
		"oauth_token any Authorization: Bearer ACCESS_TOKEN",
		"password any, with a username Authorization: Basic base64(USERNAME:PASSWORD)",
		"1 version uint 1", "2 dim uint 1 to 4096",
		"vault.MaxRecordPlaintext", "10,000 notes of dimension 1536 fit",
	)
	if MaxEncodedBytes != vault.MaxRecordPlaintext || MaxDimension != 4096 || indexVersion != 1 {
		t.Fatal("the numbers doc.go writes out no longer hold")
	}
	// The injection table names every provider with a header of its own.
	for p, h := range apiKeyHeaders {
		testkit.DocSays(t, doc, p)
		testkit.DocSays(t, doc, h+": KEY")
	}
	// Every reserved header is named in "Requests".
	for h := range reserved {
		if strings.HasPrefix(h, "Proxy-") && h != "Proxy-Authorization" {
			h = "Proxy-*"
		}
		testkit.DocSays(t, strings.ToLower(doc), strings.ToLower(h))
	}
}
