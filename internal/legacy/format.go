package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/ocmt/mesh/vault"
)

// The export's fixed texts (docs/legacy-vault.md, "The file").
const (
	FormatName   = "legacy-vault-export"
	Version      = 1
	CipherName   = "aes-256-gcm"
	KDFScrypt    = "scrypt"
	KDFPBKDF2    = "pbkdf2-sha256"
	FieldValue   = "value"   // the sealed field a record's value is in (AAD)
	FieldRefresh = "refresh" // the sealed field an oauth_token's refresh token is in (AAD)
)

// Errors callers branch on. Each is wrapped with what was found, in words
// that never include a secret's value.
var (
	// ErrFormat: the file is not an export this code reads (not JSON,
	// another format or version, a field out of its bounds).
	ErrFormat = errors.New("not a valid legacy vault export")
	// ErrBadPassword: the password check fails: a wrong legacy password,
	// or KDF parameters or salt changed in the header.
	ErrBadPassword = errors.New("wrong legacy password")
	// ErrTampered: the password is right but a record does not decrypt
	// or the integrity check over the header and record list fails.
	ErrTampered = errors.New("the export was changed after it was made")
)

// KDF is the export's key derivation: its name, salt and parameters. Only
// the parameters of its own function are set; the others are zero.
type KDF struct {
	Name       string `json:"name"`
	Salt       []byte `json:"salt"`
	N          int    `json:"n,omitempty"`
	R          int    `json:"r,omitempty"`
	P          int    `json:"p,omitempty"`
	Iterations int    `json:"iterations,omitempty"`
}

// Sealed is one AES-256-GCM sealed field: its IV and ciphertext||tag.
type Sealed struct {
	IV   []byte `json:"iv"`
	Data []byte `json:"data"`
}

// Record is one exported secret, its value sealed.
type Record struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Provider  string   `json:"provider,omitempty"`
	Username  string   `json:"username,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	ExpiresAt string   `json:"expires_at,omitempty"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
	Value     Sealed   `json:"value"`
	Refresh   *Sealed  `json:"refresh,omitempty"`
}

// Export is a parsed export file: everything it says, nothing decrypted.
type Export struct {
	Format     string   `json:"format"`
	Version    int      `json:"version"`
	Account    string   `json:"account,omitempty"`
	ExportedAt string   `json:"exported_at"`
	KDF        KDF      `json:"kdf"`
	Cipher     string   `json:"cipher"`
	Check      []byte   `json:"check"`
	Records    []Record `json:"records"`
	MAC        []byte   `json:"mac"`
}

// ReadExport reads at most MaxExportBytes from r and parses them.
func ReadExport(r io.Reader) (*Export, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxExportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the export: %w", err)
	}
	return ParseExport(b)
}

// ParseExport parses and checks an export's structure and bounds (no
// password needed): one JSON object with exactly the fields of
// docs/legacy-vault.md, every bound of limits.go, unique IDs and names,
// names the vault accepts. It does no cryptography.
func ParseExport(b []byte) (*Export, error) {
	if len(b) > MaxExportBytes {
		return nil, fmt.Errorf("%w: the file is over %d MiB", ErrFormat, MaxExportBytes>>20)
	}
	e, err := decodeExport(b)
	if err != nil {
		return nil, err
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeExport decodes the top-level object member by member and the
// record list record by record, so a list past MaxRecords is refused
// before more records are allocated. Every member is required once
// (account may be absent), and no other member is allowed.
func decodeExport(b []byte) (*Export, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	bad := func(err error) error { return fmt.Errorf("%w: %v", ErrFormat, jsonWords(err)) }
	if t, err := dec.Token(); err != nil {
		return nil, bad(err)
	} else if t != json.Delim('{') {
		return nil, formatErr("not a JSON object")
	}
	var e Export
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		key, _ := t.(string)
		if seen[key] {
			return nil, formatErr("member %q appears twice", key)
		}
		seen[key] = true
		var dst any
		switch key {
		case "format":
			dst = &e.Format
		case "version":
			dst = &e.Version
		case "account":
			dst = &e.Account
		case "exported_at":
			dst = &e.ExportedAt
		case "kdf":
			dst = &e.KDF
		case "cipher":
			dst = &e.Cipher
		case "check":
			dst = &e.Check
		case "mac":
			dst = &e.MAC
		case "records":
			if err := decodeRecords(dec, &e); err != nil {
				return nil, err
			}
			continue
		default:
			return nil, formatErr("unknown member %q", truncate(key, 64))
		}
		if err := dec.Decode(dst); err != nil {
			return nil, bad(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, formatErr("something follows the JSON object")
	}
	for _, k := range []string{"format", "version", "exported_at", "kdf", "cipher", "check", "records", "mac"} {
		if !seen[k] {
			return nil, formatErr("member %q is missing", k)
		}
	}
	return &e, nil
}

func decodeRecords(dec *json.Decoder, e *Export) error {
	bad := func(err error) error { return fmt.Errorf("%w: %v", ErrFormat, jsonWords(err)) }
	if t, err := dec.Token(); err != nil {
		return bad(err)
	} else if t != json.Delim('[') {
		return formatErr("records is not a list")
	}
	e.Records = []Record{}
	for dec.More() {
		if len(e.Records) == MaxRecords {
			return formatErr("over %d records", MaxRecords)
		}
		var r Record
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("record %d: %w", len(e.Records)+1, bad(err))
		}
		e.Records = append(e.Records, r)
	}
	_, err := dec.Token() // the closing bracket
	if err != nil {
		return bad(err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// jsonWords keeps a JSON error's position and kind, not the text it was
// decoding (which could be anything the file holds).
func jsonWords(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type (at byte %d)", te.Field, te.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the file ends early"
	}
	return "not a JSON object of the export's fields"
}

// Encode writes e as compact JSON, fields in the order of the spec.
func (e *Export) Encode() ([]byte, error) {
	return json.Marshal(e)
}

func formatErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, a...))
}

func (e *Export) check() error {
	if e.Format != FormatName {
		return formatErr("format is not %q", FormatName)
	}
	if e.Version != Version {
		return formatErr("version %d is not supported (this mesh reads version %d)", e.Version, Version)
	}
	if e.Cipher != CipherName {
		return formatErr("cipher is not %q", CipherName)
	}
	if len(e.Account) > MaxFieldLen || !printable(e.Account) {
		return formatErr("account is over %d bytes or not printable text", MaxFieldLen)
	}
	if err := checkTime("exported_at", e.ExportedAt, true); err != nil {
		return err
	}
	if err := e.KDF.check(); err != nil {
		return err
	}
	if len(e.Check) != macLen || len(e.MAC) != macLen {
		return formatErr("check and mac must be %d bytes each", macLen)
	}
	if len(e.Records) > MaxRecords {
		return formatErr("%d records, over the limit of %d", len(e.Records), MaxRecords)
	}
	ids := make(map[string]int, len(e.Records))
	names := make(map[string]int, len(e.Records))
	for i := range e.Records {
		r := &e.Records[i]
		if err := r.check(); err != nil {
			return fmt.Errorf("record %d: %w", i+1, err)
		}
		if j, dup := ids[r.ID]; dup {
			return formatErr("records %d and %d have the same id", j, i+1)
		}
		if j, dup := names[r.Name]; dup {
			return formatErr("records %d and %d have the same name %q", j, i+1, r.Name)
		}
		ids[r.ID], names[r.Name] = i+1, i+1
	}
	return nil
}

func (k *KDF) check() error {
	if len(k.Salt) < MinSaltLen || len(k.Salt) > MaxSaltLen {
		return formatErr("the KDF salt must be %d to %d bytes", MinSaltLen, MaxSaltLen)
	}
	switch k.Name {
	case KDFScrypt:
		if k.Iterations != 0 {
			return formatErr("scrypt takes n, r and p, not iterations")
		}
		if k.N < 2 || k.N&(k.N-1) != 0 || k.N > 1<<MaxScryptLogN {
			return formatErr("scrypt n must be a power of two from 2 to 2^%d", MaxScryptLogN)
		}
		if k.R < 1 || k.R > MaxScryptR || k.P < 1 || k.P > MaxScryptP {
			return formatErr("scrypt r must be 1 to %d and p 1 to %d", MaxScryptR, MaxScryptP)
		}
		mem := int64(128) * int64(k.N) * int64(k.R)
		if mem > MaxScryptMemory {
			return formatErr("scrypt n=%d r=%d needs %d MiB, over the limit of %d MiB", k.N, k.R, mem>>20, MaxScryptMemory>>20)
		}
		if mem*int64(k.P) > MaxScryptWork {
			return formatErr("scrypt n=%d r=%d p=%d is more work than the limit (128·n·r·p ≤ %d MiB)", k.N, k.R, k.P, MaxScryptWork>>20)
		}
	case KDFPBKDF2:
		if k.N != 0 || k.R != 0 || k.P != 0 {
			return formatErr("pbkdf2-sha256 takes iterations, not n, r or p")
		}
		if k.Iterations < 1 || k.Iterations > MaxPBKDF2Iterations {
			return formatErr("pbkdf2-sha256 iterations must be 1 to %d", MaxPBKDF2Iterations)
		}
	default:
		return formatErr("unknown KDF (want %q or %q)", KDFScrypt, KDFPBKDF2)
	}
	return nil
}

func (r *Record) check() error {
	if r.ID == "" || len(r.ID) > MaxIDLen || !printable(r.ID) {
		return formatErr("id must be 1 to %d bytes of printable text", MaxIDLen)
	}
	if err := vault.CheckName(r.Name); err != nil {
		return formatErr("name is not one the vault accepts (1 to %d bytes of UTF-8 without control characters)", vault.MaxNameLen)
	}
	t, err := vault.ParseSecretType(r.Type)
	if err != nil {
		return formatErr("unknown type (want api_key, oauth_token, password or note)")
	}
	for what, s := range map[string]string{"provider": r.Provider, "username": r.Username} {
		if len(s) > MaxFieldLen || !printable(s) {
			return formatErr("%s is over %d bytes or not printable text", what, MaxFieldLen)
		}
	}
	if len(r.Scopes) > MaxScopes {
		return formatErr("over %d scopes", MaxScopes)
	}
	for _, s := range r.Scopes {
		if s == "" || len(s) > MaxFieldLen || !printable(s) {
			return formatErr("a scope is empty, over %d bytes or not printable text", MaxFieldLen)
		}
	}
	if t == vault.TypeOAuthToken && r.Provider == "" {
		return formatErr("an oauth_token needs a provider")
	}
	if t != vault.TypeOAuthToken && (r.Refresh != nil || len(r.Scopes) > 0 || r.ExpiresAt != "") {
		return formatErr("only an oauth_token has refresh, scopes or expires_at")
	}
	for what, s := range map[string]string{"expires_at": r.ExpiresAt, "created_at": r.CreatedAt, "updated_at": r.UpdatedAt} {
		if err := checkTime(what, s, what != "expires_at"); err != nil {
			return err
		}
	}
	if err := r.Value.check(FieldValue); err != nil {
		return err
	}
	if r.Refresh != nil {
		return r.Refresh.check(FieldRefresh)
	}
	return nil
}

// maxSealedLen is the largest sealed field: a whole secret and its tag.
const maxSealedLen = vault.MaxSecretBytes + tagLen

func (s *Sealed) check(field string) error {
	if len(s.IV) != ivLen {
		return formatErr("%s.iv must be %d bytes", field, ivLen)
	}
	if len(s.Data) < tagLen+1 || len(s.Data) > maxSealedLen {
		return formatErr("%s.data must be %d to %d bytes (value and tag)", field, tagLen+1, maxSealedLen)
	}
	return nil
}

func checkTime(what, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if len(s) > MaxFieldLen {
		return formatErr("%s is over %d bytes", what, MaxFieldLen)
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return formatErr("%s is not an RFC 3339 time", what)
	}
	return nil
}

// printable: UTF-8 without control characters (the vault's rule for names).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
