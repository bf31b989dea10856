package legacy

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/ocmt/mesh/vault"
)

// sampleKinds are the secrets a legacy vault typically held: a name stem,
// its type and provider, and how its value looks.
var sampleKinds = []struct {
	stem, provider string
	typ            vault.SecretType
	prefix         string // value prefix
	n              int    // random characters after it
	scopes         []string
	username       bool
}{
	{"openai-api-key", "openai", vault.TypeAPIKey, "sk-proj-", 48, nil, false},
	{"anthropic-api-key", "anthropic", vault.TypeAPIKey, "sk-ant-api03-", 64, nil, false},
	{"github-token", "github", vault.TypeAPIKey, "ghp_", 36, nil, false},
	{"stripe-secret-key", "stripe", vault.TypeAPIKey, "sk_live_", 24, nil, false},
	{"aws-secret-access-key", "aws", vault.TypeAPIKey, "", 40, nil, false},
	{"slack-bot-token", "slack", vault.TypeAPIKey, "xoxb-", 50, nil, false},
	{"sendgrid-api-key", "sendgrid", vault.TypeAPIKey, "SG.", 66, nil, false},
	{"google-calendar", "google", vault.TypeOAuthToken, "ya29.", 120, []string{"https://www.googleapis.com/auth/calendar.readonly"}, false},
	{"google-drive", "google", vault.TypeOAuthToken, "ya29.", 120, []string{"https://www.googleapis.com/auth/drive.file"}, false},
	{"notion-integration", "notion", vault.TypeOAuthToken, "secret_", 43, []string{"read_content"}, false},
	{"postgres-password", "", vault.TypePassword, "", 24, nil, true},
	{"smtp-password", "", vault.TypePassword, "", 20, nil, true},
	{"recovery-codes", "", vault.TypeNote, "backup codes: ", 40, nil, false},
	{"wifi-notes", "", vault.TypeNote, "office network: ", 16, nil, false},
}

var sampleEnvs = []string{"prod", "staging", "dev", "personal", "work", "ci"}

const sampleAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Sample returns n realistic legacy secrets (API keys, OAuth tokens with
// refresh tokens, passwords, notes) with unique names and IDs, their
// values from rnd, dated before now. It feeds make-test-export and tests.
func Sample(rnd io.Reader, n int, now time.Time) ([]Plain, error) {
	var b [8]byte
	num := func() (uint64, error) {
		_, err := io.ReadFull(rnd, b[:])
		return binary.BigEndian.Uint64(b[:]), err
	}
	text := func(k int) ([]byte, error) {
		raw := make([]byte, k)
		if _, err := io.ReadFull(rnd, raw); err != nil {
			return nil, err
		}
		for i, c := range raw {
			raw[i] = sampleAlphabet[int(c)%len(sampleAlphabet)]
		}
		return raw, nil
	}
	out := make([]Plain, 0, n)
	for i := range n {
		kind := sampleKinds[i%len(sampleKinds)]
		env := sampleEnvs[(i/len(sampleKinds))%len(sampleEnvs)]
		name := kind.stem + "-" + env
		if round := i / (len(sampleKinds) * len(sampleEnvs)); round > 0 {
			name = fmt.Sprintf("%s-%d", name, round+1)
		}
		r, err := num()
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(r), uint16(r>>32), uint16(r>>48)&0xfff, 0x8000|i&0x3fff, uint64(i)<<8|r&0xff)
		tail, err := text(kind.n)
		if err != nil {
			return nil, err
		}
		value := append([]byte(kind.prefix), tail...)
		clear(tail)
		created := now.Add(-time.Duration(r%(3*365*24)) * time.Hour).Truncate(time.Second).UTC()
		p := Plain{ID: id, Name: name, Type: kind.typ, Provider: kind.provider, Scopes: kind.scopes,
			Created: created, Updated: created.Add(time.Duration(r>>32%(30*24)) * time.Hour), Value: value}
		if kind.username {
			p.Username = fmt.Sprintf("svc_%s", env)
		}
		if kind.typ == vault.TypeOAuthToken {
			if p.Refresh, err = text(64); err != nil {
				return nil, err
			}
			p.Expires = p.Updated.Add(time.Hour)
		}
		out = append(out, p)
	}
	return out, nil
}
