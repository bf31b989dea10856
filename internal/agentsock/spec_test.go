package agentsock

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"NonceLen": NonceLen, "maxChallenge": maxChallenge, "maxAnswer": maxAnswer, "MaxMessageLen": MaxMessageLen,
		"HandshakeTimeout": s(HandshakeTimeout), "NonceTTL": s(NonceTTL), "DefaultMaxNonces": DefaultMaxNonces,
		"DefaultMaxConns": DefaultMaxConns, "IdleTimeout": s(IdleTimeout), "MaxRequestBody": MaxRequestBody,
		"MaxPathLen": MaxPathLen, "MaxQueryLen": MaxQueryLen, "DefaultK": DefaultK, "MaxK": MaxK,
		"MaxMemoryText": MaxMemoryText, "MaxSecretName": MaxSecretName, "MaxURLLen": MaxURLLen,
		"MaxSecretBody": MaxSecretBody, "MaxReplyData": MaxReplyData, "MaxListNames": MaxListNames,
		"MaxHandleLen": MaxHandleLen, "MaxKeyFile": MaxKeyFile, "maxSocketPath": maxSocketPath,
		"DrainTimeout": testkit.Seconds(DrainTimeout), "maxDrainPending": maxDrainPending,
	})
	testkit.DocSays(t, doc, `"ocmt-mesh/agent-call/v1"`, "OCMT MESH AGENT KEY", `"/mcp"`, "Label || 0x00 || nonce || agent",
		ToolReadResource, ToolListResources, ToolMemorySearch, ToolMemoryAdd, ToolUseSecret, ToolRequestShare)
	if Label != "ocmt-mesh/agent-call/v1" || pemType != "OCMT MESH AGENT KEY" || endpointPath != "/mcp" {
		t.Fatal("a name doc.go quotes changed")
	}
	// The answer's cap holds the largest answer.
	if maxAnswer < 38+NonceLen+64+16 {
		t.Fatal("maxAnswer no longer holds an answer")
	}
}
