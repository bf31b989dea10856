package vault

import (
	"bytes"
	"testing"
)

func FuzzParseHeader(f *testing.F) {
	f.Add(header{}.marshal())
	f.Add([]byte(headerMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err == nil && !bytes.Equal(h.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseWrap(f *testing.F) {
	v := &Vault{}
	v.master.Bytes()[0] = 1
	f.Add(v.wrapMaster([]byte("pw"), TestKDF()).marshal())
	capped := passwordWrap{kdf: KDFParams{Time: 16, MemoryKiB: 1 << 20, Threads: 16}, sealed: make([]byte, wrapSize-wrapPrefixLen)}
	f.Add(capped.marshal())                 // at the caps: accepted
	f.Add(capped.marshal()[:wrapPrefixLen]) // truncated
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
	f.Add(envelope{version: 1, sealed: make([]byte, 40)}.marshal())
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
	f.Add([]byte(`{"seq":1}{"seq":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseAuditRecord(b)
		if err != nil {
			return
		}
		r.Hash = r.chainHash() // must not panic on any accepted input
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
