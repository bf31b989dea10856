package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"
	"unicode/utf8"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// The audit log's vectors (testdata/audit/README.md): a few chains as a
// vault wrote them and edits of them, each with the verdicts of the check
// without a key (ReadAudit) and of the keyed check (VerifyAudit's).

// auditChain is one vault whose audit log the vectors edit: what an
// auditor is given (the audit keys) and what derives them (the password
// and the stored wrap, and the sealed keys of earlier generations).
type auditChain struct {
	Name      string            `json:"name"`
	Comment   string            `json:"comment"`
	Password  string            `json:"password"`
	VaultID   string            `json:"vault_id"`
	Wrap      string            `json:"wrap"`                 // /meta/wrap/password, hex
	AuditKeys string            `json:"audit_keys,omitempty"` // /meta/audit-keys, hex
	Keys      map[string]string `json:"keys"`                 // generation (decimal) → K_audit, hex
}

// auditVerdict is one break: its kind and its Seq (AuditError), or
// "corrupt" for an error that is not a break (an unreadable vault header).
type auditVerdict struct {
	Break string `json:"break"`
	Seq   uint64 `json:"seq"`
}

// auditVector is one state of a chain's store: the keys a verifier reads
// (/meta/header, /meta/audit-head, /meta/index in hex; /audit/* as text)
// and the verdicts, in order (none: the log verifies).
type auditVector struct {
	Name      string            `json:"name"`
	Comment   string            `json:"comment"`
	Chain     string            `json:"chain"`
	Meta      map[string]string `json:"meta"`
	Audit     map[string]string `json:"audit"`
	Structure []auditVerdict    `json:"structure"`
	Keyed     []auditVerdict    `json:"keyed"`
}

// auditState is the part of a store the verifier reads.
type auditState map[string][]byte

func stateOf(t *testing.T, s ds.Datastore) auditState {
	t.Helper()
	st := auditState{}
	for k, v := range dump(t, s) {
		if strings.HasPrefix(k, "/audit/") || k == headerKey.String() || k == auditHeadKey.String() || k == indexStateKey.String() {
			st[k] = v
		}
	}
	return st
}

func (s auditState) clone() auditState { return maps.Clone(s) }

func (s auditState) store(t *testing.T) ds.Batching {
	t.Helper()
	m := memStore()
	for k, v := range s {
		if err := m.Put(context.Background(), ds.RawKey(k), v); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (s auditState) record(t *testing.T, seq uint64) AuditRecord {
	t.Helper()
	r, err := parseAuditRecord(s[auditKey(seq).String()])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (s auditState) put(seq uint64, r AuditRecord) {
	b, _ := json.Marshal(r)
	s[auditKey(seq).String()] = b
}

// edit rewrites record seq's stored text.
func (s auditState) edit(seq uint64, old, new string) {
	k := auditKey(seq).String()
	s[k] = []byte(strings.Replace(string(s[k]), old, new, 1))
}

func (s auditState) head(t *testing.T) auditHead {
	t.Helper()
	h, err := parseHead(s[auditHeadKey.String()])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// verdicts lists the breaks err holds, in order.
func verdicts(err error) []auditVerdict {
	out := []auditVerdict{}
	if err == nil {
		return out
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var ae *AuditError
		if errors.As(e, &ae) {
			out = append(out, auditVerdict{string(ae.Break), ae.Seq})
		} else {
			out = append(out, auditVerdict{Break: "corrupt"})
		}
	}
	return out
}

// checkState runs both checks on s: without a key (ReadAudit), and keyed
// with keys and the stored index's tag, as Vault.VerifyAudit does.
func checkState(t *testing.T, s auditState, keys map[uint32][32]byte) (structure, keyed []auditVerdict) {
	t.Helper()
	ctx := context.Background()
	_, err := ReadAudit(ctx, s.store(t))
	structure = verdicts(err)
	kr := &keyring{keys: keys}
	if x, err := parseIndexState(s[indexStateKey.String()]); err == nil {
		kr.indexTag = x.tag
	}
	_, err = verifyLog(ctx, s.store(t), kr)
	return structure, verdicts(err)
}

// relink recomputes, without a key, the chain from record from on: each
// prev is the previous hash and each hash the format-1 SHA-256 (what
// someone without the key can compute), and the head names the last with
// its old tag.
func (s auditState) relink(t *testing.T, from, last uint64) {
	t.Helper()
	prev := s.record(t, from-1).Hash
	for seq := from; seq <= last; seq++ {
		r := s.record(t, seq)
		r.Prev = prev
		r.Hash = attackerHash(r)
		s.put(seq, r)
		prev = r.Hash
	}
	h := s.head(t)
	h.seq, h.chain = last, mustChain(t, prev)
	s[auditHeadKey.String()] = h.marshal()
}

func mustChain(t *testing.T, s string) [32]byte {
	t.Helper()
	c, ok := parseChain(s)
	if !ok {
		t.Fatalf("bad chain value %q", s)
	}
	return c
}

// auditSet collects vectors.
type auditSet struct {
	t      *testing.T
	chains []auditChain
	keys   map[string]map[uint32][32]byte
	vs     []auditVector
}

func (a *auditSet) chain(c auditChain, keys map[uint32][32]byte) {
	c.Keys = map[string]string{}
	for g, k := range keys {
		c.Keys[strconv.FormatUint(uint64(g), 10)] = hex.EncodeToString(k[:])
	}
	a.chains = append(a.chains, c)
	a.keys[c.Name] = keys
}

func (a *auditSet) add(chain, name, comment string, s auditState) {
	a.t.Helper()
	v := auditVector{Name: name, Comment: comment, Chain: chain, Meta: map[string]string{}, Audit: map[string]string{}}
	for k, b := range s {
		if strings.HasPrefix(k, "/audit/") {
			if !utf8.Valid(b) {
				a.t.Fatalf("%s: record %s is not text", name, k) // the vector file holds records as text
			}
			v.Audit[k] = string(b)
		} else {
			v.Meta[k] = hex.EncodeToString(b)
		}
	}
	v.Structure, v.Keyed = checkState(a.t, s, a.keys[chain])
	a.vs = append(a.vs, v)
}

func buildAuditVectors(t *testing.T) ([]auditChain, []auditVector) {
	cryptotest.SetGlobalRandom(t, 20)
	ctx := context.Background()
	a := &auditSet{t: t, keys: map[string]map[uint32][32]byte{}}

	// main: a vault's life, gen 0, with a locked session.
	store := memStore()
	clk := newFakeClock()
	v, err := Create(ctx, Config{Store: store, Now: clk.Now}, []byte("audit vector password"), TestKDF(), "cli") // 1
	if err != nil {
		t.Fatal(err)
	}
	k0 := deriveAuditKeys(v.master.Bytes(), v.vaultID[:], 0).mac
	step := func(d time.Duration) { clk.Advance(d) }
	step(1500 * time.Millisecond)
	if err := v.PutSecret(ctx, Secret{Name: "github", Type: TypeAPIKey, Provider: "github", Value: []byte("ghp_audit")}, "cli"); err != nil { // 2
		t.Fatal(err)
	}
	step(250 * time.Millisecond)
	if _, err := v.GetSecret(ctx, "github", "peer:bob"); err != nil { // 3
		t.Fatal(err)
	}
	step(time.Second + time.Nanosecond)
	odd := AuditEntry{Actor: "peer:12D3KooW \"bob\"", Op: "share.grant", Target: "calendar/été ☃",
		Outcome: "", Detail: "quote \" backslash \\ <b>&amp; tab\t newline\n cr\r bs\b ff\f nul\x00 del\x7f \u2028\u2029 é 🔑"}
	if err := v.Audit(ctx, odd); err != nil { // 4
		t.Fatal(err)
	}
	at4 := stateOf(t, store)
	step(time.Second)
	if err := v.Lock(ctx, "cli"); err != nil { // 5
		t.Fatal(err)
	}
	step(time.Second)
	for i, d := range []string{"a request while locked", "another"} { // 6, 7: one session
		if err := v.Audit(ctx, AuditEntry{Actor: "peer:carol", Op: "share.refused", Target: "files/" + strconv.Itoa(i), Outcome: OutcomeDenied, Detail: d}); err != nil {
			t.Fatal(err)
		}
	}
	at7 := stateOf(t, store)
	step(time.Minute)
	if err := v.Unlock(ctx, []byte("audit vector password"), "cli"); err != nil { // 8
		t.Fatal(err)
	}
	step(time.Second)
	if err := v.Put(ctx, NSResources, "calendar/work", []byte("{}"), AuditEntry{Actor: "cli", Op: "resource.write", Target: "calendar/work", Outcome: OutcomeOK}); err != nil { // 9
		t.Fatal(err)
	}
	if _, _, err := v.VerifyAudit(ctx); err != nil {
		t.Fatalf("the live vault does not verify: %v", err)
	}
	main := stateOf(t, store)
	wrap, _ := store.Get(ctx, pwWrapKey)
	a.chain(auditChain{Name: "main", Comment: "9 records, generation 0: init, a write, a read, a record with every escape, lock, 2 written while locked (one session), unlock, a write",
		Password: "audit vector password", VaultID: hex.EncodeToString(v.vaultID[:]), Wrap: hex.EncodeToString(wrap)}, map[uint32][32]byte{0: k0})
	mainVault, mainClk := v, clk

	x := func() auditState { return main.clone() }
	s := x()
	a.add("main", "intact", "the log as the vault wrote it", s)
	s = x()
	s.edit(2, `{"seq":2,`, "{ \"seq\" : 2 ,\n")
	a.add("main", "white-space", "white space added inside record 2: not the encoding the vault writes", s)
	s = x()
	s.edit(2, `"seq":2,`, `"SEQ":2,`)
	a.add("main", "member-name-case", "record 2's member seq written SEQ", s)
	s = x()
	s.edit(2, `"seq":2,`, `"ſeq":2,`)
	a.add("main", "member-name-long-s", "record 2's member seq written with U+017F (long s) for s", s)
	s = x()
	s.edit(2, `"seq":2,`, `"seq":7,"seq":2,`)
	a.add("main", "member-repeated", "record 2's seq given twice, 7 then 2", s)
	s = x()
	s.edit(1, `"outcome":"ok",`, `"outcome":"ok","target":null,`)
	a.add("main", "member-null", "record 1 (which has no target) with \"target\":null", s)
	s = x()
	s.edit(2, `"seq":2,`, `"seq":2,"target":"githu\u0062",`)
	s.edit(2, `"target":"github",`, ``)
	a.add("main", "member-escaped", "record 2's target written with an escape and moved: the same values", s)
	s = x()
	s[auditKey(5).String()] = append(bytes.Clone(s[auditKey(5).String()]), "}]x"...)
	a.add("main", "trailing-brace", "record 5 followed by }]x", s)
	s = x()
	r := s.record(t, 9)
	r.Hash = strings.ToUpper(r.Hash)
	s.put(9, r)
	a.add("main", "last-hash-upper-case", "record 9's hash in upper-case hex: the chain value is the same bytes, and the text is kept", s)
	s = x()
	r = s.record(t, 8)
	r.Prev = strings.ToUpper(r.Prev)
	s.put(8, r)
	a.add("main", "prev-upper-case", "record 8's prev in upper-case hex: prev is compared as text", s)
	s = x()
	s.edit(9, `"prev":`, `"locked":true,"prev":`)
	a.add("main", "locked-after-unlocked-without-session", "record 9 marked locked, after the unlocked record 8: no session precedes it", s)
	s = x()
	s[auditKey(0).String()] = []byte(strings.Replace(string(s[auditKey(1).String()]), `"seq":1,`, `"seq":0,`, 1))
	a.add("main", "record-0-inserted", "a copy of record 1 saying seq 0, stored as record 0: record 1 may still link to 64 zeros", s)

	s = x()
	delete(s, auditKey(9).String())
	a.add("main", "last-record-deleted", "record 9 deleted; the head still names it", s)
	s = x()
	delete(s, auditKey(8).String())
	delete(s, auditKey(9).String())
	delete(s, auditHeadKey.String())
	a.add("main", "tail-and-head-deleted", "records 8 and 9 deleted, and the head", s)
	s = x()
	delete(s, auditHeadKey.String())
	a.add("main", "head-deleted", "the head deleted", s)
	s = x()
	s[auditHeadKey.String()] = at4[auditHeadKey.String()]
	a.add("main", "head-rewound", "the head put back as it was after record 4 (genuine, older)", s)
	s = x()
	for seq := uint64(5); seq <= 9; seq++ {
		delete(s, auditKey(seq).String())
	}
	s[auditHeadKey.String()] = at4[auditHeadKey.String()]
	a.add("main", "tail-and-head-put-back", "records 5-9 deleted and the head put back as it was after 4: only the version index (written since) shows it", s)
	s[indexStateKey.String()] = at4[indexStateKey.String()]
	a.add("main", "tail-head-and-index-put-back", "the same and the version index put back too: an earlier state of the log, which no check can tell (vault/doc.go)", s)

	s = x()
	s.edit(3, `"actor":"peer:bob"`, `"actor":"peer:eve"`)
	a.add("main", "middle-rewritten", "record 3's actor changed, nothing else", s)
	s = x()
	s.edit(3, `"actor":"peer:bob"`, `"actor":"peer:eve"`)
	r = s.record(t, 3)
	r.Hash = attackerHash(r)
	s.put(3, r)
	a.add("main", "middle-rewritten-rehashed", "record 3's actor changed and its hash recomputed without the key; record 4 not relinked", s)
	s = x()
	s.edit(3, `"actor":"peer:bob"`, `"actor":"peer:eve"`)
	s.relink(t, 3, 9)
	a.add("main", "middle-rewritten-relinked", "record 3's actor changed, and the chain 3-9 and the head's seq and chain value recomputed without the key (SHA-256)", s)
	s = x()
	delete(s, auditKey(3).String())
	a.add("main", "middle-deleted", "record 3 deleted", s)
	s = x()
	delete(s, auditKey(1).String())
	a.add("main", "first-deleted", "record 1 deleted", s)
	s = x()
	s[auditKey(3).String()], s[auditKey(4).String()] = s[auditKey(4).String()], s[auditKey(3).String()]
	a.add("main", "records-swapped", "records 3 and 4 stored under each other's keys", s)
	s = x()
	s["/audit/zz"] = s[auditKey(9).String()]
	a.add("main", "malformed-key", "a copy of record 9 under /audit/zz", s)
	s = x()
	s[auditKey(10).String()] = s[auditKey(9).String()]
	a.add("main", "record-copied-after", "a copy of record 9 stored as record 10 (it says seq 9)", s)
	s = x()
	s.edit(9, `"vault":"`, `"vault":"ff`)
	a.add("main", "foreign-record", "record 9's vault field changed", s)
	s = x()
	s.edit(5, `"seq":5`, `"seq":6`)
	a.add("main", "seq-mismatch", "record 5 says seq 6", s)
	s = x()
	s.edit(5, `"actor":`, `"extra":1,"actor":`)
	a.add("main", "unknown-member", "record 5 with a member extra", s)
	s = x()
	s.edit(5, `"seq":5`, `"seq":5.0`)
	a.add("main", "seq-not-an-integer", "record 5's seq written 5.0", s)
	s = x()
	s.edit(5, `"actor":"cli"`, `"actor":5`)
	a.add("main", "actor-not-text", "record 5's actor a number", s)
	s = x()
	s[auditKey(5).String()] = append(bytes.Clone(s[auditKey(5).String()]), ` {}`...)
	a.add("main", "trailing-value", "a second JSON value after record 5", s)
	s = x()
	s[auditKey(5).String()] = []byte("{")
	a.add("main", "garbage", "record 5 is \"{\"", s)
	s = x()
	pad := MaxAuditRecordSize - len(s[auditKey(5).String()])
	s.edit(5, `"outcome":"ok"`, `"outcome":"ok","detail":"`+strings.Repeat("p", pad-len(`,"detail":""`))+`"`)
	if n := len(s[auditKey(5).String()]); n != MaxAuditRecordSize {
		t.Fatalf("record of %d bytes", n)
	}
	a.add("main", "record-of-8192-bytes", "record 5 padded with a detail to 8192 bytes (MaxAuditRecordSize): read, but its tag fails", s)
	s.edit(5, `"detail":"p`, `"detail":"pp`)
	a.add("main", "record-of-8193-bytes", "record 5 padded to 8193 bytes", s)
	s = x()
	s.edit(9, `"v":2`, `"v":3`)
	a.add("main", "unknown-format", "record 9 says v 3", s)
	s = x()
	r = s.record(t, 9)
	r.V, r.Vault, r.Gen = 0, "", 0
	r.Hash = attackerHash(r)
	s.put(9, r)
	h := s.head(t)
	h.chain = mustChain(t, r.Hash)
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "format-1-after-format-2", "record 9 rewritten as a format-1 record (no v, vault, gen; SHA-256 hash) and the head's chain value with it", s)
	s = x()
	s.edit(9, `"hash":"`, `"hash":"zz`)
	a.add("main", "malformed-hash", "record 9's hash is not 64 hex digits", s)
	s = x()
	s.edit(9, `"prev":"`, `"prev":"0`)
	a.add("main", "malformed-prev", "record 9's prev is not the previous hash", s)
	s = x()
	s.edit(7, `"another"`, `"ANOTHER"`)
	a.add("main", "locked-record-edited", "record 7 (written while locked, inside its session) edited", s)
	s = x()
	r = s.record(t, 6)
	r.Session = ""
	s.put(6, r)
	a.add("main", "session-removed", "record 6, which starts the locked session, without its session key", s)
	s = x()
	s.edit(7, `"locked":true,`, ``)
	a.add("main", "locked-made-unlocked", "record 7's locked member removed: it claims to be tagged under the audit key", s)
	s = x()
	s.edit(2, `"v":2,`, `"v":2,"gen":7,`)
	a.add("main", "unknown-generation", "record 2 names key generation 7", s)
	s = x()
	for k := range s {
		if strings.HasPrefix(k, "/audit/") {
			delete(s, k)
		}
	}
	a.add("main", "all-records-deleted", "every record deleted, the head kept", s)
	delete(s, auditHeadKey.String())
	a.add("main", "all-records-and-head-deleted", "every record and the head deleted", s)
	s[auditHeadKey.String()] = []byte("garbage")
	a.add("main", "all-records-deleted-head-garbage", "every record deleted and the head unreadable: the head is read first", s)
	s = x()
	for k := range s {
		if strings.HasPrefix(k, "/audit/") {
			delete(s, k)
		}
	}
	h = s.head(t)
	h.seq = 0
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "all-records-deleted-head-names-0", "every record deleted and the head naming record 0: the head's form is checked first", s)
	a.add("main", "empty-store", "nothing: no vault header, no record, no head", auditState{})

	s = x()
	h = s.head(t)
	s[auditHeadKey.String()] = append(binary.BigEndian.AppendUint64(nil, h.seq), h.chain[:]...)
	a.add("main", "head-format-1", "the head rewritten in format 1 (seq || chain value, 40 bytes), naming record 9", s)
	s = x()
	b := bytes.Clone(s[auditHeadKey.String()])
	b[len(b)-1] ^= 1
	s[auditHeadKey.String()] = b
	a.add("main", "head-tag-flipped", "the last bit of the head's tag flipped", s)
	s = x()
	b = bytes.Clone(s[auditHeadKey.String()])
	b[8+8+32] ^= 1
	s[auditHeadKey.String()] = b
	a.add("main", "head-index-tag-flipped", "a bit of the index tag in the head flipped", s)
	s = x()
	b = bytes.Clone(s[indexStateKey.String()])
	b[len(b)-1] ^= 1
	s[indexStateKey.String()] = b
	a.add("main", "index-tag-flipped", "a bit of /meta/index's tag flipped (the head no longer matches it)", s)
	s = x()
	b = bytes.Clone(s[auditHeadKey.String()])
	b[8+8] ^= 1
	s[auditHeadKey.String()] = b
	a.add("main", "head-chain-flipped", "a bit of the head's chain value flipped", s)
	s = x()
	h = s.head(t)
	h.seq = 0
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "head-names-0", "the head names record 0", s)
	s = x()
	s[auditHeadKey.String()] = s[auditHeadKey.String()][:headSize-1]
	a.add("main", "head-111-bytes", "the head less its last byte", s)
	s = x()
	h = s.head(t)
	h.seq = 10
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "head-names-later", "the head names record 10, which does not exist", s)
	s = x()
	b = bytes.Clone(s[auditHeadKey.String()])
	b[0] = 'X'
	s[auditHeadKey.String()] = b
	a.add("main", "head-magic", "the head's magic changed", s)
	s = x()
	delete(s, headerKey.String())
	a.add("main", "vault-header-deleted", "/meta/header deleted: no vault ID to check the records against", s)
	s = x()
	b = bytes.Clone(s[headerKey.String()])
	b[0] = 'X'
	s[headerKey.String()] = b
	a.add("main", "vault-header-magic", "/meta/header with its magic changed: the store is corrupt", s)
	s = x()
	s[headerKey.String()] = []byte("not a header")
	a.add("main", "vault-header-garbage", "/meta/header unreadable: not a break, the store is corrupt", s)

	// Records written while locked: another session.
	s = at7.clone()
	a.add("main", "locked-intact", "the log as it was while locked, after record 7", s)
	r = s.record(t, 7)
	var ks [32]byte
	copy(ks[:], bytes.Repeat([]byte{0x42}, 32))
	pub, err := parseAuditPub(mustGet(t, store, auditPubKey))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := xcrypto.SealTo(pub.pub[:], ks[:], sessionAAD(v.vaultID[:], 0, 7), labelAuditSession)
	if err != nil {
		t.Fatal(err)
	}
	r.Session, r.Detail = hex.EncodeToString(sealed), "a record of someone else's session"
	r.Hash = ""
	c := xcrypto.MAC(ks[:], labelAuditLocked, r.canonical())
	r.Hash = hex.EncodeToString(c[:])
	s.put(7, r)
	h = s.head(t)
	h.chain = c
	h.tag = xcrypto.MAC(ks[:], labelAuditHead, h.signed(v.vaultID[:]))
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "locked-session-replaced", "record 7 replaced by one starting a session of someone without the password (sealed to /meta/audit-pub), and the head tagged under it: it verifies until the next unlock checks it (vault/doc.go)", s)
	s = at7.clone()
	r = s.record(t, 7)
	epk := make([]byte, 32) // u = 0, a point of small order: X25519 with it is all zeros
	zero := make([]byte, 32)
	k := xcrypto.Expand(zero, append(bytes.Clone(epk), pub.pub[:]...), labelAuditSession)
	sealed = append(epk, xcrypto.Seal(k[:], ks[:], sessionAAD(v.vaultID[:], 0, 7))...)
	r.Session, r.Detail, r.Hash = hex.EncodeToString(sealed), "a session sealed with a small-order ephemeral key", ""
	c = xcrypto.MAC(ks[:], labelAuditLocked, r.canonical())
	r.Hash = hex.EncodeToString(c[:])
	s.put(7, r)
	h = s.head(t)
	h.chain = c
	h.tag = xcrypto.MAC(ks[:], labelAuditHead, h.signed(v.vaultID[:]))
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "session-small-order-key", "record 7 starting a session whose ephemeral key is 0 (small order): the X25519 result is all zeros, refused, though the seal opens with the key derived from it", s)

	// The vault's own break records.
	for _, e := range []struct {
		name, comment string
		edit          func(s auditState)
	}{
		{"appended-after-head-deleted", "the head deleted, then the vault opened and unlocked: it writes a vault.audit.break record (head-deleted) and the unlock after record 9",
			func(s auditState) { delete(s, auditHeadKey.String()) }},
		{"appended-after-tail-deleted", "records 8 and 9 deleted, then the vault opened and unlocked: the break record (tail-deleted) is record 10, after the gap",
			func(s auditState) { delete(s, auditKey(8).String()); delete(s, auditKey(9).String()) }},
	} {
		st := x()
		e.edit(st)
		full := memStore()
		for k, b := range dump(t, store) {
			if _, ok := main[k]; !ok { // everything the verifier does not read
				full.Put(ctx, ds.RawKey(k), b)
			}
		}
		for k, b := range st {
			full.Put(ctx, ds.RawKey(k), b)
		}
		mainClk.Advance(time.Minute)
		v2, err := Open(ctx, Config{Store: full, Now: mainClk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := v2.Unlock(ctx, []byte("audit vector password"), "cli"); err != nil {
			t.Fatal(err)
		}
		v2.Close()
		st = stateOf(t, full)
		a.add("main", e.name, e.comment, st)
		if e.name == "appended-after-head-deleted" {
			st = st.clone()
			k := auditKey(11).String()
			st["/audit/000000000000000B"] = st[k]
			delete(st, k)
			a.add("main", "upper-case-key", "the same log with record 11 stored under /audit/000000000000000B: read as 11, but it sorts before /audit/000000000000000a (bytewise), so the log reads 9, 11, 10", st)
			st = st.clone()
			st["/audit/000000000000000A"] = st[auditKey(10).String()]
			delete(st, auditKey(10).String())
			a.add("main", "upper-case-keys", "the same log with records 10 and 11 under /audit/000000000000000A and ...B: hex digits in either case, and they sort after ...9", st)
		}
	}
	s = x()
	mainVault.Close()
	r = AuditRecord{Seq: 10, Time: mainClk.Now().UTC(), AuditEntry: AuditEntry{Actor: "vault", Op: OpAuditBreak, Target: "something-else", Outcome: OutcomeFailed, Detail: "a break of a kind this version does not know"},
		V: 2, Vault: hex.EncodeToString(v.vaultID[:]), Prev: s.record(t, 9).Hash}
	c = xcrypto.MAC(k0[:], labelAudit, r.canonical())
	r.Hash = hex.EncodeToString(c[:])
	s.put(10, r)
	h = s.head(t)
	h.seq, h.chain = 10, c
	h.tag = xcrypto.MAC(k0[:], labelAuditHead, h.signed(v.vaultID[:]))
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "break-of-unknown-kind", "record 10, tagged under the audit key: a vault.audit.break whose target names no break kind", s)
	s = x()
	r = AuditRecord{Seq: 10, Time: mainClk.Now().UTC(), AuditEntry: AuditEntry{Actor: "vault", Op: OpAuditBreak, Target: string(BreakHeadDeleted), Outcome: OutcomeFailed, Detail: "a break record whose prev is not record 9's hash"},
		V: 2, Vault: hex.EncodeToString(v.vaultID[:]), Prev: strings.Repeat("0", 64)}
	c = xcrypto.MAC(k0[:], labelAudit, r.canonical())
	r.Hash = hex.EncodeToString(c[:])
	s.put(10, r)
	h = s.head(t)
	h.seq, h.chain = 10, c
	h.tag = xcrypto.MAC(k0[:], labelAuditHead, h.signed(v.vaultID[:]))
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "break-record-unlinked", "record 10, tagged under the audit key: a vault.audit.break (head-deleted) whose prev is 64 zeros: a break record need not link", s)
	s = x()
	r = AuditRecord{Seq: 10, Time: mainClk.Now().UTC(), AuditEntry: AuditEntry{Actor: "cli", Op: "secret.read", Target: "github", Outcome: OutcomeOK},
		V: 2, Vault: hex.EncodeToString(v.vaultID[:]), Gen: 5, Prev: s.record(t, 9).Hash}
	c = xcrypto.MAC(k0[:], labelAudit, r.canonical())
	r.Hash = hex.EncodeToString(c[:])
	s.put(10, r)
	h = s.head(t)
	h.seq, h.chain = 10, c
	h.tag = xcrypto.MAC(k0[:], labelAuditHead, h.signed(v.vaultID[:]))
	s[auditHeadKey.String()] = h.marshal()
	a.add("main", "generation-without-key", "record 10 says generation 5 and is tagged under generation 0's key: a record is checked only under its own generation's key", s)

	// rotated: a key rotation, records under generations 0 and 1.
	store = memStore()
	clk = newFakeClock()
	v, err = Create(ctx, Config{Store: store, Now: clk.Now}, []byte("rotation password 0"), TestKDF(), "cli")
	if err != nil {
		t.Fatal(err)
	}
	r0 := deriveAuditKeys(v.master.Bytes(), v.vaultID[:], 0).mac
	clk.Advance(time.Second)
	if err := v.PutSecret(ctx, Secret{Name: "a", Type: TypeNote, Value: []byte("x")}, "cli"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := v.RotateKey(ctx, []byte("rotation password 0"), []byte("rotation password 1"), TestKDF(), "cli"); err != nil {
		t.Fatal(err)
	}
	r1 := deriveAuditKeys(v.master.Bytes(), v.vaultID[:], 1).mac
	clk.Advance(time.Second)
	if err := v.PutSecret(ctx, Secret{Name: "b", Type: TypeNote, Value: []byte("y")}, "cli"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.VerifyAudit(ctx); err != nil {
		t.Fatalf("the rotated vault does not verify: %v", err)
	}
	v.Close()
	wrap, _ = store.Get(ctx, pwWrapKey)
	hist, _ := store.Get(ctx, historyKey)
	a.chain(auditChain{Name: "rotated", Comment: "a key rotation: records 1-2 under generation 0, then the rotation and a write under generation 1; the password is the new one",
		Password: "rotation password 1", VaultID: hex.EncodeToString(v.vaultID[:]), Wrap: hex.EncodeToString(wrap), AuditKeys: hex.EncodeToString(hist)},
		map[uint32][32]byte{0: r0, 1: r1})
	rot := stateOf(t, store)
	a.add("rotated", "rotated-intact", "the log as the vault wrote it", rot.clone())
	s = rot.clone()
	s.edit(2, `"actor":"cli"`, `"actor":"eve"`)
	a.add("rotated", "rotated-old-generation-edited", "record 2 (generation 0) edited", s)
	s = rot.clone()
	r = s.record(t, 2)
	r.Gen = 1
	s.put(2, r)
	a.add("rotated", "rotated-generation-changed", "record 2 claims generation 1", s)

	// migrated: a format-1 vault (testdata/v1-store.json) after its migration.
	store, pw := loadV1(t)
	clk = newFakeClock()
	clk.Advance(time.Hour)
	v = reopen(t, store, clk)
	if err := v.Unlock(ctx, []byte(pw), "cli"); err != nil {
		t.Fatal(err)
	}
	m0 := deriveAuditKeys(v.master.Bytes(), v.vaultID[:], 0).mac
	if _, _, err := v.VerifyAudit(ctx); err != nil {
		t.Fatalf("the migrated vault does not verify: %v", err)
	}
	v.Close()
	wrap, _ = store.Get(ctx, pwWrapKey)
	a.chain(auditChain{Name: "migrated", Comment: "testdata/v1-store.json after its first unlock: records 1-11 format 1 (SHA-256), 12 the migration, 13 the unlock",
		Password: pw, VaultID: hex.EncodeToString(v.vaultID[:]), Wrap: hex.EncodeToString(wrap)}, map[uint32][32]byte{0: m0})
	mig := stateOf(t, store)
	a.add("migrated", "migrated-intact", "the log as the vault wrote it", mig.clone())
	s = mig.clone()
	s.edit(3, `"target":"openai"`, `"target":"bank"`)
	a.add("migrated", "migrated-format-1-edited", "format-1 record 3 edited", s)
	s = mig.clone()
	s.edit(3, `"target":"openai"`, `"target":"bank"`)
	last := s.head(t).seq
	s.relink(t, 3, 11)
	r = s.record(t, 12)
	r.Prev = s.record(t, 11).Hash
	s.put(12, r)
	h = s.head(t)
	h.seq, h.chain = last, mustChain(t, s.record(t, last).Hash)
	s[auditHeadKey.String()] = h.marshal()
	a.add("migrated", "migrated-format-1-rehashed", "format-1 record 3 edited, records 3-11 rehashed and relinked, and record 12's prev changed to match: only the migration record's tag shows it", s)
	s = mig.clone()
	delete(s, auditKey(12).String())
	delete(s, auditKey(13).String())
	h = s.head(t)
	h.seq, h.chain = 11, mustChain(t, s.record(t, 11).Hash)
	s[auditHeadKey.String()] = h.marshal()
	a.add("migrated", "migrated-format-2-records-deleted", "records 12 and 13 (format 2) deleted and the head made to name record 11: the vault is format 2, its log ends in format 1", s)
	b = bytes.Clone(s[headerKey.String()])
	b[7] = 1
	s[headerKey.String()] = b
	a.add("migrated", "migrated-downgraded", "the same with /meta/header put back to format 1: no key tags the last record, so the keyed check refuses the head", s)
	return a.chains, a.vs
}

func mustGet(t *testing.T, s ds.Datastore, k ds.Key) []byte {
	t.Helper()
	b, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditVectors checks testdata/audit/chains.json and vectors.json:
// the committed vectors are what the builder makes today (-update
// rewrites them), and each vector's verdicts are what the checks give on
// its committed bytes.
func TestAuditVectors(t *testing.T) {
	var chains []auditChain
	vs := testkit.Vectors(t, "testdata/audit/vectors.json", *update, func() []auditVector {
		var vs []auditVector
		chains, vs = buildAuditVectors(t)
		return vs
	})
	cs := testkit.Vectors(t, "testdata/audit/chains.json", *update, func() []auditChain { return chains })
	keys := map[string]map[uint32][32]byte{}
	for _, c := range cs {
		keys[c.Name] = map[uint32][32]byte{}
		for g, h := range c.Keys {
			n, _ := strconv.ParseUint(g, 10, 32)
			var k [32]byte
			b, _ := hex.DecodeString(h)
			copy(k[:], b)
			keys[c.Name][uint32(n)] = k
		}
	}
	seen := map[string]bool{}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			if seen[v.Name] {
				t.Fatal("two vectors of this name")
			}
			seen[v.Name] = true
			s := auditState{}
			for k, h := range v.Meta {
				s[k], _ = hex.DecodeString(h)
			}
			for k, text := range v.Audit {
				s[k] = []byte(text)
			}
			structure, keyed := checkState(t, s, keys[v.Chain])
			if !slices.Equal(structure, v.Structure) || !slices.Equal(keyed, v.Keyed) {
				t.Fatalf("structure %v keyed %v; the vector says %v and %v", structure, keyed, v.Structure, v.Keyed)
			}
		})
	}
	// The keys are the vault's: derived from the password and the wrap.
	for _, c := range cs {
		wrap, _ := hex.DecodeString(c.Wrap)
		vid, _ := hex.DecodeString(c.VaultID)
		w, err := parseWrap(wrap)
		if err != nil {
			t.Fatal(err)
		}
		m, err := unwrapPassword(w, vid, []byte(c.Password))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		k := deriveAuditKeys(m.Bytes(), vid, w.gen).mac
		if hex.EncodeToString(k[:]) != c.Keys[strconv.FormatUint(uint64(w.gen), 10)] {
			t.Errorf("%s: the key of generation %d is not the password's", c.Name, w.gen)
		}
		m.Wipe()
	}
}

// TestAuditVectorsCoverEveryBreak: every kind of break is some vector's
// verdict, without a key and with one.
func TestAuditVectorsCoverEveryBreak(t *testing.T) {
	vs := testkit.ReadVectors[auditVector](t, "testdata/audit/vectors.json")
	seen := map[string]map[string]bool{"structure": {}, "keyed": {}}
	for _, v := range vs {
		for _, x := range v.Structure {
			seen["structure"][x.Break] = true
		}
		for _, x := range v.Keyed {
			seen["keyed"][x.Break] = true
		}
	}
	for _, k := range []AuditBreak{BreakTailDeleted, BreakAllDeleted, BreakHeadRewound, BreakHeadDeleted, BreakRecordChanged, BreakForeignRecord} {
		if !seen["keyed"][string(k)] {
			t.Errorf("no vector's keyed verdict is %s", k)
		}
		if !seen["structure"][string(k)] {
			t.Errorf("no vector's verdict without a key is %s", k)
		}
	}
}
