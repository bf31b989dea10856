package recoverywire

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxMessageBytes": MaxMessageBytes, "RequestIDLen": RequestIDLen, "MaxTextLen": MaxTextLen,
		"MaxRequest": MaxRequest, "MaxResponse": MaxResponse, "Timeout": testkit.Seconds(Timeout),
		"peerRate": peerRate, "peerBurst": peerBurst, "maxLimited": maxLimited,
	})
	testkit.DocSays(t, doc, "/ocmt/recovery/1", "(MaxMessageBytes + 64)", "(MaxMessageBytes + MaxTextLen + 256)")
	if MaxRequest != MaxMessageBytes+64 || MaxResponse != MaxMessageBytes+MaxTextLen+256 {
		t.Fatal("the sums doc.go writes out no longer hold")
	}
	if ID != "/ocmt/recovery/1" {
		t.Fatal(ID)
	}
}
