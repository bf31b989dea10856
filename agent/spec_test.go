package agent

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxNameLen": MaxNameLen, "MaxPolicyPaths": MaxPolicyPaths,
		"DefaultFactor": DefaultFactor, "DefaultMinPerHour": DefaultMinPerHour, "DefaultNewAgentCap": DefaultNewAgentCap,
		"NewAgentAge": s(NewAgentAge), "tokenMinHistory": s(tokenMinHistory), "AlphaPercent": AlphaPercent,
		"maxIdleFeedHours": maxIdleFeedHours, "minuteBuckets": minuteBuckets, "hourBuckets": hourBuckets,
		"dayBuckets": dayBuckets, "baselineScale": baselineScale, "maxBaselineMilli": maxBaselineMilli,
		"DefaultMaxAgents": DefaultMaxAgents, "DefaultMaxTokens": DefaultMaxTokens, "maxSeriesRecord": maxSeriesRecord,
		"MaxReasonLen": MaxReasonLen, "DefaultApprovalTTL": s(DefaultApprovalTTL), "MinValidity": s(MinValidity),
		"MaxValidity": s(MaxValidity), "MaxPendingPerAgent": MaxPendingPerAgent, "DefaultMaxApprovals": DefaultMaxApprovals,
		"KeepDecided": s(KeepDecided), "IDBytes": IDBytes, "MaxTargetLen": MaxTargetLen,
		"maxApprovalRecord": maxApprovalRecord, "DefaultSubscriberBuffer": DefaultSubscriberBuffer,
		"MaxSubscribers": MaxSubscribers, "recordVersion": recordVersion, "maxUnix": maxUnix,
	})
	testkit.DocSays(t, doc, "(3 days)", "(15 minutes)", "(365 days)", "gives 1.52", "α = AlphaPercent (20)",
		`"share calendar/* with bob: read, for 7 days"`)
	if NewAgentAge != 3*24*3600*1e9 || DefaultApprovalTTL != 15*60*1e9 || MaxValidity != 365*24*3600*1e9 {
		t.Fatal("a duration doc.go spells out no longer holds")
	}
	if maxBaselineMilli != baselineScale*(1<<32-1) {
		t.Fatal("maxBaselineMilli is no longer the largest uint32 count in thousandths")
	}
	// The trailing ratio doc.go gives for doubling in a week.
	g := 1.1040895136738123 // 2^(1/7)
	if r := (g - 1 + AlphaPercent/100.0) / (AlphaPercent / 100.0); r < 1.51 || r > 1.53 {
		t.Fatalf("the trailing ratio is %.3f, doc.go says 1.52", r)
	}
	ap := Approval{Request: Request{Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: 1, Validity: 7 * 24 * 3600 * 1e9}}
	if ap.Intent() != "share calendar/* with bob: read, for 7 days" {
		t.Fatalf("the intent doc.go quotes is now %q", ap.Intent())
	}
}
