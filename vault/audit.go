package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// Audit operations. Later subsystems add their own (token.issue, ...).
const (
	OpInit           = "vault.init"
	OpUnlock         = "vault.unlock"
	OpLock           = "vault.lock"
	OpPasswordChange = "vault.password.change"
	OpKeyRotate      = "vault.key.rotate"
	OpMigrate        = "vault.format.migrate"
	OpIndexRebuild   = "vault.index.rebuild"
	// OpAuditBreak is written by the vault itself when it finds the log
	// edited (a deleted or rewound head) and has to append past the edit:
	// the record keeps the edit reported after the head is rewritten.
	OpAuditBreak   = "vault.audit.break"
	OpSecretRead   = "secret.read"
	OpSecretWrite  = "secret.write"
	OpSecretDelete = "secret.delete"
)

// Outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
	OutcomeDenied = "denied"
)

// MaxAuditRecordSize bounds one stored audit record.
const MaxAuditRecordSize = 8 << 10

var (
	auditPrefix  = ds.NewKey("/audit")
	auditHeadKey = ds.NewKey("/meta/audit-head")
	auditPubKey  = ds.NewKey("/meta/audit-pub")
)

// ErrAuditBroken reports a break in the audit chain. Every break is an
// *AuditError that says which edit it was.
var ErrAuditBroken = errors.New("vault: audit chain is broken")

// AuditBreak names the kind of edit a broken chain shows.
type AuditBreak string

// The edits the chain tells apart.
const (
	// BreakTailDeleted: the last records are gone; the head still names them.
	BreakTailDeleted AuditBreak = "tail-deleted"
	// BreakAllDeleted: every record is gone (with or without the head).
	BreakAllDeleted AuditBreak = "all-deleted"
	// BreakHeadRewound: the head names an earlier record than the log's
	// last, or is an older copy or a forgery (only the key shows the last).
	BreakHeadRewound AuditBreak = "head-rewound"
	// BreakHeadDeleted: records exist and the head does not.
	BreakHeadDeleted AuditBreak = "head-deleted"
	// BreakRecordChanged: a record was rewritten, inserted or removed
	// before the end of the log.
	BreakRecordChanged AuditBreak = "record-changed"
	// BreakForeignRecord: a record names another vault.
	BreakForeignRecord AuditBreak = "foreign-record"
)

// AuditError is one break in the audit chain, in words.
type AuditError struct {
	Break AuditBreak
	// Seq is the first record concerned (0 when it is the head's).
	Seq    uint64
	Detail string
}

func (e *AuditError) Error() string { return "vault: audit chain is broken: " + e.Detail }

// Unwrap makes every AuditError match ErrAuditBroken.
func (e *AuditError) Unwrap() error { return ErrAuditBroken }

func auditBreak(kind AuditBreak, seq uint64, format string, args ...any) *AuditError {
	return &AuditError{Break: kind, Seq: seq, Detail: fmt.Sprintf(format, args...)}
}

// AuditCheck says how far a read of the audit log could verify it.
type AuditCheck int

const (
	// CheckedStructure: sequence, links, head, vault ID and format-1
	// hashes, all without a key (the vault is locked). It cannot tell a
	// record or head rewritten by someone who recomputed the links.
	CheckedStructure AuditCheck = iota
	// CheckedKeyed: everything, including every record's tag, the head's
	// tag and its binding to the version index, and locked-time records
	// under their session keys.
	CheckedKeyed
)

func (c AuditCheck) String() string {
	if c == CheckedKeyed {
		return "keyed"
	}
	return "structure only"
}

// AuditEntry is what a caller records: who did what to which name. It must
// never contain a secret value; Detail is for non-secret context.
type AuditEntry struct {
	Actor   string `json:"actor"`
	Op      string `json:"op"`
	Target  string `json:"target,omitempty"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// validUTF8 returns e with every text valid UTF-8, each invalid sequence
// replaced by U+FFFD. encoding/json writes an invalid byte as the escape
// \ufffd and reads it back as U+FFFD, so a record holding one would not
// re-encode to the J its tag covers, and would read as rewritten.
func (e AuditEntry) validUTF8() AuditEntry {
	for _, s := range []*string{&e.Actor, &e.Op, &e.Target, &e.Outcome, &e.Detail} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	return e
}

// AuditRecord is one link of the chain as stored (doc.go: "Audit log").
type AuditRecord struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	AuditEntry
	// V is 2 on records written by format 2, absent on format-1 records.
	V int `json:"v,omitempty"`
	// Vault is the vault ID (hex) the record belongs to.
	Vault string `json:"vault,omitempty"`
	// Gen is the key generation whose audit key tags the record.
	Gen uint32 `json:"gen,omitempty"`
	// Locked is set on records written while the vault was locked: they
	// are tagged under a session key sealed to the vault's audit key.
	Locked bool `json:"locked,omitempty"`
	// Session is the session key sealed to the audit public key, on the
	// first record of a locked session (hex).
	Session string `json:"session,omitempty"`
	Prev    string `json:"prev"`
	// Hash is the chain value: SHA-256 on format-1 records, the HMAC tag
	// on format-2 records.
	Hash string `json:"hash"`
}

// canonical is the JSON the chain value covers: the record with Hash empty.
func (r AuditRecord) canonical() []byte {
	r.Hash = ""
	b, _ := json.Marshal(r) // fixed struct of strings/ints/bools/time: cannot fail
	return b
}

// v1Hash is the format-1 chain value: SHA-256 with no key.
func v1Hash(r AuditRecord) string {
	sum := sha256.Sum256(append([]byte(labelAudit+"\x00"), r.canonical()...))
	return hex.EncodeToString(sum[:])
}

func parseAuditRecord(b []byte) (AuditRecord, error) {
	var r AuditRecord
	if len(b) > MaxAuditRecordSize {
		return r, fmt.Errorf("%w: audit record too large", ErrCorrupt)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: audit record: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return r, fmt.Errorf("%w: audit record has trailing data", ErrCorrupt)
	}
	return r, nil
}

func parseChain(s string) ([32]byte, bool) {
	var c [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return c, false
	}
	copy(c[:], b)
	return c, true
}

func auditKey(seq uint64) ds.Key { return auditPrefix.ChildString(fmt.Sprintf("%016x", seq)) }

func seqOfKey(k string) (uint64, bool) {
	s, ok := strings.CutPrefix(k, auditPrefix.String()+"/")
	if !ok || len(s) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil
}

// auditKeys are one generation's audit keys, held while unlocked.
type auditKeys struct {
	gen uint32
	mac [32]byte // K_audit
	pub [32]byte // the X25519 public key derived from it
}

// deriveAuditKeys derives a generation's audit keys from its master key.
func deriveAuditKeys(master, vaultID []byte, gen uint32) auditKeys {
	k := auditKeys{gen: gen, mac: xcrypto.Expand(master, vaultID, labelAudit)}
	k.pub = auditPublic(k.mac, vaultID)
	return k
}

func auditPrivate(mac [32]byte, vaultID []byte) [32]byte {
	return xcrypto.Expand(mac[:], vaultID, labelAuditX25519)
}

func auditPublic(mac [32]byte, vaultID []byte) [32]byte {
	priv := auditPrivate(mac, vaultID)
	defer clear(priv[:])
	pub, err := xcrypto.X25519Public(priv[:])
	if err != nil { // any 32 bytes are a valid X25519 private key
		panic(err)
	}
	return pub
}

func sessionAAD(vaultID []byte, gen uint32, seq uint64) []byte {
	a := append([]byte(labelAuditSession), vaultID...)
	a = binary.BigEndian.AppendUint32(a, gen)
	return binary.BigEndian.AppendUint64(a, seq)
}

// lockedSession is the key records written while locked are tagged with.
type lockedSession struct {
	key [32]byte
	// sealed is the key sealed to the audit public key, until the first
	// record of the session (which carries it) is committed.
	sealed []byte
}

// logState is what an append advances. commit works on a copy and keeps
// it only once the batch has committed.
type logState struct {
	format   int // 1: SHA-256 records and head; 2: keyed or locked-session
	seq      uint64
	chain    [32]byte
	indexTag [32]byte
	gen      uint32
	pub      *[32]byte  // audit public key (format 2), to seal sessions to
	keys     *auditKeys // set while unlocked
	session  *lockedSession
	repair   *AuditError // an edit found at open, written before the next record
	// owed are records whose operation was done without them (a lock on
	// a full disk: Vault.Lock), written with the next record.
	owed []AuditEntry
}

// maxOwed bounds the records kept for later: a lock needs an unlock before
// it, and an unlock writes its record, so more than one is already odd.
const maxOwed = 16

// auditLog appends to the chain. Appends are staged into a caller's batch
// so that the record and the operation commit together.
type auditLog struct {
	mu      sync.Mutex
	store   ds.Batching
	now     func() time.Time
	vaultID [vaultIDSize]byte
	st      logState
}

// openAudit reads the chain's end. An inconsistent end (head missing,
// rewound or past the last record) is not repaired here: the first append
// writes an OpAuditBreak record saying what was found, continues after
// every existing record and never overwrites one.
func openAudit(ctx context.Context, store ds.Batching, now func() time.Time, h header, fresh bool) (*auditLog, error) {
	a := &auditLog{store: store, now: now, vaultID: h.vaultID, st: logState{format: h.format}}
	if h.format == 2 {
		if b, err := store.Get(ctx, auditPubKey); err == nil {
			if p, err := parseAuditPub(b); err == nil {
				a.st.pub, a.st.gen = &p.pub, p.gen
			}
		} else if !errors.Is(err, ds.ErrNotFound) {
			return nil, fmt.Errorf("vault: reading audit key: %w", err)
		}
		if b, err := store.Get(ctx, indexStateKey); err == nil {
			if x, err := parseIndexState(b); err == nil {
				a.st.indexTag = x.tag
			}
		} else if !errors.Is(err, ds.ErrNotFound) {
			return nil, fmt.Errorf("vault: reading version index: %w", err)
		}
	}
	raw, err := store.Get(ctx, auditHeadKey)
	if err != nil && !errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("vault: reading audit head: %w", err)
	}
	head, herr := parseHead(raw)
	if err == nil && herr == nil && head.format == h.format {
		cur, err := store.Has(ctx, auditKey(head.seq))
		if err != nil {
			return nil, fmt.Errorf("vault: reading audit log: %w", err)
		}
		next, err := store.Has(ctx, auditKey(head.seq+1))
		if err != nil {
			return nil, fmt.Errorf("vault: reading audit log: %w", err)
		}
		if cur && !next { // the usual case: two lookups
			a.st.seq, a.st.chain = head.seq, head.chain
			return a, nil
		}
	}
	// Something is off: find the last record.
	last, lastChain, count, serr := scanLast(ctx, store)
	if serr != nil {
		return nil, serr
	}
	switch {
	case err != nil && count == 0 && fresh: // a new vault
	case err != nil && count == 0:
		a.st.repair = auditBreak(BreakAllDeleted, 1, "every audit record was deleted, and the head with them (found when the vault was opened)")
	case err != nil || herr != nil:
		a.st.seq, a.st.chain = last, lastChain
		a.st.repair = auditBreak(BreakHeadDeleted, last+1, "the head was deleted: the end of the log could not be checked, records after %d may have been deleted with it (found when the vault was opened)", last)
	case head.format != h.format:
		a.st.seq, a.st.chain = max(last, head.seq), lastChain
		a.st.repair = auditBreak(BreakHeadRewound, max(last, head.seq)+1, "the head was rewound: it is in format %d, an older copy put back (found when the vault was opened)", head.format)
	case last > head.seq:
		a.st.seq, a.st.chain = last, lastChain
		a.st.repair = auditBreak(BreakHeadRewound, last+1, "the head was rewound: it named record %d, the log went on to record %d (found when the vault was opened)", head.seq, last)
	case count == 0:
		a.st.seq, a.st.chain = head.seq, head.chain
		a.st.repair = auditBreak(BreakAllDeleted, head.seq+1, "every audit record was deleted (the head named record %d; found when the vault was opened)", head.seq)
	default: // last < head.seq, or head.seq itself missing
		a.st.seq, a.st.chain = max(last, head.seq), head.chain
		a.st.repair = auditBreak(BreakTailDeleted, head.seq+1, "the last records were deleted: the head named record %d, the log ended at record %d (found when the vault was opened)", head.seq, last)
	}
	return a, nil
}

// scanLast finds the highest record in the log and its chain value.
func scanLast(ctx context.Context, store ds.Datastore) (last uint64, chain [32]byte, count int, err error) {
	res, err := store.Query(ctx, query.Query{Prefix: auditPrefix.String(), KeysOnly: true})
	if err != nil {
		return 0, chain, 0, fmt.Errorf("vault: reading audit log: %w", err)
	}
	es, err := res.Rest()
	if err != nil {
		return 0, chain, 0, fmt.Errorf("vault: reading audit log: %w", err)
	}
	for _, e := range es {
		if n, ok := seqOfKey(e.Key); ok {
			last = max(last, n)
			count++
		}
	}
	if last > 0 {
		b, err := store.Get(ctx, auditKey(last))
		if err != nil {
			return 0, chain, 0, fmt.Errorf("vault: reading audit log: %w", err)
		}
		if r, err := parseAuditRecord(b); err == nil {
			if c, ok := parseChain(r.Hash); ok {
				return last, c, count, nil
			}
		}
		chain = sha256.Sum256(b) // unreadable: any value; the link is reported broken anyway
	}
	return last, chain, count, nil
}

// commitOpts are the parts of a commit beyond its records.
type commitOpts struct {
	op func(ds.Batch) error
	// indexTag is the version index tag the batch writes (nil: unchanged).
	indexTag *[32]byte
	// keys, when set, tag this batch's records and are kept after it
	// (unlock, migration, rotation). A format-1 log becomes format 2.
	keys *auditKeys
	// dropKeys forgets the keys once the batch is written (lock).
	dropKeys bool
}

// commit writes the audit record and the staged operation atomically.
// If anything fails, neither is written and the operation must fail.
func (a *auditLog) commit(ctx context.Context, e AuditEntry, op func(ds.Batch) error) error {
	return a.commitWith(ctx, []AuditEntry{e}, commitOpts{op: op})
}

func (a *auditLog) commitWith(ctx context.Context, es []AuditEntry, o commitOpts) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	if o.keys != nil {
		k := *o.keys
		st.keys, st.format, st.gen, st.pub, st.session = &k, 2, k.gen, &k.pub, nil
	}
	if o.indexTag != nil {
		st.indexTag = *o.indexTag
	}
	batch, err := a.store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("vault: audit batch: %w", err)
	}
	if o.op != nil {
		if err := o.op(batch); err != nil {
			return err
		}
	}
	if len(st.owed) > 0 {
		es = append(append([]AuditEntry{}, st.owed...), es...)
		st.owed = nil
	}
	if st.repair != nil {
		r := st.repair
		st.repair = nil
		es = append([]AuditEntry{{Actor: "vault", Op: OpAuditBreak, Target: string(r.Break), Outcome: OutcomeFailed, Detail: r.Detail}}, es...)
	}
	for _, e := range es {
		if err := a.stage(ctx, batch, &st, e); err != nil {
			return err
		}
	}
	head, err := a.head(&st)
	if err != nil {
		return err
	}
	if err := batch.Put(ctx, auditHeadKey, head.marshal()); err != nil {
		return fmt.Errorf("vault: audit write: %w", err)
	}
	if err := batch.Commit(ctx); err != nil {
		if errors.Is(err, store.ErrDiskFull) {
			return err // says that nothing was written, and why
		}
		return fmt.Errorf("vault: audit record could not be written, operation refused: %w", err)
	}
	if o.dropKeys {
		st.keys, st.session = nil, nil
	}
	a.st = st
	return nil
}

// stage adds one record to batch and advances st.
func (a *auditLog) stage(ctx context.Context, batch ds.Batch, st *logState, e AuditEntry) error {
	r := AuditRecord{Seq: st.seq + 1, Time: a.now().UTC(), AuditEntry: e.validUTF8(), Prev: hex.EncodeToString(st.chain[:])}
	if r.Seq == 1 && st.chain == ([32]byte{}) {
		r.Prev = strings.Repeat("0", 64)
	}
	// Appends never overwrite: a record already there means the head was
	// rewound behind our back (openAudit found the end at open time).
	if ok, err := a.store.Has(ctx, auditKey(r.Seq)); err != nil {
		return fmt.Errorf("vault: audit: %w", err)
	} else if ok {
		return auditBreak(BreakHeadRewound, r.Seq, "record %d already exists: the head was rewound while the vault was open; refusing to overwrite it", r.Seq)
	}
	var chain [32]byte
	switch {
	case st.format == 1:
		c, _ := parseChain(v1Hash(r))
		chain = c
	case st.keys != nil:
		r.V, r.Vault, r.Gen = 2, hex.EncodeToString(a.vaultID[:]), st.keys.gen
		chain = xcrypto.MAC(st.keys.mac[:], labelAudit, r.canonical())
	default:
		if st.pub == nil {
			return fmt.Errorf("%w: the audit public key is missing, so nothing can be audited while the vault is locked (unlock it to restore the key)", ErrCorrupt)
		}
		r.V, r.Vault, r.Gen, r.Locked = 2, hex.EncodeToString(a.vaultID[:]), st.gen, true
		if st.session == nil {
			s := &lockedSession{}
			rand.Read(s.key[:])
			sealed, err := xcrypto.SealTo(st.pub[:], s.key[:], sessionAAD(a.vaultID[:], st.gen, r.Seq), labelAuditSession)
			if err != nil {
				return fmt.Errorf("%w: the audit public key is unusable (unlock the vault to restore it)", ErrCorrupt)
			}
			s.sealed = sealed
			st.session = s
		} else {
			cp := *st.session // the stored session changes only on commit
			st.session = &cp
		}
		if st.session.sealed != nil {
			r.Session = hex.EncodeToString(st.session.sealed)
			st.session.sealed = nil // on this record only
		}
		chain = xcrypto.MAC(st.session.key[:], labelAuditLocked, r.canonical())
	}
	r.Hash = hex.EncodeToString(chain[:])
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("vault: audit: %w", err)
	}
	if len(b) > MaxAuditRecordSize {
		return fmt.Errorf("vault: audit record too large")
	}
	if err := batch.Put(ctx, auditKey(r.Seq), b); err != nil {
		return fmt.Errorf("vault: audit write: %w", err)
	}
	st.seq, st.chain = r.Seq, chain
	return nil
}

// head builds the head for st, tagged with the key of its last record.
func (a *auditLog) head(st *logState) (auditHead, error) {
	h := auditHead{format: st.format, seq: st.seq, chain: st.chain, indexTag: st.indexTag}
	if st.format == 1 {
		return h, nil
	}
	switch {
	case st.keys != nil:
		h.tag = xcrypto.MAC(st.keys.mac[:], labelAuditHead, h.signed(a.vaultID[:]))
	case st.session != nil:
		h.tag = xcrypto.MAC(st.session.key[:], labelAuditHead, h.signed(a.vaultID[:]))
	default:
		return h, errors.New("vault: audit: no key for the head")
	}
	return h, nil
}

// owe keeps e, whose operation was done without its record, for the next
// commit.
func (a *auditLog) owe(e AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.st.owed) < maxOwed {
		a.st.owed = append(a.st.owed, e)
	}
}

// pending returns a copy of the owed records.
func (a *auditLog) pending() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEntry(nil), a.st.owed...)
}

// setKeys and dropKeys change the keys outside a commit (Close).
func (a *auditLog) dropKeys() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st.keys != nil {
		clear(a.st.keys.mac[:])
	}
	a.st.keys, a.st.session = nil, nil
}

// ReadAudit returns every audit record in order and checks what can be
// checked without the password (CheckedStructure): the sequence, the links,
// the head, the vault ID, format-1 hashes, and that records written while
// locked start with a session. It works on a locked vault. On a break it
// returns the records before it and an *AuditError (errors.Is
// ErrAuditBroken) saying which edit it was. Vault.VerifyAudit checks the
// tags as well.
func ReadAudit(ctx context.Context, store ds.Datastore) ([]AuditRecord, error) {
	return verifyLog(ctx, store, nil)
}

// keyring is what a keyed check needs: the audit key of each generation
// and the current version index tag.
type keyring struct {
	keys     map[uint32][32]byte
	indexTag [32]byte
}

func verifyLog(ctx context.Context, store ds.Datastore, kr *keyring) ([]AuditRecord, error) {
	hdrBytes, err := store.Get(ctx, headerKey)
	var hdr *header
	if err == nil {
		h, err := parseHeader(hdrBytes)
		if err != nil {
			return nil, err
		}
		hdr = &h
	} else if !errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("vault: reading header: %w", err)
	}
	// The head is read before and after the records; if it moved, an
	// append ran in between and the read is retried.
	for try := 0; ; try++ {
		h1, err1 := store.Get(ctx, auditHeadKey)
		res, err := store.Query(ctx, query.Query{Prefix: auditPrefix.String()})
		if err != nil {
			return nil, fmt.Errorf("vault: reading audit log: %w", err)
		}
		entries, err := res.Rest()
		if err != nil {
			return nil, fmt.Errorf("vault: reading audit log: %w", err)
		}
		h2, err2 := store.Get(ctx, auditHeadKey)
		if try < 5 && (string(h1) != string(h2) || (err1 == nil) != (err2 == nil)) {
			continue
		}
		if err2 != nil && !errors.Is(err2, ds.ErrNotFound) {
			return nil, fmt.Errorf("vault: reading audit head: %w", err2)
		}
		// Keys are fixed-width hex, so lexical order is sequence order.
		query.Sort([]query.Order{query.OrderByKey{}}, entries)
		c := newChainCheck(hdr, kr)
		for _, e := range entries {
			if err := c.next(e.Key, e.Value); err != nil {
				return c.out, c.result(err)
			}
		}
		return c.out, c.result(c.end(h2, err2 == nil))
	}
}

// chainCheck verifies records one at a time.
type chainCheck struct {
	vaultID  string // hex; "" when the store has no header
	format   int
	kr       *keyring
	want     uint64
	prev     [32]byte
	sawV2    bool
	inLocked bool      // the previous record was written while locked
	hasSess  bool      // ... and its session has started
	session  *[32]byte // the current session's key (keyed check)
	lastR    *AuditRecord
	out      []AuditRecord
	reported []error // breaks the vault itself recorded (OpAuditBreak)
	lastKey  *[32]byte
}

func newChainCheck(h *header, kr *keyring) *chainCheck {
	c := &chainCheck{kr: kr, want: 1}
	if h != nil {
		c.vaultID, c.format = hex.EncodeToString(h.vaultID[:]), h.format
	}
	return c
}

func (c *chainCheck) result(err error) error {
	errs := append([]error(nil), c.reported...)
	if err != nil {
		errs = append(errs, err)
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

func removed(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("record %d was removed", from)
	}
	return fmt.Sprintf("records %d–%d were removed", from, to)
}

// next checks one stored record; a non-nil error ends the check.
func (c *chainCheck) next(key string, value []byte) error {
	seq, ok := seqOfKey(key)
	if !ok {
		return auditBreak(BreakRecordChanged, c.want, "a record was inserted under a malformed key %q", key)
	}
	r, err := parseAuditRecord(value)
	if err != nil {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: it is not a valid audit record (%v)", seq, err)
	}
	if r.Seq != seq {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: it claims to be record %d", seq, r.Seq)
	}
	if canon, err := json.Marshal(r); err != nil || !bytes.Equal(canon, value) {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: it is not in the form the vault writes", seq)
	}
	gap := seq > c.want
	if gap && r.Op != OpAuditBreak {
		// The vault's own break records explain the gap before them.
		if seq == c.want+1 {
			return auditBreak(BreakRecordChanged, c.want, "record %d was removed from the middle of the log", c.want)
		}
		return auditBreak(BreakRecordChanged, c.want, "%s from the middle of the log", removed(c.want, seq-1))
	}
	if r.V == 0 {
		if c.sawV2 {
			return auditBreak(BreakRecordChanged, seq, "record %d was inserted: a format-1 record after format-2 ones", seq)
		}
		if v1Hash(r) != r.Hash {
			return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: its hash does not match its contents", seq)
		}
	} else if r.V != 2 {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: unknown format %d", seq, r.V)
	} else {
		c.sawV2 = true
		if c.vaultID != "" && r.Vault != c.vaultID {
			return auditBreak(BreakForeignRecord, seq, "record %d comes from another vault (%.8s…, this is %.8s…)", seq, r.Vault, c.vaultID)
		}
	}
	prevOK := r.Prev == hex.EncodeToString(c.prev[:]) || (seq == 1 && r.Prev == strings.Repeat("0", 64))
	if !prevOK && !gap && r.Op != OpAuditBreak {
		return auditBreak(BreakRecordChanged, seq, "record %d does not chain to record %d: a record was rewritten, inserted or removed", seq, seq-1)
	}
	chain, ok := parseChain(r.Hash)
	if !ok {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: its chain value is malformed", seq)
	}
	if err := c.tags(&r, chain); err != nil {
		return err
	}
	if r.Op == OpAuditBreak {
		kind := AuditBreak(r.Target)
		switch kind {
		case BreakTailDeleted, BreakAllDeleted, BreakHeadRewound, BreakHeadDeleted, BreakRecordChanged, BreakForeignRecord:
		default:
			kind = BreakRecordChanged
		}
		c.reported = append(c.reported, &AuditError{Break: kind, Seq: seq, Detail: r.Detail})
	}
	c.prev, c.want = chain, seq+1
	c.out = append(c.out, r)
	c.lastR = &c.out[len(c.out)-1]
	return nil
}

// tags checks the session structure and, with keys, the record's tag.
func (c *chainCheck) tags(r *AuditRecord, chain [32]byte) error {
	seq := r.Seq
	if r.V != 2 {
		c.inLocked, c.hasSess, c.session, c.lastKey = false, false, nil, nil
		return nil
	}
	if !r.Locked {
		c.inLocked, c.hasSess, c.session = false, false, nil
		if c.kr == nil {
			return nil
		}
		k, ok := c.kr.keys[r.Gen]
		if !ok {
			return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: it names key generation %d, which this vault never had", seq, r.Gen)
		}
		if want := xcrypto.MAC(k[:], labelAudit, r.canonical()); !xcrypto.MACEqual(want[:], chain[:]) {
			return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: its tag does not verify", seq)
		}
		c.lastKey = &k
		return nil
	}
	if r.Session == "" && !c.hasSess {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten or the records before it removed: it was written while locked but no session key precedes it", seq)
	}
	c.inLocked, c.hasSess = true, true
	if c.kr == nil {
		return nil
	}
	if r.Session != "" {
		k, ok := c.kr.keys[r.Gen]
		sealed, err := hex.DecodeString(r.Session)
		if !ok || err != nil {
			return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: its session key is malformed or names an unknown key generation", seq)
		}
		vid, _ := hex.DecodeString(c.vaultID)
		priv := auditPrivate(k, vid)
		sk, err := xcrypto.OpenWith(priv[:], sealed, sessionAAD(vid, r.Gen, seq), labelAuditSession)
		clear(priv[:])
		if err != nil || len(sk) != 32 {
			return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: it was written while locked, but its session key was not sealed to this vault's audit key", seq)
		}
		var s [32]byte
		copy(s[:], sk)
		clear(sk)
		c.session = &s
	}
	if want := xcrypto.MAC(c.session[:], labelAuditLocked, r.canonical()); !xcrypto.MACEqual(want[:], chain[:]) {
		return auditBreak(BreakRecordChanged, seq, "record %d was rewritten: it was written while locked and its tag does not verify under its session key", seq)
	}
	c.lastKey = c.session
	return nil
}

// end checks the head against the last record.
func (c *chainCheck) end(raw []byte, present bool) error {
	n := len(c.out)
	if !present {
		if n == 0 && c.vaultID == "" {
			return nil // no vault here
		}
		if n == 0 {
			return auditBreak(BreakAllDeleted, 1, "every audit record was deleted, and the head with them")
		}
		return auditBreak(BreakHeadDeleted, 0, "the head was deleted: the end of the log cannot be checked (records after %d may have been deleted with it)", c.lastR.Seq)
	}
	h, err := parseHead(raw)
	if err != nil {
		return auditBreak(BreakHeadDeleted, 0, "the head was deleted or overwritten: it is unreadable")
	}
	if n == 0 {
		return auditBreak(BreakAllDeleted, 1, "every audit record was deleted (the head names record %d)", h.seq)
	}
	last := c.lastR.Seq
	switch {
	case h.seq > last:
		return auditBreak(BreakTailDeleted, last+1, "the last records were deleted: the head names record %d, the log ends at record %d", h.seq, last)
	case h.seq < last:
		return auditBreak(BreakHeadRewound, 0, "the head was rewound: it names record %d, the log goes on to record %d", h.seq, last)
	case h.chain != c.prev:
		return auditBreak(BreakRecordChanged, last, "record %d, the last, was rewritten: it does not match the head", last)
	case c.format == 2 && h.format != 2:
		return auditBreak(BreakHeadRewound, 0, "the head was rewound: it is in format 1, an older copy put back")
	case c.format == 2 && c.lastR.V != 2:
		return auditBreak(BreakTailDeleted, last+1, "the last records were deleted: the log ends with format-1 records, the vault has written format-2 ones since")
	}
	if c.kr == nil || h.format != 2 {
		return nil
	}
	vid, _ := hex.DecodeString(c.vaultID)
	if c.lastKey == nil {
		return auditBreak(BreakHeadRewound, 0, "the head does not verify: no key tags the last record")
	}
	if want := xcrypto.MAC(c.lastKey[:], labelAuditHead, h.signed(vid)); !xcrypto.MACEqual(want[:], h.tag[:]) {
		return auditBreak(BreakHeadRewound, 0, "the head does not verify: it was forged or put back from an older copy (records after %d may have been deleted)", last)
	}
	if h.indexTag != c.kr.indexTag {
		return auditBreak(BreakHeadRewound, 0, "the head does not match the version index: the head and the records after %d were put back from an older copy (or the index was)", last)
	}
	return nil
}

// checkLockedTail verifies the records written while locked since the
// last record written unlocked, with k (the current generation's keys),
// and says what it found in words for the unlock record. It reads the tail
// backwards from the head: the cost is the number of locked-time records.
func (a *auditLog) checkLockedTail(ctx context.Context, k auditKeys) string {
	a.mu.Lock()
	seq, format := a.st.seq, a.st.format
	a.mu.Unlock()
	if format != 2 {
		return ""
	}
	var tail []AuditRecord
	var raws [][]byte
	var before *AuditRecord
	for s := seq; s > 0; s-- {
		b, err := a.store.Get(ctx, auditKey(s))
		if err != nil {
			break
		}
		r, err := parseAuditRecord(b)
		if err != nil || !r.Locked {
			if err == nil {
				before = &r
			}
			break
		}
		tail = append(tail, r)
		raws = append(raws, b)
	}
	if len(tail) == 0 {
		return ""
	}
	first, last := tail[len(tail)-1].Seq, tail[0].Seq
	c := &chainCheck{vaultID: hex.EncodeToString(a.vaultID[:]), format: 2, kr: &keyring{keys: map[uint32][32]byte{k.gen: k.mac}}, want: first, sawV2: true}
	if before != nil {
		c.prev, _ = parseChain(before.Hash)
	}
	for i := len(tail) - 1; i >= 0; i-- {
		if err := c.next(auditKey(tail[i].Seq).String(), raws[i]); err != nil {
			var ae *AuditError
			msg := err.Error()
			if errors.As(err, &ae) {
				msg = ae.Detail
			}
			return fmt.Sprintf("records written while locked (%d–%d) failed verification: %s", first, last, msg)
		}
	}
	return fmt.Sprintf("%d records written while locked verified (%d–%d)", len(tail), first, last)
}
