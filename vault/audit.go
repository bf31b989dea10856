package vault

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Audit operations. Later subsystems add their own (token.issue, ...).
const (
	OpInit           = "vault.init"
	OpUnlock         = "vault.unlock"
	OpLock           = "vault.lock"
	OpPasswordChange = "vault.password.change"
	OpSecretRead     = "secret.read"
	OpSecretWrite    = "secret.write"
	OpSecretDelete   = "secret.delete"
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
)

// ErrAuditBroken reports a break in the audit hash chain.
var ErrAuditBroken = errors.New("vault: audit chain is broken")

// AuditEntry is what a caller records: who did what to which name. It must
// never contain a secret value; Detail is for non-secret context.
type AuditEntry struct {
	Actor   string `json:"actor"`
	Op      string `json:"op"`
	Target  string `json:"target,omitempty"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// AuditRecord is one link of the chain as stored.
type AuditRecord struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	AuditEntry
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// chainHash is SHA-256 over the record's canonical JSON with Hash cleared.
func (r AuditRecord) chainHash() string {
	r.Hash = ""
	b, _ := json.Marshal(r) // fixed struct of strings/ints/time: cannot fail
	sum := sha256.Sum256(append([]byte("ocmt-mesh/audit/v1\x00"), b...))
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

func auditKey(seq uint64) ds.Key { return auditPrefix.ChildString(fmt.Sprintf("%016x", seq)) }

// auditLog appends to the hash chain. Appends are staged into a caller's
// batch so that the record and the operation commit together.
type auditLog struct {
	mu    sync.Mutex
	store ds.Batching
	now   func() time.Time
	seq   uint64
	head  string
}

func openAudit(ctx context.Context, store ds.Batching, now func() time.Time) (*auditLog, error) {
	a := &auditLog{store: store, now: now, head: strings.Repeat("0", 64)}
	b, err := store.Get(ctx, auditHeadKey)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		return a, nil
	case err != nil:
		return nil, fmt.Errorf("vault: reading audit head: %w", err)
	case len(b) != 8+32:
		return nil, fmt.Errorf("%w: audit head", ErrCorrupt)
	}
	a.seq = binary.BigEndian.Uint64(b)
	a.head = hex.EncodeToString(b[8:])
	return a, nil
}

// stage adds the record to batch and returns a commit hook that advances the
// in-memory head once the batch has committed. Callers hold a.mu.
func (a *auditLog) stage(ctx context.Context, batch ds.Batch, e AuditEntry) (func(), error) {
	r := AuditRecord{Seq: a.seq + 1, Time: a.now().UTC(), AuditEntry: e, Prev: a.head}
	r.Hash = r.chainHash()
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("vault: audit: %w", err)
	}
	if len(b) > MaxAuditRecordSize {
		return nil, fmt.Errorf("vault: audit record too large")
	}
	if err := batch.Put(ctx, auditKey(r.Seq), b); err != nil {
		return nil, fmt.Errorf("vault: audit write: %w", err)
	}
	h, _ := hex.DecodeString(r.Hash)
	if err := batch.Put(ctx, auditHeadKey, append(binary.BigEndian.AppendUint64(nil, r.Seq), h...)); err != nil {
		return nil, fmt.Errorf("vault: audit write: %w", err)
	}
	return func() { a.seq, a.head = r.Seq, r.Hash }, nil
}

// commit writes the audit record and the staged operation atomically.
// If anything fails, neither is written and the operation must fail.
func (a *auditLog) commit(ctx context.Context, e AuditEntry, op func(ds.Batch) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	batch, err := a.store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("vault: audit batch: %w", err)
	}
	if op != nil {
		if err := op(batch); err != nil {
			return err
		}
	}
	advance, err := a.stage(ctx, batch, e)
	if err != nil {
		return err
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("vault: audit record could not be written, operation refused: %w", err)
	}
	advance()
	return nil
}

// ReadAudit returns every audit record in order and verifies the chain. On a
// broken link it returns the records up to it and an error wrapping
// ErrAuditBroken that names the first bad sequence number.
func ReadAudit(ctx context.Context, store ds.Datastore) ([]AuditRecord, error) {
	res, err := store.Query(ctx, query.Query{Prefix: auditPrefix.String()})
	if err != nil {
		return nil, fmt.Errorf("vault: reading audit log: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("vault: reading audit log: %w", err)
	}
	// Keys are fixed-width hex, so lexical order is sequence order.
	query.Sort([]query.Order{query.OrderByKey{}}, entries)
	out := make([]AuditRecord, 0, len(entries))
	prev := strings.Repeat("0", 64)
	for i, e := range entries {
		want := uint64(i + 1)
		r, err := parseAuditRecord(e.Value)
		if err != nil {
			return out, fmt.Errorf("%w at record %d: %v", ErrAuditBroken, want, err)
		}
		switch {
		case r.Seq != want || e.Key != auditKey(want).String():
			return out, fmt.Errorf("%w at record %d: sequence gap or reorder", ErrAuditBroken, want)
		case r.Prev != prev:
			return out, fmt.Errorf("%w at record %d: previous-hash mismatch", ErrAuditBroken, want)
		case r.chainHash() != r.Hash:
			return out, fmt.Errorf("%w at record %d: record was modified", ErrAuditBroken, want)
		}
		prev = r.Hash
		out = append(out, r)
	}
	head, err := store.Get(ctx, auditHeadKey)
	if err == nil && len(head) == 40 {
		if n := binary.BigEndian.Uint64(head); n != uint64(len(out)) || hex.EncodeToString(head[8:]) != prev {
			return out, fmt.Errorf("%w: head says %d records, found %d (records removed from the end?)", ErrAuditBroken, n, len(out))
		}
	}
	return out, nil
}
