package dht

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// Mailbox defaults.
const (
	// DefaultMailTTL: an invite not collected in a week is stale.
	DefaultMailTTL = 7 * 24 * time.Hour
	// DefaultMaxMailItems per recipient: enough for a burst of invites/grants.
	DefaultMaxMailItems = 64
	// DefaultMaxMailBytes per recipient: 64 items of ~16 KiB.
	DefaultMaxMailBytes = 1 << 20
	// DefaultMaxTotalMailBytes across all mailboxes bounds the bootstrap's disk.
	DefaultMaxTotalMailBytes = 256 << 20
	// DefaultMaxItemsPerSender per (sender, recipient): one sender cannot
	// fill a mailbox and lock everyone else's invites out.
	DefaultMaxItemsPerSender = 16
)

// MailboxConfig configures a Mailbox. The zero value works.
type MailboxConfig struct {
	// Now defaults to time.Now (item times, TTL).
	Now func() time.Time
	// Rand defaults to crypto/rand (item IDs).
	Rand io.Reader
	// TTL defaults to DefaultMailTTL.
	TTL time.Duration
	// MaxItems per recipient; default DefaultMaxMailItems.
	MaxItems int
	// MaxBytes of sealed data per recipient; default DefaultMaxMailBytes.
	MaxBytes int
	// MaxTotalBytes across all recipients; default DefaultMaxTotalMailBytes.
	MaxTotalBytes int64
	// MaxItemsPerSender per (sender, recipient); default DefaultMaxItemsPerSender.
	MaxItemsPerSender int
	// Registered, when set, limits recipients to registered peers so strangers
	// cannot fill the store under made-up peer IDs. Bootstrap sets it to
	// Directory.Registered, which also takes the decoys the directory
	// handed out and remembers (protocols/directory, "Decoys"): their
	// mail is taken and counted exactly as any (nobody can tell a decoy
	// by a refused put), and expires unread. Nil accepts any recipient.
	Registered func(peer.ID) bool
	// Revoked, when set, reports whether a capability was revoked: mail
	// naming a revoked token is refused at put and deleted, never served,
	// once its token is revoked. The bootstrap role sets it to its
	// revocation set. Nil checks nothing.
	Revoked func(capability.ID) bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Mailbox holds opaque sealed blobs for recipients, in a datastore:
//
//	/<recipient peer ID>/<item ID hex> → CBOR {from, received, sealed, tokens}
//
// Item IDs are 8 bytes of big-endian receive time (ns) and 8 random bytes,
// so keys sort oldest first. Only ciphertext and routing metadata (sender,
// recipient, time, the capability IDs the sender named) are stored.
// Mailbox implements directory.Mailboxes.
type Mailbox struct {
	ds    datastore.Batching
	cfg   MailboxConfig
	mu    sync.Mutex
	total int64
}

var _ directory.Mailboxes = (*Mailbox)(nil)

type storedMail struct {
	From     []byte   `cbor:"1,keyasint"`
	Received int64    `cbor:"2,keyasint"` // unix ns
	Sealed   []byte   `cbor:"3,keyasint"`
	Tokens   [][]byte `cbor:"4,keyasint,omitempty"` // capability IDs the sender named
}

// dead reports whether s is expired at now or names a revoked token.
func (m *Mailbox) dead(now time.Time, s *storedMail) bool {
	if now.Sub(time.Unix(0, s.Received)) >= m.cfg.TTL {
		return true
	}
	if m.cfg.Revoked != nil {
		for _, id := range s.tokenIDs() {
			if m.cfg.Revoked(id) {
				return true
			}
		}
	}
	return false
}

// tokenIDs decodes the capability IDs stored with s (Put wrote them, so
// every one has the right length; anything else is skipped).
func (s *storedMail) tokenIDs() []capability.ID {
	var out []capability.ID
	for _, b := range s.Tokens {
		var id capability.ID
		if len(b) == len(id) {
			copy(id[:], b)
			out = append(out, id)
		}
	}
	return out
}

// NewMailbox opens the mailbox store over ds (Bootstrap uses /mailbox).
func NewMailbox(ctx context.Context, ds datastore.Batching, cfg MailboxConfig) (*Mailbox, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultMailTTL
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxMailItems
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxMailBytes
	}
	if cfg.MaxTotalBytes <= 0 {
		cfg.MaxTotalBytes = DefaultMaxTotalMailBytes
	}
	if cfg.MaxItemsPerSender <= 0 {
		cfg.MaxItemsPerSender = DefaultMaxItemsPerSender
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Mailbox{ds: ds, cfg: cfg}
	err := m.scan(ctx, "/", func(_ datastore.Key, s *storedMail) error {
		m.total += int64(len(s.Sealed))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func boxPrefix(to peer.ID) string { return "/" + to.String() }

// scan visits the items under prefix in key order. Undecodable entries are
// skipped with a log line (they will never be served).
func (m *Mailbox) scan(ctx context.Context, prefix string, fn func(datastore.Key, *storedMail) error) error {
	res, err := m.ds.Query(ctx, query.Query{Prefix: prefix, Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return fmt.Errorf("dht: mailbox query: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("dht: mailbox query: %w", r.Error)
		}
		var s storedMail
		if err := wire.Unmarshal(r.Value, &s); err != nil {
			m.cfg.Logger.Warn("skipping undecodable mailbox item", "key", r.Key)
			continue
		}
		if err := fn(datastore.NewKey(r.Key), &s); err != nil {
			return err
		}
	}
	return nil
}

// Put stores a sealed blob for to, sent by the authenticated peer from,
// carrying the capabilities tokens (refused with directory.ErrRevoked if
// one is revoked).
func (m *Mailbox) Put(ctx context.Context, from, to peer.ID, sealed []byte, tokens ...capability.ID) error {
	if len(sealed) == 0 || len(sealed) > directory.MaxSealedBytes {
		return wire.Errorf(wire.TooLarge, "sealed blob must be 1–%d bytes", directory.MaxSealedBytes)
	}
	if err := to.Validate(); err != nil {
		return wire.Errorf(wire.BadRequest, "bad recipient")
	}
	if m.cfg.Registered != nil && !m.cfg.Registered(to) {
		return directory.ErrUnknownPeer
	}
	if len(tokens) > directory.MaxMailTokens {
		return wire.Errorf(wire.BadRequest, "at most %d token ids", directory.MaxMailTokens)
	}
	raw := make([][]byte, len(tokens))
	for i, id := range tokens {
		if m.cfg.Revoked != nil && m.cfg.Revoked(id) {
			return directory.ErrRevoked
		}
		raw[i] = append([]byte(nil), id[:]...)
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.total+int64(len(sealed)) > m.cfg.MaxTotalBytes {
		return directory.ErrMailboxFull
	}
	n, fromSender, size := 0, 0, 0
	err := m.scan(ctx, boxPrefix(to), func(_ datastore.Key, s *storedMail) error {
		if !m.dead(now, s) {
			n++
			size += len(s.Sealed)
			if string(s.From) == string(from) {
				fromSender++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n+1 > m.cfg.MaxItems || size+len(sealed) > m.cfg.MaxBytes || fromSender+1 > m.cfg.MaxItemsPerSender {
		return directory.ErrMailboxFull
	}
	var id [directory.MailIDLen]byte
	binary.BigEndian.PutUint64(id[:8], uint64(now.UnixNano()))
	if _, err := io.ReadFull(m.cfg.Rand, id[8:]); err != nil {
		return fmt.Errorf("dht: mail id: %w", err)
	}
	v, err := wire.Marshal(storedMail{From: []byte(from), Received: now.UnixNano(), Sealed: sealed, Tokens: raw})
	if err != nil {
		return err
	}
	if err := m.ds.Put(ctx, datastore.NewKey(boxPrefix(to)+"/"+hex.EncodeToString(id[:])), v); err != nil {
		return fmt.Errorf("dht: storing mail: %w", err)
	}
	m.total += int64(len(sealed))
	return nil
}

// Fetch returns up to max live items for to, oldest first, without
// removing them, and whether more remain. Items met on the way that expired
// or name a revoked token are deleted.
func (m *Mailbox) Fetch(ctx context.Context, to peer.ID, max int) ([]directory.Mail, bool, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		out     []directory.Mail
		more    bool
		expired []datastore.Key
		freed   int64
	)
	err := m.scan(ctx, boxPrefix(to), func(k datastore.Key, s *storedMail) error {
		recv := time.Unix(0, s.Received)
		if m.dead(now, s) {
			expired = append(expired, k)
			freed += int64(len(s.Sealed))
			return nil
		}
		if len(out) == max {
			more = true
			return nil
		}
		id, err := hex.DecodeString(k.Name())
		from, ferr := keys.PeerIDFromBytes(s.From)
		if err != nil || len(id) != directory.MailIDLen || ferr != nil {
			return nil
		}
		out = append(out, directory.Mail{ID: id, From: from, Received: recv.UTC(), Sealed: s.Sealed, Tokens: s.tokenIDs()})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if len(expired) > 0 {
		if err := m.deleteKeys(ctx, expired); err != nil {
			return nil, false, err
		}
		m.total -= freed
	}
	return out, more, nil
}

// Ack deletes the listed items from to's own mailbox. Unknown IDs are
// ignored, so a repeated ack is harmless.
func (m *Mailbox) Ack(ctx context.Context, to peer.ID, ids [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []datastore.Key
	var freed int64
	for _, id := range ids {
		if len(id) != directory.MailIDLen {
			return wire.Errorf(wire.BadRequest, "mail id must be %d bytes", directory.MailIDLen)
		}
		k := datastore.NewKey(boxPrefix(to) + "/" + hex.EncodeToString(id))
		v, err := m.ds.Get(ctx, k)
		if errors.Is(err, datastore.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dht: reading mail: %w", err)
		}
		var s storedMail
		if wire.Unmarshal(v, &s) == nil {
			freed += int64(len(s.Sealed))
		}
		keys = append(keys, k)
	}
	if err := m.deleteKeys(ctx, keys); err != nil {
		return err
	}
	m.total -= freed
	return nil
}

// Sweep deletes every expired item, and every item naming a revoked token,
// and returns how many it removed.
func (m *Mailbox) Sweep(ctx context.Context) (int, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var expired []datastore.Key
	var freed int64
	err := m.scan(ctx, "/", func(k datastore.Key, s *storedMail) error {
		if m.dead(now, s) {
			expired = append(expired, k)
			freed += int64(len(s.Sealed))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := m.deleteKeys(ctx, expired); err != nil {
		return 0, err
	}
	m.total -= freed
	return len(expired), nil
}

// TotalBytes returns the sealed bytes currently held.
func (m *Mailbox) TotalBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

func (m *Mailbox) deleteKeys(ctx context.Context, keys []datastore.Key) error {
	if len(keys) == 0 {
		return nil
	}
	b, err := m.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("dht: deleting mail: %w", err)
	}
	return nil
}
