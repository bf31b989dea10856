package snapshot

import (
	"testing"

	"github.com/ocmt/mesh/capability"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxRequest": MaxRequest, "maxReply": maxReply, "MaxBlockFrame": MaxBlockFrame,
		"FrameTimeout": testkit.Seconds(FrameTimeout), "MaxStreamTime": testkit.Seconds(MaxStreamTime),
		"DefaultMaxStreams": DefaultMaxStreams, "DefaultMaxStreamsPerPeer": DefaultMaxStreamsPerPeer,
		"DefaultMaxManifests": DefaultMaxManifests, "DefaultMaxManifestsPerOwner": DefaultMaxManifestsPerOwner,
		"peerRate": peerRate, "peerBurst": peerBurst, "maxLimited": maxLimited,
	})
	testkit.DocSays(t, doc, "/ocmt/snapshot/1", "6272 + 4096 + 512", "2 to 16385")
	if MaxRequest != snap.MaxManifestBytes+capability.MaxTokenBytes+512 || snap.MaxManifestBytes != 6272 || snap.MaxChunks+1 != 16385 {
		t.Fatal("the sums doc.go writes out no longer hold")
	}
	if ID != "/ocmt/snapshot/1" {
		t.Fatal(ID)
	}
}
