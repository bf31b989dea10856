package agenthost

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"DefaultValidity": s(DefaultValidity), "RenewWithin": RenewWithin, "SweepEvery": s(SweepEvery), "SaveEvery": s(SaveEvery),
		"maxAgentRecord": maxAgentRecord, "maxConfigRecord": maxConfigRecord, "eventBuffer": eventBuffer,
		"MaxEventSubscribers": MaxEventSubscribers, "MaxMemoryHits": MaxMemoryHits, "embedBatch": embedBatch,
		"MaxCatchUp": MaxCatchUp, "recordVersion": recordVersion, "maxUnix": maxUnix,
	})
	testkit.DocSays(t, doc, "(90 days)", `"agent:NAME"`, "/agents/a/NAME", `"endpoints/NAME"`, `"memory-index"`)
	if DefaultValidity != 90*24*3600*1e9 || NSAgents != "agents" || memIndexName != "memory-index" || endpointsName != "endpoints/" {
		t.Fatal("a value doc.go spells out changed")
	}
}
