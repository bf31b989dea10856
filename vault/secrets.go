package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// SecretType names the kind of a secret.
type SecretType string

// Secret types.
const (
	TypeAPIKey     SecretType = "api_key"     // a provider API key, e.g. an embeddings key for memory_search
	TypeOAuthToken SecretType = "oauth_token" // access + refresh token with scopes and expiry
	TypePassword   SecretType = "password"    // a login password, optionally with a username
	TypeNote       SecretType = "note"        // free text
)

// ParseSecretType accepts the names above.
func ParseSecretType(s string) (SecretType, error) {
	switch t := SecretType(s); t {
	case TypeAPIKey, TypeOAuthToken, TypePassword, TypeNote:
		return t, nil
	}
	return "", fmt.Errorf("unknown secret type %q (want api_key, oauth_token, password or note)", s)
}

// MaxSecretBytes is the most one secret holds: its value and refresh token
// plus its name, provider, username and scopes, 1 MiB. Over it, PutSecret
// fails with ErrTooLarge ("a secret holds at most 1 MiB"). An HTTP body
// carrying one secret as JSON (values base64) fits in
// MaxSecretBytes*4/3 + 64 KiB.
const MaxSecretBytes = 1 << 20

// Secret is one stored secret. Value (and Refresh) are the secret parts;
// everything else is description.
type Secret struct {
	Name     string     `cbor:"1,keyasint" json:"name"`
	Type     SecretType `cbor:"2,keyasint" json:"type"`
	Provider string     `cbor:"3,keyasint,omitempty" json:"provider,omitempty"`
	Username string     `cbor:"4,keyasint,omitempty" json:"username,omitempty"`
	Scopes   []string   `cbor:"5,keyasint,omitempty" json:"scopes,omitempty"`
	Expiry   int64      `cbor:"6,keyasint,omitempty" json:"expiry,omitempty"` // unix seconds, oauth
	Updated  int64      `cbor:"7,keyasint" json:"updated"`                    // unix seconds
	Value    []byte     `cbor:"8,keyasint" json:"value,omitempty"`
	Refresh  []byte     `cbor:"9,keyasint,omitempty" json:"refresh,omitempty"`
}

// SecretInfo describes a secret without its value.
type SecretInfo struct {
	Name     string     `json:"name"`
	Type     SecretType `json:"type"`
	Provider string     `json:"provider,omitempty"`
	Updated  time.Time  `json:"updated"`
}

// Wipe zeroes the secret parts.
func (s *Secret) Wipe() { clear(s.Value); clear(s.Refresh) }

// Validate checks the fields a type needs.
func (s *Secret) Validate() error {
	if _, err := ParseSecretType(string(s.Type)); err != nil {
		return err
	}
	if err := CheckName(s.Name); err != nil {
		return err
	}
	if len(s.Value) == 0 {
		return errors.New("empty secret value")
	}
	if s.Type == TypeOAuthToken && s.Provider == "" {
		return errors.New("an oauth_token needs a provider")
	}
	if n := s.size(); n > MaxSecretBytes {
		return fmt.Errorf("%w: a secret holds at most %s, its name and provider included (this one is %s)", ErrTooLarge, sizeWords(MaxSecretBytes), overWords(n, MaxSecretBytes))
	}
	return nil
}

// size is what MaxSecretBytes counts.
func (s *Secret) size() int {
	n := len(s.Name) + len(s.Provider) + len(s.Username) + len(s.Value) + len(s.Refresh)
	for _, sc := range s.Scopes {
		n += len(sc)
	}
	return n
}

var secretDec = mustDecMode()

func mustDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxArrayElements: 256,
		MaxMapPairs:      32,
		MaxNestedLevels:  4,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

func decodeSecret(b []byte) (Secret, error) {
	var s Secret
	if err := secretDec.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%w: secret record: %v", ErrCorrupt, err)
	}
	return s, nil
}

// PutSecret stores s (its Updated time is set now).
func (v *Vault) PutSecret(ctx context.Context, s Secret, actor string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.Updated = v.cfg.Now().Unix()
	b, err := cbor.Marshal(s)
	if err != nil {
		return fmt.Errorf("vault: encoding secret: %w", err)
	}
	defer clear(b)
	return v.Put(ctx, NSSecrets, s.Name, b, AuditEntry{Actor: actor, Op: OpSecretWrite, Target: s.Name, Detail: string(s.Type)})
}

// GetSecret reads a secret. The caller should Wipe it when done.
func (v *Vault) GetSecret(ctx context.Context, name, actor string) (Secret, error) {
	b, err := v.Get(ctx, NSSecrets, name, AuditEntry{Actor: actor, Op: OpSecretRead, Target: name})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			_ = v.Audit(ctx, AuditEntry{Actor: actor, Op: OpSecretRead, Target: name, Outcome: OutcomeFailed, Detail: "not found"})
		}
		return Secret{}, err
	}
	defer clear(b)
	s, err := decodeSecret(b)
	if err != nil {
		return s, err
	}
	if s.Name != name {
		s.Wipe()
		return Secret{}, fmt.Errorf("%w: secret %q holds another name", ErrCorrupt, name)
	}
	return s, nil
}

// DeleteSecret removes a secret.
func (v *Vault) DeleteSecret(ctx context.Context, name, actor string) error {
	return v.Delete(ctx, NSSecrets, name, AuditEntry{Actor: actor, Op: OpSecretDelete, Target: name})
}

// ListSecrets returns every secret's description, never a value.
func (v *Vault) ListSecrets(ctx context.Context) ([]SecretInfo, error) {
	names, err := v.List(ctx, NSSecrets)
	if err != nil {
		return nil, err
	}
	out := make([]SecretInfo, 0, len(names))
	for _, n := range names {
		// Read without auditing each value: List is not a secret read, and
		// the values are wiped before returning.
		s, err := v.peekSecret(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, SecretInfo{Name: s.Name, Type: s.Type, Provider: s.Provider, Updated: time.Unix(s.Updated, 0).UTC()})
		s.Wipe()
	}
	return out, nil
}

func (v *Vault) peekSecret(ctx context.Context, name string) (Secret, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	pt, err := v.open(ctx, NSSecrets, name)
	if err != nil {
		return Secret{}, err
	}
	defer clear(pt)
	return decodeSecret(pt)
}
