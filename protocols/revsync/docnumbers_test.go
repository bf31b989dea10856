package revsync

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestDocNumbers: doc.go's Limits table gives every number of the
// protocol with the code's value.
func TestDocNumbers(t *testing.T) {
	testkit.DocNumbers(t, map[string]int64{
		"MaxRecordsPerReply": MaxRecordsPerReply, "MaxReplyBytes": MaxReplyBytes, "MaxPushRecords": MaxPushRecords,
		"maxRequest": maxRequest, "MaxPages": MaxPages, "Timeout": testkit.Seconds(Timeout),
		"DefaultPerPeerRate": DefaultPerPeerRate, "DefaultPerPeerBurst": DefaultPerPeerBurst,
		"DefaultPushRate": DefaultPushRate, "DefaultPushBurst": DefaultPushBurst,
	})
}
