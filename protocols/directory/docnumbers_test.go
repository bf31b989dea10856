package directory_test

import (
	"testing"

	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants, the mailbox defaults dht's.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MinHandleLen":             directory.MinHandleLen,
		"MaxHandleLen":             directory.MaxHandleLen,
		"MaxNameBytes":             directory.MaxNameBytes,
		"MaxRelays":                directory.MaxRelays,
		"MaxAddrBytes":             directory.MaxAddrBytes,
		"MaxDNSNameBytes":          directory.MaxDNSNameBytes,
		"MaxPayloadBytes":          directory.MaxPayloadBytes,
		"MaxRecordBytes":           directory.MaxRecordBytes,
		"RecordVersion":            directory.RecordVersion,
		"SignatureSize":            int64(len(keys.Signature{})),
		"PeerIDLen":                int64(keys.PeerIDLen),
		"MailIDLen":                directory.MailIDLen,
		"TokenIDLen":               32,
		"MaxSealedBytes":           directory.MaxSealedBytes,
		"MaxMailTokens":            directory.MaxMailTokens,
		"MaxFetchItems":            directory.MaxFetchItems,
		"MaxRequest":               directory.MaxRequest,
		"MaxResponse":              directory.MaxResponse,
		"Timeout":                  testkit.Seconds(directory.Timeout),
		"MaxClockSkew":             testkit.Seconds(directory.MaxClockSkew),
		"MaxFetchRounds":           directory.MaxFetchRounds,
		"DefaultRate":              int64(directory.DefaultRate),
		"DefaultBurst":             directory.DefaultBurst,
		"DefaultMaxTrackedPeers":   directory.DefaultMaxTrackedPeers,
		"DefaultInfraRate":         int64(directory.DefaultInfraRate),
		"DefaultInfraBurst":        directory.DefaultInfraBurst,
		"DefaultMaxRecords":        dht.DefaultMaxRecords,
		"DefaultMailTTL":           testkit.Seconds(dht.DefaultMailTTL),
		"DefaultMaxMailItems":      dht.DefaultMaxMailItems,
		"DefaultMaxMailBytes":      dht.DefaultMaxMailBytes,
		"DefaultMaxItemsPerSender": dht.DefaultMaxItemsPerSender,
		"DefaultMaxTotalMailBytes": dht.DefaultMaxTotalMailBytes,
		"DecoySecretSize":          directory.DecoySecretSize,
		"DecoyDay":                 testkit.Seconds(directory.DecoyDay),
		"DecoyPublishOdds":         directory.DecoyPublishOdds,
		"DecoyScanDays":            directory.DecoyScanDays,
		"DecoyMaxDays":             directory.DecoyMaxDays,
		"DefaultMaxDecoys":         dht.DefaultMaxDecoys,
	})
	if directory.DefaultRate != float64(int64(directory.DefaultRate)) {
		t.Error("DefaultRate is not a whole number; doc.go writes it as one")
	}
	testkit.DocSays(t, doc, `"ocmt-mesh/directory/v1" || 0x00 || payload`, "/ocmt/directory/1", "(MaxSealedBytes + 512)",
		"(16 × (32768 + 128) + 256)", "(MaxPayloadBytes + 128)")
	if directory.ID != "/ocmt/directory/1" || keys.LabelDirectory != "ocmt-mesh/directory/v1" {
		t.Error("the protocol ID or the signing label changed")
	}
}
