package vault

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ocmt/mesh/internal/keys"
)

func FuzzParseHeader(f *testing.F) {
	f.Add(header{format: 2}.marshal())
	f.Add(header{format: 1}.marshal())
	f.Add([]byte(headerMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err == nil && !bytes.Equal(h.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseWrap(f *testing.F) {
	m, _ := keys.MasterKeyFromBytes(bytes.Repeat([]byte{1}, 32))
	f.Add(wrapMaster(&m, make([]byte, vaultIDSize), []byte("pw"), TestKDF(), 3).marshal())
	capped := passwordWrap{format: 2, kdf: KDFParams{Time: 16, MemoryKiB: 1 << 20, Threads: 16}, sealed: make([]byte, wrapSize-wrapPrefixLen)}
	f.Add(capped.marshal())                 // at the caps: accepted
	f.Add(capped.marshal()[:wrapPrefixLen]) // truncated
	v1 := capped
	v1.format = 1
	f.Add(v1.marshal()) // format 1
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := parseWrap(b)
		if err != nil {
			return
		}
		if !bytes.Equal(w.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
		if checkKDF(w.kdf) != nil {
			t.Fatalf("accepted KDF parameters beyond the caps: %+v", w.kdf)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(envelope{format: 2, version: 1, sealed: make([]byte, 40)}.marshal())
	f.Add(envelope{format: 1, version: 7, sealed: make([]byte, 40)}.marshal())
	f.Add([]byte(recordMagic + "\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEnvelope(b)
		if err == nil && !bytes.Equal(e.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseFailures(f *testing.F) {
	f.Add(failures{count: 3, lastNano: 12345}.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := parseFailures(b)
		if err == nil && !bytes.Equal(x.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseAuditRecord(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","actor":"a","op":"vault.init","outcome":"ok","prev":"00","hash":"11"}`))
	f.Add([]byte(`{"seq":2,"time":"2026-01-01T00:00:00Z","actor":"a","op":"x","outcome":"ok","v":2,"vault":"00","gen":1,"locked":true,"session":"aa","prev":"00","hash":"11"}`))
	f.Add([]byte(`{"seq":1}{"seq":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseAuditRecord(b)
		if err != nil {
			return
		}
		// Any accepted record goes through the chain check without a panic.
		c := newChainCheck(&header{format: 2}, &keyring{keys: map[uint32][32]byte{0: {1}, 1: {2}}})
		_ = c.next(auditKey(r.Seq).String(), b)
		_ = c.end(b, true)
		_ = v1Hash(r)
	})
}

func FuzzParseHead(f *testing.F) {
	f.Add(auditHead{format: 2, seq: 9}.marshal())
	f.Add(auditHead{format: 1, seq: 9}.marshal())
	f.Add([]byte(headMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHead(b)
		if err == nil && !bytes.Equal(h.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseIndexState(f *testing.F) {
	f.Add(indexState{counter: 5, count: 3}.marshal())
	f.Add(indexState{counter: 1, count: 2}.marshal()) // a migrated format-1 vault: versions were per record
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := parseIndexState(b)
		if err == nil && !bytes.Equal(x.marshal(), b) {
			t.Fatalf("accepted %+v from %x", x, b)
		}
	})
}

func FuzzParseVersionEntry(f *testing.F) {
	f.Add(versionKey(NSSecrets, "a/b").String(), binary.BigEndian.AppendUint64(nil, 3))
	f.Add("/meta/ver/secrets/!!", []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key string, val []byte) {
		if k, ok := parseVersionKey(key); ok && versionKey(k.ns, k.name).String() != key {
			t.Fatalf("key %q parses to %+v, which encodes differently", key, k)
		}
		if v, err := parseVersion(val); err == nil && (v == 0 || !bytes.Equal(binary.BigEndian.AppendUint64(nil, v), val)) {
			t.Fatalf("accepted version %d from %x", v, val)
		}
		if k, ok := parseRecKey(key); ok && recKey(k.ns, k.name).String() != "/rec/"+key {
			t.Fatalf("record key %q parses to %+v, which encodes differently", key, k)
		}
	})
}

func FuzzParseAuditPub(f *testing.F) {
	f.Add(auditPub{gen: 2}.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseAuditPub(b)
		if err == nil && !bytes.Equal(p.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseHistory(f *testing.F) {
	f.Add(auditKeyHistory{0: {1}, 3: {2}}.plaintext())
	f.Add(append(auditKeyHistory{3: {2}}.plaintext(), auditKeyHistory{1: {1}}.plaintext()...)) // out of order
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := parseHistoryPlaintext(b); err == nil && !bytes.Equal(h.plaintext(), b) {
			t.Fatalf("re-encoding differs")
		}
		_, _ = parseHistoryBlob(b)
		if g, err := parseGen(b); err == nil && !bytes.Equal(binary.BigEndian.AppendUint32(nil, g), b) {
			t.Fatalf("rotation marker re-encoding differs")
		}
	})
}

func FuzzDecodeSecret(f *testing.F) {
	f.Add([]byte{0xa2, 0x01, 0x61, 0x61, 0x08, 0x41, 0x62})
	f.Add([]byte{0xbf, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSecret(b)
		if err == nil {
			_ = s.Validate()
		}
	})
}
