package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, b []byte) *Export {
	t.Helper()
	e, err := ParseExport(b)
	if err != nil {
		t.Fatalf("ParseExport: %v", err)
	}
	return e
}

func noCanary(t *testing.T, err error) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), pwCanary) || strings.Contains(err.Error(), valueCanary)) {
		t.Fatalf("error carries a canary: %v", err)
	}
}

func TestAnExportOpensToWhatWasSealed(t *testing.T) {
	for _, kdf := range []KDF{lowScrypt, lowPBKDF2} {
		t.Run(kdf.Name, func(t *testing.T) {
			want := sampleWithCanary(t, 40)
			got, err := parse(t, makeExport(t, 40, kdf)).Open([]byte(pwCanary))
			if err != nil {
				t.Fatal(err)
			}
			defer WipeAll(got)
			if len(got) != len(want) {
				t.Fatalf("%d secrets, want %d", len(got), len(want))
			}
			for i := range want {
				w, g := want[i], got[i]
				if g.ID != w.ID || g.Name != w.Name || g.Type != w.Type || g.Provider != w.Provider || g.Username != w.Username ||
					!bytes.Equal(g.Value, w.Value) || !bytes.Equal(g.Refresh, w.Refresh) || !g.Expires.Equal(w.Expires) ||
					!g.Created.Equal(w.Created) || !g.Updated.Equal(w.Updated) || fmt.Sprint(g.Scopes) != fmt.Sprint(w.Scopes) {
					t.Fatalf("secret %d = %v, want %v", i, g, w)
				}
				if strings.Contains(g.String(), valueCanary) || strings.Contains(fmt.Sprintf("%v %+v", g, g.Secret().Name), valueCanary) {
					t.Fatal("String shows a value")
				}
			}
			s := got[0].Secret()
			if err := s.Validate(); err != nil {
				t.Fatalf("a sample is not a valid vault secret: %v", err)
			}
		})
	}
}

func TestAWrongPasswordIsSaidSo(t *testing.T) {
	e := parse(t, makeExport(t, 3, lowScrypt))
	_, err := e.Open([]byte("not the password"))
	if !errors.Is(err, ErrBadPassword) || !strings.Contains(err.Error(), "wrong legacy password") {
		t.Fatalf("Open with a wrong password: %v", err)
	}
	noCanary(t, err)
}

// TestEveryTamperingIsCaught changes the export in the ways someone
// holding it could, each before Open, and wants a clear error.
func TestEveryTamperingIsCaught(t *testing.T) {
	good := makeExport(t, 10, lowScrypt)
	cases := []struct {
		name   string
		change func(e *Export)
		want   error
		says   string
	}{
		{"a flipped byte in a record's value", func(e *Export) { e.Records[2].Value.Data[5] ^= 1 }, ErrTampered, "record 3"},
		{"a flipped byte in a record's IV", func(e *Export) { e.Records[1].Value.IV[0] ^= 0x80 }, ErrTampered, "record 2"},
		{"a flipped byte in a refresh token", func(e *Export) {
			for i := range e.Records {
				if e.Records[i].Refresh != nil {
					e.Records[i].Refresh.Data[0] ^= 1
					return
				}
			}
			panic("no oauth record in the sample")
		}, ErrTampered, "refresh token"},
		{"a removed record", func(e *Export) { e.Records = append(e.Records[:3], e.Records[4:]...) }, ErrTampered, "integrity check"},
		{"the last record removed", func(e *Export) { e.Records = e.Records[:len(e.Records)-1] }, ErrTampered, "integrity check"},
		{"two records swapped", func(e *Export) { e.Records[0], e.Records[1] = e.Records[1], e.Records[0] }, ErrTampered, "integrity check"},
		{"a record duplicated under a new id and name", func(e *Export) {
			r := e.Records[0]
			r.ID, r.Name = "copy", "copy"
			e.Records = append(e.Records, r)
		}, ErrTampered, "does not decrypt"},
		{"two records' values swapped", func(e *Export) {
			e.Records[0].Value, e.Records[1].Value = e.Records[1].Value, e.Records[0].Value
		}, ErrTampered, "does not decrypt"},
		{"a record renamed", func(e *Export) { e.Records[0].Name = "renamed" }, ErrTampered, "does not decrypt"},
		{"a record's provider changed", func(e *Export) { e.Records[0].Provider = "evil" }, ErrTampered, "integrity check"},
		{"a record's updated time changed", func(e *Export) { e.Records[0].UpdatedAt = "2020-01-01T00:00:00Z" }, ErrTampered, "integrity check"},
		{"the header's account changed", func(e *Export) { e.Account = "mallory@example.com" }, ErrTampered, "integrity check"},
		{"the header's export time changed", func(e *Export) { e.ExportedAt = "2030-01-01T00:00:00Z" }, ErrTampered, "integrity check"},
		{"the KDF's n lowered", func(e *Export) { e.KDF.N /= 2 }, ErrBadPassword, "header"},
		{"the salt changed", func(e *Export) { e.KDF.Salt[0] ^= 1 }, ErrBadPassword, "header"},
		{"the check changed", func(e *Export) { e.Check[0] ^= 1 }, ErrBadPassword, "password"},
		{"the mac changed", func(e *Export) { e.MAC[31] ^= 1 }, ErrTampered, "integrity check"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := parse(t, good)
			c.change(e)
			// Through the file, as mesh migrate reads it.
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			ps, err := parse(t, b).Open([]byte(pwCanary))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Open = %v, want %v saying %q", err, c.want, c.says)
			}
			if ps != nil {
				t.Fatal("secrets returned with the error")
			}
			noCanary(t, err)
		})
	}
}

// TestMalformedExportsAreRefusedBeforeAnyWork: the structure and every
// bound are checked without the password, and a hostile KDF is refused
// before it runs.
func TestMalformedExportsAreRefusedBeforeAnyWork(t *testing.T) {
	good := makeExport(t, 2, lowScrypt)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	kdf := func(m map[string]any) map[string]any { return m["kdf"].(map[string]any) }
	rec := func(m map[string]any, i int) map[string]any { return m["records"].([]any)[i].(map[string]any) }
	cases := []struct {
		name string
		file []byte
		says string
	}{
		{"not JSON", []byte("PK\x03\x04"), "not JSON"},
		{"empty", nil, "ends early"},
		{"a list", []byte("[]"), "not a JSON object"},
		{"trailing data", append(append([]byte{}, good...), "{}"...), "follows"},
		{"another format", edit(func(m map[string]any) { m["format"] = "1password-export" }), "format"},
		{"version 2", edit(func(m map[string]any) { m["version"] = 2 }), "version 2"},
		{"an unknown member", edit(func(m map[string]any) { m["extra"] = 1 }), "unknown member"},
		{"an unknown record member", edit(func(m map[string]any) { rec(m, 0)["color"] = "red" }), "record 1"},
		{"no mac", edit(func(m map[string]any) { delete(m, "mac") }), `"mac" is missing`},
		{"another cipher", edit(func(m map[string]any) { m["cipher"] = "aes-256-cbc" }), "cipher"},
		{"scrypt N = 2^30", edit(func(m map[string]any) { kdf(m)["n"] = 1 << 30 }), "power of two from 2 to 2^20"},
		{"scrypt N not a power of two", edit(func(m map[string]any) { kdf(m)["n"] = 1000 }), "power of two"},
		{"scrypt memory over 256 MiB", edit(func(m map[string]any) { kdf(m)["n"] = 1 << 20; kdf(m)["r"] = 8 }), "1024 MiB"},
		{"scrypt work over 1 GiB", edit(func(m map[string]any) { kdf(m)["n"] = 1 << 17; kdf(m)["r"] = 8; kdf(m)["p"] = 16 }), "more work"},
		{"scrypt r too large", edit(func(m map[string]any) { kdf(m)["r"] = 33 }), "r must be"},
		{"pbkdf2 with 10^9 iterations", edit(func(m map[string]any) {
			m["kdf"] = map[string]any{"name": "pbkdf2-sha256", "salt": kdf(m)["salt"], "iterations": 1_000_000_000}
		}), "iterations must be 1 to 10000000"},
		{"an unknown KDF", edit(func(m map[string]any) { kdf(m)["name"] = "argon2id" }), "unknown KDF"},
		{"a short salt", edit(func(m map[string]any) { kdf(m)["salt"] = "AAAA" }), "salt"},
		{"a short IV", edit(func(m map[string]any) { rec(m, 0)["value"].(map[string]any)["iv"] = "AAAA" }), "iv must be 12"},
		{"data shorter than a tag", edit(func(m map[string]any) { rec(m, 0)["value"].(map[string]any)["data"] = "AAAA" }), "value.data"},
		{"duplicate names", edit(func(m map[string]any) { rec(m, 1)["name"] = rec(m, 0)["name"] }), "same name"},
		{"duplicate ids", edit(func(m map[string]any) { rec(m, 1)["id"] = rec(m, 0)["id"] }), "same id"},
		{"an unknown type", edit(func(m map[string]any) { rec(m, 0)["type"] = "ssh_key" }), "unknown type"},
		{"a name with a newline", edit(func(m map[string]any) { rec(m, 0)["name"] = "a\nb" }), "name"},
		{"a bad time", edit(func(m map[string]any) { rec(m, 0)["created_at"] = "yesterday" }), "created_at"},
		{"a repeated member", []byte(`{"format":"legacy-vault-export","format":"legacy-vault-export"}`), "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := ParseExport(c.file)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("ParseExport = %v, want ErrFormat saying %q", err, c.says)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refusing took %v: work was done before the check", d)
			}
		})
	}
}

func TestOpenChecksBoundsOfAnExportItDidNotParse(t *testing.T) {
	e := parse(t, makeExport(t, 1, lowScrypt))
	e.KDF.N = 1 << 30
	if _, err := e.Open([]byte(pwCanary)); !errors.Is(err, ErrFormat) {
		t.Fatalf("Open with N=2^30 = %v, want ErrFormat before any work", err)
	}
}

func TestTooManyRecordsAreRefusedWhileReading(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := range MaxRecords + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{}`)
	}
	b.WriteString(`]}`)
	_, err := ParseExport(b.Bytes())
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "over 100000 records") {
		t.Fatalf("ParseExport = %v", err)
	}
}

func TestAnExportOverTheSizeLimitIsRefused(t *testing.T) {
	_, err := ReadExport(bytes.NewReader(make([]byte, MaxExportBytes+1)))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "over 64 MiB") {
		t.Fatalf("ReadExport = %v", err)
	}
}
