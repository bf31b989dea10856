// Package directory is the /ocmt/directory/1 protocol between a node and the
// bootstrap/metadata peer: publishing and resolving signed directory records
// (handle → peer ID, relay addresses) and the encrypted mailboxes that carry
// invites and grant envelopes to peers that are offline or not yet connected.
//
// This comment is the specification of the protocol and of the record
// format. The encoding rules (frames, canonical CBOR, peer IDs, Ed25519,
// statuses) are internal/wire's doc.go, and the reply envelope is
// internal/exchange's; this text refers to them and does not repeat them.
// testdata/README.md describes the vectors, and specs/directory/check.py,
// at the module root, is an independent checker written from these texts.
//
// # Protocol ID
//
//	/ocmt/directory/1
//
// # Version changelog
//
//	1  first version: publish, lookup, lookup-peer, mailbox put/fetch/ack.
//	   The server enforces the canonical encoding and the fields per op
//	   below. Servers built before that accepted non-canonical requests
//	   and field 7 on publish and lookup, contrary to this document; the
//	   client always sent what it specifies, so the ID did not change.
//	   Relay addresses are held to the protocols of "Relay addresses";
//	   verifiers built before that accepted any multiaddr go-multiaddr
//	   parses, and no node ever published another. Clients decode replies
//	   canonically (internal/exchange); servers always wrote them so.
//	   Decoys (issue 15): a bootstrap answers a lookup of a handle nobody
//	   holds with the handle's decoy instead of NotFound, and lookup-peer
//	   and mailbox-put answer for the decoys it handed out as for real
//	   peers. No frame changed, and a client cannot tell (which is the
//	   point), so the ID did not change; a client still understands
//	   NotFound from a server that keeps no decoys.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants (the mailbox defaults are the
// bootstrap's, dht.MailboxConfig's).
//
//	name                      value     unit       what it bounds
//	MinHandleLen              2         bytes      a handle, at least
//	MaxHandleLen              32        bytes      a handle, at most
//	MaxNameBytes              64        bytes      a record's display name
//	MaxRelays                 8         addresses  a record's relay list
//	MaxAddrBytes              256       bytes      one relay address
//	MaxDNSNameBytes           253       bytes      a DNS name in a relay address
//	MaxPayloadBytes           2560      bytes      a record payload
//	MaxRecordBytes            2688      bytes      a record envelope on its own (MaxPayloadBytes + 128)
//	RecordVersion             1         -          the payload's version field
//	SignatureSize             64        bytes      a record signature, exactly
//	PeerIDLen                 38        bytes      a peer ID (internal/wire "Peer IDs")
//	MailIDLen                 16        bytes      a mailbox item ID, exactly
//	TokenIDLen                32        bytes      a capability ID named by a mail, exactly
//	MaxSealedBytes            32768     bytes      one mailbox blob (32 KiB)
//	MaxMailTokens             4         IDs        capability IDs one mail names
//	MaxFetchItems             16        items      one fetch reply, and one ack
//	MaxRequest                33280     bytes      a request frame's body (MaxSealedBytes + 512)
//	MaxResponse               526592    bytes      a reply frame's body (16 × (32768 + 128) + 256)
//	Timeout                   10        seconds    one exchange
//	MaxClockSkew              300       seconds    how far ahead of the bootstrap's clock a record may be issued
//	MaxFetchRounds            8         rounds     fetch/ack rounds of one client MailboxFetch
//	DefaultRate               5         requests/s the per-peer sustained request rate
//	DefaultBurst              20        requests   the per-peer burst
//	DefaultMaxTrackedPeers    10000     peers      peers the rate limiter remembers
//	DefaultInfraRate          200       requests/s the sustained rate all infrastructure peers share
//	DefaultInfraBurst         1000      requests   the infrastructure peers' burst
//	DefaultMaxRecords         100000    records    records (so registered peers) a bootstrap keeps
//	DefaultMailTTL            604800    seconds    how long mail waits (7 days)
//	DefaultMaxMailItems       64        items      mail waiting for one recipient
//	DefaultMaxMailBytes       1048576   bytes      sealed bytes waiting for one recipient (1 MiB)
//	DefaultMaxItemsPerSender  16        items      mail from one sender waiting for one recipient
//	DefaultMaxTotalMailBytes  268435456 bytes      sealed bytes waiting across all mailboxes (256 MiB)
//	DecoySecretSize           32        bytes      the bootstrap's decoy secret
//	DecoyDay                  86400     seconds    the period of a decoy's possible republishes (a day)
//	DecoyPublishOdds          37        in 256     the chance a decoy republished on a given day (about weekly)
//	DecoyScanDays             32        days       how far back every decoy derivation looks
//	DecoyMaxDays              365       days       how far back a derivation looks at most
//	DefaultMaxDecoys          100000    decoys     the decoys a bootstrap remembers handing out
//
// # Message flow
//
// One request and one reply per stream (internal/exchange): the client
// opens a stream (allowed over limited relay connections), writes one
// request frame of at most MaxRequest (33280) bytes, closes its write
// side, and reads one reply frame of at most MaxResponse (526592) bytes;
// each exchange is bounded by Timeout (10) seconds.
//
// The server always acts for the authenticated remote peer, the peer ID that
// the libp2p secure channel proved. It answers a request in this order,
// and the first refusal is the reply:
//
//  1. the remote peer's token bucket: DefaultRate (5) requests a second,
//     a burst of DefaultBurst (20), over at most DefaultMaxTrackedPeers
//     (10000) peers (when it tracks more it forgets those idle longest; a
//     forgotten peer starts with a full bucket) — RateLimited. The
//     bootstrap's infrastructure peers (the relays its operator names:
//     they ask on behalf of every peer that reserves) have no bucket of
//     their own: together they share one of DefaultInfraRate (200)
//     requests a second, a burst of DefaultInfraBurst (1000) —
//     RateLimited when it is empty;
//
//  2. the canonical decode of the request (internal/wire "CBOR") —
//     BadRequest;
//
//  3. the op: one of the six below — BadRequest otherwise;
//
//  4. the fields per op (below): a required field missing or a field the
//     op does not allow present — BadRequest;
//
//  5. a mailbox op on a server that keeps no mailboxes — NotFound;
//
//  6. the op's own checks and work, as follows.
//
//     - publish: the record is verified (Records, below) — BadRequest; its
//     peer ID must equal the remote peer — Forbidden. The bootstrap's
//     store then refuses a record issued more than MaxClockSkew (300)
//     seconds after its own clock — BadRequest; keeps the first valid
//     claim of a handle, refusing a record for a handle another peer
//     holds — Conflict; accepts a later record of the same owner (for the
//     same handle, or a new one, which releases the old) only with a
//     higher seq — Conflict otherwise; and refuses a first record once it
//     holds DefaultMaxRecords (100000) — TooLarge. Each peer holds at most
//     one handle.
//     - lookup: the handle must be a valid handle — BadRequest; otherwise
//     the reply body is the signed record exactly as it was published
//     or, when nobody holds the handle, the handle's decoy (Decoys,
//     below), which the bootstrap then remembers handing out. A
//     bootstrap never answers a valid handle NotFound (a server that
//     keeps no decoys does, and clients understand it). Anyone may
//     resolve; the client verifies the record itself (the bootstrap can
//     withhold or serve an older record, never forge one).
//     - lookup-peer: the peer must be a peer ID — BadRequest; otherwise
//     the record's envelope, as for lookup, or the decoy handed out under
//     that peer ID while the bootstrap remembers it; NotFound for any
//     other peer.
//     - mailbox-put: anyone may leave an opaque sealed blob (age-encrypted
//     with internal/peerseal to the recipient) for a registered
//     recipient, or a decoy the bootstrap remembers handing out, named by
//     field 4. The peer must be a peer ID —
//     BadRequest; the blob at most MaxSealedBytes (32768) bytes —
//     TooLarge; tokens at most MaxMailTokens (4) IDs of exactly 32 bytes
//     — BadRequest; a recipient neither registered nor a remembered
//     decoy — NotFound; a token ID
//     the bootstrap knows revoked — Revoked (no detail: exchange.Reply
//     field 4 is never sent); a mailbox over its quotas — TooLarge. The
//     bootstrap's quotas, by default: DefaultMaxMailItems (64) items and
//     DefaultMaxMailBytes (1048576) sealed bytes per recipient,
//     DefaultMaxItemsPerSender (16) items per sender and recipient, and
//     DefaultMaxTotalMailBytes (268435456) bytes in all. Mail waits
//     DefaultMailTTL (604800) seconds; mail whose token is revoked while
//     it waits is deleted, never served. The server records the
//     authenticated sender with the blob. Mail for a decoy is taken,
//     counted and expired exactly as any other (the same replies, the
//     same quotas); nobody holds the decoy's key, so nobody fetches it.
//     - mailbox-fetch: only the remote peer's own mailbox (the op has no
//     field that could name another). The reply holds its oldest live
//     items, at most MaxFetchItems (16), without removing them, and says
//     whether more remain.
//     - mailbox-ack: ids at most MaxFetchItems (16), each exactly MailIDLen
//     (16) bytes — BadRequest; the listed items of the remote peer's own
//     mailbox are removed, and IDs it does not hold are ignored (a
//     repeated ack is harmless). A lost fetch reply therefore means
//     redelivery, not loss.
//
// Any other failure of the server is Internal, with no message. Statuses
// a directory server sends: BadRequest, Forbidden, NotFound, Conflict,
// TooLarge, Revoked, RateLimited, Internal; and, from internal/exchange,
// Unavailable (its resource manager refused the request's memory).
//
// # Frames
//
// Request (CBOR map, integer keys, ≤ MaxRequest bytes), decoded
// canonically: a field is present only with a non-empty value (a handle
// "", an empty byte string or an empty array is refused as an explicit
// zero), and unknown fields, duplicate keys, indefinite lengths and tags
// are refused (BadRequest):
//
//	1 op      uint8   required; 1 publish, 2 lookup, 3 lookup-peer,
//	                  4 mailbox-put, 5 mailbox-fetch, 6 mailbox-ack
//	2 record  map     SignedRecord (below); its payload ≤ MaxPayloadBytes
//	3 handle  text    a handle: MinHandleLen to MaxHandleLen bytes of
//	                  [a-z0-9_-]
//	4 peer    bytes   a peer ID (lookup-peer: whose record; mailbox-put:
//	                  the recipient)
//	5 sealed  bytes   the sealed blob, 1 to MaxSealedBytes bytes
//	6 ids     [bytes] item IDs, MailIDLen bytes each, 1 to MaxFetchItems
//	7 tokens  [bytes] capability IDs (SHA-256 of a token's envelope), 32
//	                  bytes each, 1 to MaxMailTokens
//
// Op 0 and ops 7 to 255 are unknown (BadRequest); an op above 255 does not
// fit uint8 and is malformed (BadRequest too). The length rules of the
// table are the op's own checks (step 6 above), so they come after the
// fields per op.
//
// Fields per op (R required, O optional, - refused; op itself is always
// required). The server checks a request against its op's row, in one
// place, before the op sees it; a missing or refused field is BadRequest,
// and so is an op not listed here:
//
//	op               record handle peer sealed ids tokens
//	1 publish        R      -      -    -      -   -
//	2 lookup         -      R      -    -      -   -
//	3 lookup-peer    -      -      R    -      -   -
//	4 mailbox-put    -      -      R    R      -   O
//	5 mailbox-fetch  -      -      -    -      -   -
//	6 mailbox-ack    -      -      -    -      R   -
//
// Reply bodies (inside exchange.Reply field 3, status OK):
//
//	publish, mailbox-put, mailbox-ack: no body
//	lookup, lookup-peer: SignedRecord
//	mailbox-fetch: FetchReply
//
// FetchReply (CBOR map):
//
//	1 items  [map]  required; MailItem, oldest first, 0 to MaxFetchItems
//	2 more   bool   optional; true when more items wait (absent = false)
//
// MailItem (CBOR map, every field required):
//
//	1 id        bytes  the item ID, MailIDLen bytes (8 bytes of the receive
//	                   time in unix nanoseconds, big-endian, and 8 random)
//	2 from      bytes  the authenticated sender's peer ID
//	3 received  int    when the bootstrap received it, unix seconds
//	4 sealed    bytes  the blob as it was put
//
// A client checks what it reads: for lookup, that the record verifies
// (Records) and names the handle it asked for, and for lookup-peer the
// peer ID it asked for — BadRequest otherwise (ErrBadRecord); for
// mailbox-fetch, at most MaxFetchItems items — TooLarge otherwise — and
// in each item an id of MailIDLen bytes and a from that is a peer ID —
// BadRequest otherwise. It then acknowledges the batch it read and, while
// more is set, fetches again, at most MaxFetchRounds (8) rounds a call.
// From is the bootstrap's word: anything that matters must be signed
// inside the sealed blob. The tokens a mail names do not cross the wire
// in a fetch.
//
// # Records
//
// SignedRecord, the envelope that travels and is stored (CBOR map):
//
//	1 payload  bytes  required; the exact signed bytes, 1 to MaxPayloadBytes
//	2 sig      bytes  required; exactly SignatureSize (64) bytes
//
// On its own (a stored record, ParseSignedRecord) the envelope is at most
// MaxRecordBytes (2688) bytes, checked before it is decoded; inside a
// request or a reply the frame's cap bounds it. The signature is Ed25519
// (internal/wire) by the record's peer key over
//
//	"ocmt-mesh/directory/v1" || 0x00 || payload
//
// (keys.DirectoryMessage), never over a re-encoding. The payload is a CBOR
// map, decoded canonically:
//
//	1 v       uint     required; format version, RecordVersion (1)
//	2 handle  text     required; MinHandleLen (2) to MaxHandleLen (32) bytes,
//	                   each a-z, 0-9, '-' or '_' (no case folding, no Unicode:
//	                   two handles that look alike are equal byte for byte)
//	3 peer    bytes    required; the owner's peer ID (internal/wire "Peer IDs")
//	4 relays  [bytes]  optional; 1 to MaxRelays (8) relay addresses (below),
//	                   each 1 to MaxAddrBytes (256) bytes
//	5 name    text     optional; display name, 1 to MaxNameBytes (64) bytes,
//	                   every character printable
//	6 seq     uint     required; ≥ 1, strictly increasing per owner
//	7 issued  int      required; unix seconds when signed, > 0
//
// A record is valid when, in this order: the payload is 1 to
// MaxPayloadBytes (2560) bytes; the signature is SignatureSize (64) bytes;
// the payload decodes canonically; v is 1; the handle, peer, relays, name,
// seq and issued follow the table; and the signature verifies under the
// key of the payload's peer ID. Any failure is BadRequest
// (ErrBadRecord, ErrBadSignature, ErrBadHandle). MaxPayloadBytes is
// above the largest valid payload (every field at its cap is about 2200
// bytes), so it only bounds what is decoded. A verifier does not judge
// freshness: the bootstrap compares seq and issued (publish, above).
//
// A printable character is one of Unicode general categories L (letters),
// M (marks), N (numbers), P (punctuation) and S (symbols), or the ASCII
// space U+0020 (Go's unicode.IsPrint, Unicode 15.0.0): no control
// character, no other space (U+00A0 no-break space is refused), no format
// character, no unassigned code point.
//
// # Decoys
//
// A stranger must not learn who is in the directory by asking: a lookup
// of a handle nobody holds answers a decoy, a record that looks like a
// real one, and the caller cannot tell the two apart by the bytes of the
// reply or by its time. (Issue 15, "Invites that reveal no one".)
//
// The bootstrap keeps a secret of DecoySecretSize (32) random bytes in
// its store, made on its first start; it never leaves the store and is
// never logged. Write HMAC(label, x) for HMAC-SHA256 keyed with the
// secret over label || 0x00 || len(x) as 2 bytes big-endian || x. For a
// handle h, the decoy is the record
//
//	v       1
//	handle  h
//	peer    the peer ID of the Ed25519 key whose seed is
//	        HMAC("ocmt-mesh/directory/decoy-key/v1", h)
//	relays  the relay list in force at issued (below)
//	name    h, as a home node names itself (internal/presence)
//	seq     issued in unix nanoseconds (SeqAt, as a home node's)
//	issued  the instant t below, in whole seconds
//
// signed as any record. t is when the decoy was last (notionally)
// published: with kh = HMAC("ocmt-mesh/directory/decoy-day/v1", h), a
// unix day j (DecoyDay, 86400 seconds) is a publish day when the first
// byte of SHA-256(kh || j as 8 bytes big-endian) is below
// DecoyPublishOdds (37, so about one day a week), and that day's instant
// is the day's start plus the next 8 bytes, big-endian, modulo a day in
// nanoseconds. t is the latest such instant not after now, looking back
// DecoyScanDays (32) days always and up to DecoyMaxDays (365) when none
// was found (then the start of the day DecoyMaxDays back). A decoy thus
// changes only at its own issued instant, with a higher seq, as a node
// that comes back online for a moment would republish; two lookups
// between agree byte for byte (Ed25519 signatures are deterministic).
//
// The relays a decoy names are those most records name at the bootstrap
// (their mode, counted over the stored records), as a snapshot that a
// new one replaces, when the mode changed, at most hourly; a decoy names
// the snapshot in force at its issued instant, so a change reaches a
// decoy only when it republishes. The snapshots are stored with the
// secret. (While the directory holds no record, decoys name none; the
// first snapshot taken then is replaced by the first real one.)
//
// The bootstrap remembers the decoys it handed out in DefaultMaxDecoys
// (100000) slots, each decoy in the slot the last 8 bytes of its key
// seed pick (so a caller cannot aim at a slot), replacing what was
// there. lookup-peer and mailbox-put answer for a remembered decoy as
// for a real peer. A decoy is never a registered peer otherwise: the
// bootstrap vouches to relays (protocols/relayaccess) and admits
// revocations (protocols/revgossip) only for peers with a real record;
// and since the decoy's key derives from the secret, nobody can
// authenticate as a decoy's peer, so no relay admits one.
//
// Every lookup does the same work whichever it answers: one read of the
// handle, one read of a key that is (a lookup that found a record reads
// a key nobody holds; a decoy's reads a sampled stored record), one decoy
// derived and signed, one record verified (a stored record is verified
// again on read; a decoy is verified too), one write to a memory of
// decoys (the one that answers lookup-peer, or its twin of the same size
// that nothing reads). lookup-peer and mailbox-put do likewise. A client
// (a home node) cannot tell a decoy either: sharing with a mistyped
// handle seals the grant to the decoy's key, and the grant waits in a
// mailbox nobody reads until DefaultMailTTL ends it; a node's words say
// the recipient "has not fetched it yet", never that the recipient
// exists.
//
// # What an enumerating caller still learns
//
//   - Whether a handle is taken, by claiming it: publish answers Conflict
//     for a handle another key holds, and a free handle is claimed (first
//     come, first served; the claim is the answer). Each probe costs a
//     signed record and a request of the per-peer bucket (DefaultRate,
//     5 a second, burst DefaultBurst, 20); a peer holds one handle, so a
//     prober with one key releases its last claim with each success, and
//     new keys count against DefaultMaxRecords (100000). This is inherent
//     to first-come claims.
//   - Whether a handle's owner is online: a live node republishes every
//     half hour (a recently issued record that keeps changing) and can be
//     dialled through the relays its record names. A decoy looks like a
//     node that is mostly offline, never like one that is up.
//   - That a peer ID was a decoy, once the bootstrap forgot it: after
//     about DefaultMaxDecoys (100000) lookups of other unheld handles
//     (the slots are secret, so an attacker must fill them all), or after
//     the bootstrap restarted without saving its memory (dht.Directory's
//     SaveDecoys), lookup-peer of a forgotten decoy and mail for it answer
//     NotFound where a real peer's would not. Asking the handle again
//     brings the same decoy back.
//   - Whether a peer ID is registered at all, for a peer ID learnt
//     elsewhere (lookup-peer of a peer never handed out as a decoy is
//     NotFound): this tells nothing of handles.
//   - Timing below the network's noise: the work is the same on both
//     paths, but a record or decoy asked for recently is warmer in the
//     bootstrap's caches (about a microsecond, on the first ask only), and
//     a store read that finds a record may differ from one that does not
//     by microseconds; over a network these drown in jitter (the test:
//     1000 interleaved tries of each kind pass a two-sample
//     Kolmogorov–Smirnov test at α = 10⁻⁶, on a loaded 2-core machine).
//   - The number of records, roughly, from the decoys' relays (the mode
//     of the records') and from the bootstrap's metrics if they are public.
//
// # Relay addresses
//
// A relay address is a binary multiaddr, usually RELAY/p2p/RELAYID/p2p-circuit:
// one or more components, each a protocol code (an unsigned LEB128
// varint, minimally encoded) and its value, with nothing left over. Only
// these protocols may appear, in any order; any other code is refused:
//
//	code  varint  name         value
//	4     04      ip4          4 bytes
//	41    29      ip6          16 bytes
//	6     06      tcp          2 bytes, big-endian port
//	273   9102    udp          2 bytes, big-endian port
//	461   cd03    quic-v1      none
//	53    35      dns          varint length n, n bytes: a DNS name
//	54    36      dns4         as dns
//	55    37      dns6         as dns
//	421   a503    p2p          varint length 38, a peer ID (internal/wire "Peer IDs")
//	290   a202    p2p-circuit  none
//
// A DNS name is 1 to MaxDNSNameBytes (253) bytes, each A-Z, a-z, 0-9, '-'
// or '.'. The length varints are minimal too. A /p2p/ component holding
// anything but a canonical Ed25519 peer ID with a key of large order is
// refused: a relay anyone could authenticate as is no relay.
package directory
