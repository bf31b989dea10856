package wake

import (
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxHalfBytes": MaxHalfBytes, "MinHandleLen": directory.MinHandleLen, "MaxHandleLen": directory.MaxHandleLen,
		"PeerIDLen": int64(keys.PeerIDLen), "MaxTokenBytes": capability.MaxTokenBytes,
		"MaxRequest": MaxRequest, "MaxResponse": MaxResponse,
		"Timeout": testkit.Seconds(Timeout), "WakeSlack": testkit.Seconds(WakeSlack), "MaxTTL": testkit.Seconds(MaxTTL),
		"MaxUntil": testkit.Seconds(MaxUntil), "DefaultTTL": testkit.Seconds(DefaultTTL),
		"DefaultHookTimeout": testkit.Seconds(DefaultHookTimeout), "DefaultAsleepFor": testkit.Seconds(DefaultAsleepFor),
		"DefaultMaxAsleep": DefaultMaxAsleep, "DefaultMaxWaiters": DefaultMaxWaiters,
		"DefaultMaxWaitersPerOwner": DefaultMaxWaitersPerOwner, "DefaultMaxWaitsPerRequester": DefaultMaxWaitsPerRequester,
		"DefaultMaxHooks": DefaultMaxHooks, "SweepEvery": testkit.Seconds(SweepEvery),
		"peerRate": peerRate, "peerBurst": peerBurst, "maxLimited": maxLimited,
	})
	testkit.DocSays(t, doc, "/ocmt/wake/1", "(MaxTokenBytes + 512)", "(30 days)", "not asleep at this relay")
	if MaxRequest != capability.MaxTokenBytes+512 || MaxUntil != 30*24*60*60*1e9 {
		t.Fatal("the sums doc.go writes out no longer hold")
	}
	if ID != "/ocmt/wake/1" {
		t.Fatal(ID)
	}
}
