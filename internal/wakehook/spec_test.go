package wakehook

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MinHandleLen": MinHandleLen, "MaxHandleLen": MaxHandleLen, "MaxTemplateBytes": MaxTemplateBytes, "MaxArgs": MaxArgs,
		"MaxLogLine": MaxLogLine, "MaxLogLines": MaxLogLines, "DefaultWebhookTimeout": testkit.Seconds(DefaultWebhookTimeout),
		"SuperviseMaxSkew": testkit.Seconds(SuperviseMaxSkew), "superviseMaxRequest": superviseMaxRequest,
		"superviseMaxReply": superviseMaxReply, "superviseTimeout": testkit.Seconds(superviseTimeout),
	})
	testkit.DocSays(t, doc, `"ocmt-mesh/wake-webhook/v1" || 0x00 || body`, `"ocmt-mesh/wake-supervise/v1" || 0x00 || payload`,
		"/ocmt/supervise/1", "Ocmt-Wake-Signature", "Ocmt-Wake-Relay", "OCMT_WAKE_HANDLE", "OCMT_WAKE_PEER")
	if WebhookLabel != "ocmt-mesh/wake-webhook/v1" || SuperviseLabel != "ocmt-mesh/wake-supervise/v1" || SuperviseID != "/ocmt/supervise/1" ||
		SignatureHeader != "Ocmt-Wake-Signature" || RelayHeader != "Ocmt-Wake-Relay" || EnvHandle != "OCMT_WAKE_HANDLE" || EnvPeer != "OCMT_WAKE_PEER" {
		t.Fatal("a name doc.go gives changed")
	}
}
