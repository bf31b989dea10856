package uigateway

import (
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	ms := func(d time.Duration) int64 { return int64(d / time.Millisecond) }
	doc := testkit.DocNumbers(t, map[string]int64{
		"recordHeaderLen": recordHeaderLen, "maxRecordLen": maxRecordLen, "MaxHello": MaxHello,
		"maxHostLen": maxHostLen, "maxLabelLen": maxLabelLen,
		"DefaultHandshakeTimeout": s(DefaultHandshakeTimeout), "DefaultOpenTimeout": s(DefaultOpenTimeout),
		"DefaultIdleTimeout": s(DefaultIdleTimeout), "DefaultMaxLifetime": s(DefaultMaxLifetime),
		"halfCloseGrace": s(halfCloseGrace), "DefaultMaxConns": DefaultMaxConns,
		"DefaultMaxConnsPerIP": DefaultMaxConnsPerIP, "DefaultMaxConnsPerNode": DefaultMaxConnsPerNode,
		"DefaultRatePerIP":  DefaultRatePerIP,
		"DefaultBurstPerIP": DefaultBurstPerIP, "DefaultMaxTrackedIPs": DefaultMaxTrackedIPs,
		"ipv6Prefix": ipv6Prefix, "spliceBuffer": spliceBuffer,
		"acceptBackoffMin": ms(acceptBackoffMin), "acceptBackoffMax": ms(acceptBackoffMax),
		"DefaultListenerMaxConns": DefaultListenerMaxConns, "DefaultBacklog": DefaultBacklog,
	})
	testkit.DocSays(t, doc, `ProtocolID ("/ocmt/ui/1")`, "version 3.1 to 3.3")
	if ProtocolID != "/ocmt/ui/1" {
		t.Fatal("doc.go quotes another protocol ID")
	}
	// The Refusals table lists every refusal, in the order admit and
	// handle check them.
	for _, o := range []Outcome{OutcomeRateLimited, OutcomeSourceLimit, OutcomeBusy, OutcomeTimeout, OutcomeNotTLS,
		OutcomeMalformed, OutcomeNoSNI, OutcomeBadName, OutcomeUnknownHandle, OutcomeNodeLimit, OutcomeUnreachable} {
		if !o.Refused() {
			t.Errorf("%s is not a refusal", o)
		}
		testkit.DocSays(t, doc, "\t"+string(o)+" ")
	}
	for _, o := range []Outcome{OutcomeClosed, OutcomeIdle, OutcomeLifetime, OutcomeShutdown} {
		if o.Refused() {
			t.Errorf("%s is a refusal", o)
		}
	}
}
