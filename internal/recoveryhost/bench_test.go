package recoveryhost

import (
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// benchRecover times a recovery by method (the vault locked, the proof
// given, a new password wrapped with the real KDF) beside the baseline of
// one bare argon2.IDKey with the same parameters: a recovery costs what
// setting a password costs.
func benchRecover(b *testing.B, method string, proof func(h *home) localapi.RecoveryRequest) {
	h := newHome(&testing.T{})
	cfg := h.config()
	cfg.KDF = vault.DefaultKDF()
	h.svc = New(cfg)
	req := proof(h)
	req.Op, req.Method, req.NewPassword = localapi.RecoveryRecover, method, []byte("the new one")
	k := vault.DefaultKDF()
	salt := make([]byte, 16)
	ours := func() {
		h.v.Lock(h.ctx, "bench")
		if _, err := h.svc.Recovery(h.ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	base := func() { argon2.IDKey([]byte("the new one"), salt, k.Time, k.MemoryKiB, k.Threads, 32) }
	testkit.PairRatios(b, ours, base, 1, time.Millisecond)
}

func BenchmarkRecoverWithThePhrase(b *testing.B) {
	benchRecover(b, recovery.Phrase, func(h *home) localapi.RecoveryRequest {
		phrase, _ := recovery.NewPhrase()
		if _, err := h.svc.Recovery(h.ctx, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase}); err != nil {
			b.Fatal(err)
		}
		return localapi.RecoveryRequest{Phrase: phrase}
	})
}

func BenchmarkRecoverWithAKeyFile(b *testing.B) {
	benchRecover(b, recovery.Hardware, func(h *home) localapi.RecoveryRequest {
		id, rcpt, _ := recovery.NewHardwareIdentity()
		if _, err := h.svc.Recovery(h.ctx, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: rcpt}); err != nil {
			b.Fatal(err)
		}
		return localapi.RecoveryRequest{Identity: "# usb\n" + id + "\n"}
	})
}
