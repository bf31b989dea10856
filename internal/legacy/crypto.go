package legacy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/ocmt/mesh/vault"
)

// Labels of the key schedule, the check, the record AAD and the list MAC
// (docs/legacy-vault.md, "Keys" and "Integrity").
const (
	labelEnc    = "legacy-vault-export/v1 enc"
	labelMAC    = "legacy-vault-export/v1 mac"
	labelCheck  = "legacy-vault-export/v1 check"
	labelRecord = "legacy-vault-export/v1 record"
	labelList   = "legacy-vault-export/v1 list"
)

// Plain is one secret of an export, decrypted (Open) or to be sealed
// (Seal). Value and Refresh are the secret parts: Wipe them.
type Plain struct {
	ID       string
	Name     string
	Type     vault.SecretType
	Provider string
	Username string
	Scopes   []string
	Expires  time.Time // zero: none
	Created  time.Time
	Updated  time.Time
	Value    []byte
	Refresh  []byte // oauth_token only; nil: none
}

// Wipe zeroes the secret parts.
func (p *Plain) Wipe() { clear(p.Value); clear(p.Refresh) }

// String never shows the value.
func (p Plain) String() string { return fmt.Sprintf("%s (%s, id %s)", p.Name, p.Type, p.ID) }

// Secret is p as a vault secret, sharing p's value bytes (its Updated is
// set by the vault when stored).
func (p *Plain) Secret() vault.Secret {
	s := vault.Secret{Name: p.Name, Type: p.Type, Provider: p.Provider, Username: p.Username,
		Scopes: p.Scopes, Value: p.Value, Refresh: p.Refresh}
	if !p.Expires.IsZero() {
		s.Expiry = p.Expires.Unix()
	}
	return s
}

// WipeAll wipes every secret of ps.
func WipeAll(ps []Plain) {
	for i := range ps {
		ps[i].Wipe()
	}
}

// keys are the export's two keys, derived from the password.
type keys struct{ enc, mac [32]byte }

func (k *keys) wipe() { clear(k.enc[:]); clear(k.mac[:]) }

// deriveKeys runs the export's KDF (its bounds checked first: a caller
// may hand in an Export it did not parse) and expands its output.
func deriveKeys(k KDF, password []byte) (*keys, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	var ikm []byte
	var err error
	switch k.Name {
	case KDFScrypt:
		ikm, err = scrypt.Key(password, k.Salt, k.N, k.R, k.P, 32)
	case KDFPBKDF2:
		ikm, err = pbkdf2.Key(sha256.New, string(password), k.Salt, k.Iterations, 32)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the KDF refused its parameters: %v", ErrFormat, err)
	}
	defer clear(ikm)
	var out keys
	for _, d := range []struct {
		dst   []byte
		label string
	}{{out.enc[:], labelEnc}, {out.mac[:], labelMAC}} {
		b, err := hkdf.Key(sha256.New, ikm, k.Salt, d.label, 32)
		if err != nil {
			return nil, err
		}
		copy(d.dst, b)
		clear(b)
	}
	return &out, nil
}

// checkValue is the password check the header carries.
func (k *keys) checkValue() []byte {
	m := hmac.New(sha256.New, k.mac[:])
	m.Write([]byte(labelCheck))
	return m.Sum(nil)
}

// field appends F(x) = u32 big-endian length || x.
func field(h io.Writer, x []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(x)))
	h.Write(n[:])
	h.Write(x)
}

func fieldS(h io.Writer, s string) { field(h, []byte(s)) }

func u32(h io.Writer, x int) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(x))
	h.Write(n[:])
}

// recordAAD binds a sealed field to its record's id, name and type and to
// which field it is, so a sealed value moved to another record, name or
// field does not open.
func recordAAD(r *Record, which string) []byte {
	var b aadBuf
	b.WriteString(labelRecord)
	b.WriteByte(0)
	fieldS(&b, r.ID)
	fieldS(&b, r.Name)
	fieldS(&b, r.Type)
	fieldS(&b, which)
	return b.b
}

type aadBuf struct{ b []byte }

func (a *aadBuf) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }
func (a *aadBuf) WriteString(s string)        { a.b = append(a.b, s...) }
func (a *aadBuf) WriteByte(c byte) error      { a.b = append(a.b, c); return nil }

// listMAC is the HMAC over the header and every record in order: any
// record removed, added, reordered or edited (sealed or not) changes it.
func (e *Export) listMAC(k *keys) []byte {
	m := hmac.New(sha256.New, k.mac[:])
	writeList(m, e)
	return m.Sum(nil)
}

func writeList(m hash.Hash, e *Export) {
	m.Write([]byte(labelList))
	m.Write([]byte{0})
	fieldS(m, e.Format)
	fieldS(m, strconv.Itoa(e.Version))
	fieldS(m, e.Account)
	fieldS(m, e.ExportedAt)
	fieldS(m, e.KDF.Name)
	field(m, e.KDF.Salt)
	u32(m, e.KDF.N)
	u32(m, e.KDF.R)
	u32(m, e.KDF.P)
	u32(m, e.KDF.Iterations)
	fieldS(m, e.Cipher)
	u32(m, len(e.Records))
	for i := range e.Records {
		r := &e.Records[i]
		fieldS(m, r.ID)
		fieldS(m, r.Name)
		fieldS(m, r.Type)
		fieldS(m, r.Provider)
		fieldS(m, r.Username)
		u32(m, len(r.Scopes))
		for _, s := range r.Scopes {
			fieldS(m, s)
		}
		fieldS(m, r.ExpiresAt)
		fieldS(m, r.CreatedAt)
		fieldS(m, r.UpdatedAt)
		field(m, r.Value.IV)
		field(m, r.Value.Data)
		if r.Refresh != nil {
			m.Write([]byte{1})
			field(m, r.Refresh.IV)
			field(m, r.Refresh.Data)
		} else {
			m.Write([]byte{0})
		}
	}
}

func newGCM(key *[32]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

// Open checks the export with password and returns every secret in it,
// decrypted, in the export's order. It checks everything before it
// returns anything: the password (ErrBadPassword), every record's
// sealed fields (ErrTampered, naming the record), and the MAC over the
// header and the record list (ErrTampered). The caller wipes the result
// (WipeAll); on an error nothing decrypted is left.
func (e *Export) Open(password []byte) (_ []Plain, err error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	k, err := deriveKeys(e.KDF, password)
	if err != nil {
		return nil, err
	}
	defer k.wipe()
	if !hmac.Equal(k.checkValue(), e.Check) {
		return nil, fmt.Errorf("%w (or the export's key derivation header, its salt or parameters, was changed)", ErrBadPassword)
	}
	g := newGCM(&k.enc)
	out := make([]Plain, 0, len(e.Records))
	defer func() {
		if err != nil {
			WipeAll(out)
		}
	}()
	for i := range e.Records {
		r := &e.Records[i]
		p, err := openRecord(g, r)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d (id %s) does not decrypt: its %v", ErrTampered, i+1, r.ID, err)
		}
		out = append(out, p)
	}
	if !hmac.Equal(e.listMAC(k), e.MAC) {
		return nil, fmt.Errorf("%w: its integrity check (mac) fails: records were removed, added, reordered or edited, or the header was changed", ErrTampered)
	}
	return out, nil
}

func openRecord(g cipher.AEAD, r *Record) (Plain, error) {
	p := Plain{ID: r.ID, Name: r.Name, Type: vault.SecretType(r.Type), Provider: r.Provider, Username: r.Username, Scopes: r.Scopes}
	p.Created, _ = time.Parse(time.RFC3339Nano, r.CreatedAt) // checked by check
	p.Updated, _ = time.Parse(time.RFC3339Nano, r.UpdatedAt)
	if r.ExpiresAt != "" {
		p.Expires, _ = time.Parse(time.RFC3339Nano, r.ExpiresAt)
	}
	var err error
	if p.Value, err = g.Open(nil, r.Value.IV, r.Value.Data, recordAAD(r, FieldValue)); err != nil {
		return Plain{}, fmt.Errorf("value was changed or belongs to another record")
	}
	if r.Refresh != nil {
		if p.Refresh, err = g.Open(nil, r.Refresh.IV, r.Refresh.Data, recordAAD(r, FieldRefresh)); err != nil {
			p.Wipe()
			return Plain{}, fmt.Errorf("refresh token was changed or belongs to another record")
		}
	}
	return p, nil
}

// Seal makes an export of ps under password: a fresh salt from rnd, the
// KDF kdf (its Salt is replaced), a random IV per sealed field. It is how
// make-test-export writes files, and the reference for the format.
func Seal(rnd io.Reader, password []byte, kdf KDF, account string, exportedAt time.Time, ps []Plain) (*Export, error) {
	kdf.Salt = make([]byte, 16)
	if _, err := io.ReadFull(rnd, kdf.Salt); err != nil {
		return nil, err
	}
	e := &Export{Format: FormatName, Version: Version, Account: account, ExportedAt: exportedAt.UTC().Format(time.RFC3339Nano),
		KDF: kdf, Cipher: CipherName, Records: make([]Record, 0, len(ps))}
	k, err := deriveKeys(kdf, password)
	if err != nil {
		return nil, err
	}
	defer k.wipe()
	g := newGCM(&k.enc)
	seal := func(r *Record, which string, pt []byte) (Sealed, error) {
		// A random 96-bit IV per field under a key used only for this
		// export (fresh salt): far below GCM's 2^32 random-IV bound.
		s := Sealed{IV: make([]byte, ivLen)}
		if _, err := io.ReadFull(rnd, s.IV); err != nil {
			return s, err
		}
		s.Data = g.Seal(nil, s.IV, pt, recordAAD(r, which))
		return s, nil
	}
	for _, p := range ps {
		r := Record{ID: p.ID, Name: p.Name, Type: string(p.Type), Provider: p.Provider, Username: p.Username, Scopes: p.Scopes,
			CreatedAt: p.Created.UTC().Format(time.RFC3339Nano), UpdatedAt: p.Updated.UTC().Format(time.RFC3339Nano)}
		if !p.Expires.IsZero() {
			r.ExpiresAt = p.Expires.UTC().Format(time.RFC3339Nano)
		}
		if r.Value, err = seal(&r, FieldValue, p.Value); err != nil {
			return nil, err
		}
		if p.Refresh != nil {
			rs, err := seal(&r, FieldRefresh, p.Refresh)
			if err != nil {
				return nil, err
			}
			r.Refresh = &rs
		}
		e.Records = append(e.Records, r)
	}
	e.Check = k.checkValue()
	e.MAC = e.listMAC(k)
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}
