// Package vault is the home node's secret store: a master key wrapped by a
// password-derived key, records sealed with XChaCha20-Poly1305 under keys
// derived from it, a keyed index of record versions, and a keyed audit
// chain of every sensitive operation.
//
// # Limits
//
// Every number this text names as a limit, with its value;
// TestDocNumbersMatchTheConstants checks them against the constants.
//
//	name                value     unit     what it bounds
//	MaxAuditRecordSize  8192      bytes    one stored audit record
//	MaxKDFMemoryKiB     1048576   KiB      a password wrap's Argon2id memory (1 GiB), checked before any work
//	MaxKDFTime          16        passes   a password wrap's Argon2id passes
//	MaxKDFThreads       16        lanes    a password wrap's Argon2id lanes
//	MaxRecordSize       67108864  bytes    one stored record envelope (64 MiB)
//	MaxRecoveryMeta     800       bytes    a recovery method's public meta (its wrap fits a backup header's 1024)
//	MaxRecoveryMethods  7         methods  the recovery methods one vault keeps (a backup header holds 8 wraps)
//	MaxSecretBytes      1048576   bytes    one secret: value, refresh token and descriptive fields (1 MiB)
//	maxHistory          65536     keys     the earlier generations' audit keys /meta/audit-keys holds
//	maxOwed             16        records  the records a process keeps for its next commit (Lock on a full disk)
//
// # At-rest format (version 2)
//
// Everything lives in one go-datastore (pebble on disk, written with fsync;
// the in-memory datastore in unit tests), under these keys. Integers are
// big-endian; "||" is concatenation; hex is lower case.
//
//	/meta/header          "OCMTVLT\x02" || vault ID (16)
//	/meta/wrap/password   password wrap (110 bytes, below)
//	/meta/failures        failed-unlock counter: count u32 || last unix-nano i64
//	/meta/audit-head      audit head (112 bytes, below)
//	/meta/audit-pub       gen u32 || X25519 public key (32): where records written while locked seal their key
//	/meta/audit-keys      audit keys of earlier generations, sealed (after a RotateKey)
//	/meta/index           version index summary (56 bytes, below)
//	/meta/ver/NS/NAME     version u64 of record NS/NAME
//	/meta/rotating        gen u32: a generation of records to delete (a key rotation is under way or unfinished)
//	/meta/wrap/recovery-M recovery wrap of method M (recovery.go: the master key under the method's key)
//	/meta/recovery-tested/M  when method M last opened the vault in a test: unix-nano i64 (not authenticated)
//	/rec/NS/NAME          record envelope, key generation 0
//	/rec/_gN/NS/NAME      record envelope, key generation N ≥ 1 (N in decimal; "_" is in no namespace)
//	/audit/SEQ            audit record, JSON, SEQ = 16 hex digits from 1
//
// NAME is always base64url (no padding) of the record name.
//
// # Keys
//
// The master key M (32 random bytes) is never stored in the clear. Each
// RotateKey makes a new one and a new generation number (gen, 0 at
// creation). Every other key is HKDF-SHA256 with the vault ID as salt and
// its own label as info:
//
//	KEK       = HKDF(Argon2id(password, salt, t, m, p), salt, "ocmt-mesh/vault-kek/v1")
//	K_rec,ns  = HKDF(M, vault ID, "ocmt-mesh/record/v1/" + ns)   one per namespace
//	K_audit   = HKDF(M, vault ID, "ocmt-mesh/audit/v1")          HMAC key of the audit chain
//	x_audit   = HKDF(K_audit, vault ID, "ocmt-mesh/audit-x25519/v1")  X25519 private key; its
//	            public half is /meta/audit-pub, so nothing private is stored for it
//	K_index   = HKDF(M, vault ID, "ocmt-mesh/index/v1")          HMAC key of the version index
//	K_hist    = HKDF(M, vault ID, "ocmt-mesh/audit-history/v1")  seals /meta/audit-keys
//
// MAC(K, label, x) is HMAC-SHA256(K, label || 0x00 || x) (xcrypto.MAC).
//
// # Password wrap
//
//	magic "OCMTWRP\x02" (8) | kdf id = 1, Argon2id (1) | time u32 | memory KiB u32
//	| threads u8 | salt (16) | gen u32 | nonce (24) | sealed master key (32+16)
//
// The AAD of the sealed master key is "ocmt-mesh/wrap/v2" || vault ID ||
// the wrap's bytes up to the nonce, so the KDF parameters and the
// generation are authenticated. On read, parameters above m = 1 GiB,
// t = 16 or p = 16 are refused before any work is done, so a tampered
// header cannot become a memory or CPU denial of service.
//
// # Records
//
// A record envelope is "OCMTREC\x02" (8) | version u64 | nonce (24) |
// ciphertext, sealed under K_rec,ns with AAD "ocmt-mesh/record/v2" ||
// vault ID || uvarint len || namespace || uvarint len || name || version,
// so a blob copied under another name, namespace or vault fails to open.
// Versions come from one vault-wide counter (the index's), so a record's
// new version is above every version any record ever had, deleted ones
// included. Names are metadata and are stored in the clear in the key;
// values, passwords and keys never are. A secret (Secret) holds at most
// MaxSecretBytes (1 MiB: value, refresh token and descriptive fields); a
// record at most MaxRecordPlaintext (64 MiB less the envelope).
//
// # Version index (rollback of single records)
//
// For each record, /meta/ver/NS/NAME holds its version (8 bytes). The
// index is authenticated as a whole:
//
//	e(ns, name, v) = MAC(K_index, "ocmt-mesh/index/v1", "entry" || uvarint len || ns || uvarint len || name || v u64)
//	D              = XOR of e over every entry (never stored)
//	/meta/index    = "OCMTIDX\x01" (8) || counter u64 || count u64 || tag (32)
//	tag            = MAC(K_index, "ocmt-mesh/index/v1", "digest" || vault ID || gen u32 || counter || count || D)
//
// Every Put and Delete updates its entry, D (incrementally: XOR out the old
// entry, XOR in the new) and /meta/index in the same batch as the record
// and its audit record. At unlock the entries are read, D recomputed and
// the tag checked; the index is then kept in memory. Every read checks the
// record (after its AEAD opens) against it: older than the index says
// (an older sealed copy put back), present but not indexed (a deleted
// record put back), indexed but absent (removed outside the vault), or
// newer (the index put back) are all refused with ErrRolledBack, and so is
// every read while the stored index does not verify (entries or the
// summary put back together with a record). RebuildIndex accepts the
// records as they are, audited, when the user chooses to keep them. D is
// never stored because it is linear: from two stored digests one could
// compute the digest of a set with one entry rolled back.
//
// A whole-store rollback cannot be detected locally: if every file is put
// back together, the store is exactly what it was at that earlier time,
// and nothing the vault keeps on this machine (the only place it writes)
// can differ from that state. Detecting it needs a monotonic counter kept
// somewhere the attacker cannot roll back (another machine, a TPM). What
// is detected is any partial rollback: a record, or a record and its
// entry, or the index, the audit log's end, or both, without everything
// written since.
//
// # Audit log
//
// This section is complete enough for an auditor holding the vault's
// audit keys to verify a log in another language: testdata/audit/README.md
// describes the committed vectors (chains and edits of them, with the
// verdicts), and specs/vaultaudit/check.py, at the module root, is an
// independent verifier written from this text that must agree with every
// one. The audit keys are K_audit of each key generation: derived from M
// ("Keys"), which the password opens ("Password wrap"); the keys of
// earlier generations are sealed in /meta/audit-keys ("Key rotation").
// The vault exports no audit key: an auditor derives it with the
// password. A verifier reads four things of the store: /meta/header
// (the vault ID and format), every key under /audit/, /meta/audit-head
// and /meta/index.
//
// Records. Record SEQ (from 1) is stored under /audit/ followed by SEQ
// as 16 lower-case hex digits. It is one JSON object (RFC 8259, UTF-8)
// of at most MaxAuditRecordSize (8192) bytes (AuditRecord), with these
// members in this order:
//
//	member   type                    present          meaning
//	seq      integer 0 to 2^64-1     always           SEQ
//	time     text, RFC 3339          always           when it was written (the vault's clock, UTC)
//	actor    text                    always           who: a CLI, a peer ID, "vault", ...
//	op       text                    always           what: vault.unlock, secret.read, share.refused, ...
//	target   text                    when not empty   the name concerned
//	outcome  text                    always           ok, failed or denied
//	detail   text                    when not empty   non-secret context
//	v        integer                 when not 0       2 on format-2 records, absent on format 1
//	vault    text                    when not empty   the vault ID, 32 lower-case hex digits (format 2)
//	gen      integer 0 to 2^32-1     when not 0       the key generation whose audit key tags it
//	locked   true                    when true        written while locked: tagged under a session key
//	session  text                    when not empty   on a locked session's first record: K_s sealed, hex (below)
//	prev     text                    always           the previous record's chain value, 64 lower-case hex digits; 64 zeros before record 1
//	hash     text                    always           this record's chain value, 64 lower-case hex digits
//
// The canonical encoding C(r) of a record r is that object with no white
// space, the members in the table's order, those whose "present" does not
// hold left out, integers in decimal (no '+', fraction, exponent or
// leading zero; '-' only before a negative v), true as true, and every
// text as a JSON string written as Go's encoding/json writes one: '"' and '\' as \" and \\; U+0008, U+000C,
// U+000A, U+000D and U+0009 as \b, \f, \n, \r and \t; every other
// character below U+0020, and '<', '>', '&', U+2028 and U+2029, as \u and
// four lower-case hex digits (\u0000, \u003c, \u2028); every other
// character as its UTF-8 bytes (U+007F and "é" included). time is written
// in RFC 3339 with its offset as read ("Z" for offset 0, else +hh:mm or
// -hh:mm) and its nanoseconds with trailing zeros removed, without the
// '.' when they are 0: "2026-01-02T03:04:05Z", "2026-01-02T03:04:06.5Z",
// "2026-01-02T03:04:07.750000001Z". The vault stores exactly C(r), with
// times in UTC.
//
// The chain value of a record covers J = C(r with hash set to ""), the
// encoding ending in "hash":""}:
//
//	format 1 (no v):            chain value = SHA-256("ocmt-mesh/audit/v1" || 0x00 || J)
//	format 2, written unlocked: chain value = MAC(K_audit of gen, "ocmt-mesh/audit/v1", J)
//	format 2, written locked:   chain value = MAC(K_s, "ocmt-mesh/audit-locked/v1", J)
//
// and hash is its hex. Since J holds prev, seq and the vault ID, each
// chain value covers every record before it.
//
// Reading a stored record. A stored record must be exactly C(r) of the
// values it holds. A verifier parses it as JSON (RFC 8259, UTF-8) into
// the table's members, encodes C(r) from them and compares the bytes. The
// record is broken, [record-changed, SEQ] below, when it is over 8192
// bytes, is not JSON, has a member the table does not name or a value of
// another type (a text for a number, a number with a fraction or an
// exponent or out of its range, a time that is not RFC 3339), or is not
// byte for byte its own C(r): white space, escapes C does not use,
// another member order, names in another case, a repeated member, null,
// a member C leaves out written with its zero value, a time written
// otherwise, anything after the object. hash and session are texts, kept
// as written; they are read as hex in either case.
//
// The head, /meta/audit-head, names the last record:
//
//	format 2 (112 bytes):  "OCMTAHD\x02" (8) || seq u64 || chain value of record seq (32) || index tag (32) || tag (32)
//	format 1 (40 bytes):   seq u64 || chain value of record seq (32)
//	tag = MAC(K, "ocmt-mesh/audit-head/v1", vault ID || seq u64 || chain value || index tag)
//
// with K the key of record seq (K_audit of its gen, or its session's K_s)
// and the index tag the tag of /meta/index (its last 32 bytes, "Version
// index") when the head was written. The head is written in the same
// batch as every record and binds the version index tag of the time, so
// the log's end and the records' state cannot be rolled back one without
// the other.
//
// Records written while locked. A locked node still audits (received
// grants, refused requests, failed unlocks) but has no master key. The
// first locked record a process writes starts a session: K_s is 32 random
// bytes kept in memory only, and the record carries
// session = SealTo(/meta/audit-pub, K_s), 104 bytes:
//
//	session = epk (32) || nonce (24) || XChaCha20-Poly1305-Seal(k, nonce, K_s, AAD)
//	k       = HKDF-SHA256(ikm = X25519(e, pub), salt = epk || pub, info = "ocmt-mesh/audit-session/v1"), 32 bytes
//	AAD     = "ocmt-mesh/audit-session/v1" || vault ID || gen u32 || seq u64   (the record's gen and seq)
//
// with e a fresh X25519 key, epk its public key and pub the public key of
// x_audit of gen (/meta/audit-pub: pub = X25519(x_audit, 9), RFC 7748).
// Opening it: X25519(x_audit, epk) (an all-zero result is refused), the
// same k with pub computed from x_audit, and the plaintext must be 32
// bytes. Later locked records of that process are tagged under the same
// K_s. Only x_audit, hence only M, opens K_s. At the next unlock the
// locked records since the last record written unlocked
// are verified (sessions opened with x_audit, tags checked, linked to the
// record before them) and the unlock record, written under K_audit right
// after them, says "N records written while locked verified (a–b)" or
// what failed; from then on its tag covers them like any other. The cost
// is one read and one HMAC per locked-time record, at unlock.
//
// What is verified when:
//
//   - Without the password (ReadAudit; Vault.VerifyAudit of a locked vault;
//     `mesh audit` of a locked vault): the records parse, are numbered 1..n
//     with none missing, each prev is the previous hash, every record names
//     this vault, format-1 hashes, every locked record follows a session
//     start, and the head exists and names the last record with its chain
//     value. This catches deletions and naive edits, not an edit by
//     someone who recomputes the links (they can set any hash they like).
//   - With the vault unlocked (Vault.VerifyAudit): everything above, plus
//     every tag under the key of its generation (earlier generations' keys
//     come from /meta/audit-keys), every session key opened with x_audit,
//     the head's tag, and that the head's index tag is the stored index's.
//   - At every unlock: the records written while locked (above).
//   - At open: the head against the records (two lookups). A missing,
//     rewound or overtaken head is never repaired silently: the next
//     append first writes a vault.audit.break record (actor "vault",
//     target the break kind, outcome failed, detail what was found) and
//     continues after the last record the log or the head names, leaving
//     a gap where records were deleted (appends also check that their
//     sequence number is free: nothing is ever overwritten). Such a
//     record keeps the edit reported after the head moves on.
//
// Verifying a log, with or without the keys. The verifier reads
// /meta/header: absent, no vault ID or format is known and the checks
// that need them are skipped; present but not 24 bytes starting with
// "OCMTVLT\x01" or "OCMTVLT\x02", the store is corrupt (ErrCorrupt, not a
// break) and nothing is verified. It then takes every key under /audit/
// in bytewise order of the keys, keeping want (the sequence number
// expected, from 1), prev (the previous chain value, 32 zero bytes at
// first), whether a format-2 record was seen, whether a locked session
// has started and its K_s, and the key of the last record. For each
// record, in this order, the first failure ends the check with the break
// and sequence number in brackets:
//
//  1. The key is /audit/ and 16 hex digits (either case), read as SEQ;
//     else [record-changed, want].
//  2. The record reads (above), else [record-changed, SEQ]; its seq is
//     SEQ, else [record-changed, SEQ].
//  3. SEQ > want (records missing before it) is allowed only on a record
//     whose op is vault.audit.break; else [record-changed, want].
//  4. Without v (format 1): after a format-2 record, or with a hash other
//     than the SHA-256 above in lower-case hex (compared as text),
//     [record-changed, SEQ]. With v other than 2: [record-changed, SEQ].
//     With v = 2: when the vault ID is known, vault other than it (as
//     text) is [foreign-record, SEQ].
//  5. prev is the previous chain value in lower-case hex, compared as
//     text (64 zeros for the first record; record 1 may always have 64
//     zeros); else [record-changed, SEQ], unless SEQ > want or the record
//     is a vault.audit.break.
//  6. hash is 64 hex digits, the chain value; else [record-changed, SEQ].
//  7. Keys: a format-1 record ends any session and leaves no key for the
//     last record. An unlocked format-2 record ends any session; keyed,
//     its gen must have a key and the chain value must be its MAC above,
//     else [record-changed, SEQ], and that key is the last record's. A
//     locked record needs a session started, by its own session member or
//     an earlier locked record's since the last unlocked one, else
//     [record-changed, SEQ]; keyed, a session member is opened with
//     x_audit of its gen's K_audit (no key for gen, bad hex, or a seal that
//     does not open to 32 bytes: [record-changed, SEQ]) and gives the
//     session's K_s; the chain value must be MAC(K_s, ...) above, else
//     [record-changed, SEQ], and K_s is the last record's key.
//  8. On a vault.audit.break record, the vault's own report of an edit,
//     its target (a break kind; any other text counts as record-changed)
//     and SEQ are added to the verdicts, and the check goes on.
//  9. prev becomes its chain value and want SEQ + 1.
//
// Then the head, in this order:
//
//  1. Absent: with no record and no vault header, nothing is wrong; with
//     no record, [all-deleted, 1]; else [head-deleted, 0].
//  2. Neither 40 bytes nor 112 starting with its magic, or naming record
//     0: [head-deleted, 0].
//  3. No record: [all-deleted, 1].
//  4. Naming a record after the last: [tail-deleted, last + 1]; before
//     it: [head-rewound, 0]; with a chain value other than the last's:
//     [record-changed, last].
//  5. In a format-2 vault, a format-1 head: [head-rewound, 0]; a last
//     record in format 1: [tail-deleted, last + 1].
//  6. Keyed, of a format-2 head: no key for the last record, a tag that is
//     not the MAC above under it, or an index tag other than /meta/index's
//     last 32 bytes (32 zero bytes when /meta/index is not 56 bytes
//     starting with its magic): [head-rewound, 0].
//
// The verdicts are those of the vault.audit.break records in order, then
// the break that ended the check, if one did; none means the log
// verifies. Go returns them as one *AuditError, or several joined
// (errors.Join), each errors.Is ErrAuditBroken, with Break and Seq as in
// the brackets; the records before the break come with it. The kinds
// (AuditBreak):
//
//	tail-deleted     the last records are gone: the head names a later one
//	all-deleted      every record is gone, with or without the head
//	head-rewound     the head names an earlier record, or (keyed) is an older copy or a forgery
//	head-deleted     records exist and the head does not, or does not read
//	record-changed   a record rewritten, inserted or removed before the end
//	foreign-record   a record names another vault
//
// What someone who can write the store but does not know the password can
// do, and what it leads to:
//
//   - Delete, reorder, insert or edit any record, or the head: reported by
//     the check without the password when links or numbering break, and by
//     the keyed check in every case (they cannot compute K_audit tags).
//   - Put back a complete older copy of the log's end and head: the head is
//     genuine, so this is caught only through what it is bound to: the
//     version index (any record written, deleted or rotated since) and the
//     records after it. If nothing but audit records was written since (only
//     reads, locks, unlocks), it is a rollback of the log to an earlier
//     state and cannot be told from that state, like a whole-store rollback.
//   - Records written while locked: the sealed session key proves nothing
//     about who wrote it, because anyone who knows the public key can seal
//     one. So until the next unlock they can drop the records written since
//     the last unlocked record, or end the session at any point and go on
//     with a session of their own, marked locked like the real ones. They
//     cannot alter a record inside a session without starting a new one
//     (visible as a new session where no process restarted), cannot make a
//     record look written unlocked, and cannot touch anything before the
//     last unlocked record. After the unlock the records are pinned.
//   - Delete /meta/audit-pub: nothing can be audited while locked, so the
//     locked node refuses what it must audit, until the unlock restores it.
//   - Roll back the whole store: undetectable (above).
//
// # Migration from format 1
//
// Format 1 (header "OCMTVLT\x01", wrap "OCMTWRP\x01" of 106 bytes without
// gen and with AAD label "ocmt-mesh/wrap/v1", envelopes "OCMTREC\x01" with
// AAD label "ocmt-mesh/record/v1" and per-record versions, SHA-256 audit
// records without v, vault, gen, locked or session, and a 40-byte head
// seq || hash) still opens. The first unlock migrates it in one batch:
// format-2 header and wrap (the same master key, password, salt and KDF:
// the KEK just derived reseals it), /meta/audit-pub, a version index built
// from the records as found (counter = their highest version), and two
// records under K_audit: vault.format.migrate, which says records 1..n
// were only hash-chained, and whether they verified; its prev is record
// n's hash, so from then on they are pinned by a keyed record, and the
// unlock. Format-1 records are not rewritten: their SHA-256 links still
// verify, and changing one breaks the link to the migration record. Format-1
// envelopes stay readable until rewritten (every write is format 2).
// Records written while a format-1 vault is locked are format 1, and are
// pinned by the migration like the others. A format-1 header or wrap over
// format-2 data (an older copy put back to have the vault migrate again and
// accept rolled-back records) is refused.
//
// # Key rotation
//
// RotateKey re-encrypts every indexed record under a new master key into
// generation gen+1 (/rec/_gN), which nothing reads yet, in batches of at
// most 8 MiB after writing /meta/rotating = gen+1; then one batch switches:
// the new wrap (new password, gen+1), /meta/index re-tagged under the new
// K_index, /meta/audit-pub, /meta/audit-keys (every earlier generation's
// K_audit, sealed under K_hist of the new key with AAD
// "ocmt-mesh/audit-history/v1" || vault ID || gen u32 over a list of
// gen u32 || key (32): "OCMTAKH\x01" || nonce || ciphertext),
// /meta/rotating = the old gen, and the vault.key.rotate record, the first
// under the new K_audit. The old generation is then deleted. A crash
// before the switch leaves the old vault (old password) with a stray new
// generation; after it, the new vault (new password) with a stray old one;
// /meta/rotating names the stray generation and the next unlock (or
// rotation) deletes it. The index entries keep their versions. The old key
// still opens old copies of records taken before the rotation; nothing
// written after it.
//
// # Recovery wraps
//
// Each recovery method the owner enables (internal/recovery: a phrase,
// friends, a hardware key, an escrow) is one more wrap of the master key
// under a key RK that the method alone can produce again, specified in
// recovery.go. The wrap authenticates the vault, the method, its public
// meta and the key generation; it also keeps RK sealed under a key derived
// from M, so that RotateKey re-wraps the new master key for every method
// in its switch batch. Recover opens M with RK and writes a new password
// wrap (the same M and generation), then unlocks; TestRecovery opens it
// and changes nothing but the method's tested time. A key that does not
// open a wrap is counted, backed off and audited as a wrong password is.
//
// # Failure behaviour
//
// A wrong password and a tampered wrap give the same ErrBadPassword, are
// counted in /meta/failures and audited. Each failed attempt doubles the
// wait before the next one (250 ms, capped at 30 s); the counter lives in
// the datastore, so restarts don't reset it. An attempt before the next
// allowed time is not tried and not counted: Unlock (and ChangePassword,
// RotateKey) return at once a *BackoffError (errors.Is ErrBackoff) with
// Until, "too many wrong passwords: next try in 12 s". FailedAttempts
// gives the same time before asking for a password. Someone who can write
// the store can reset the counter, and can copy the wrap and guess offline;
// the backoff is against guessing through the node's API.
//
// Every sensitive operation writes its audit record in the same atomic batch
// as its data (or before returning data, for reads); if the audit record
// cannot be written, the operation fails. One exception: Lock never fails.
// It writes its record first (under the audit key) and wipes the keys
// whatever happens to it; a record it could not write is kept in memory
// (PendingAudit), logged, and written with the next record the process
// commits, with "written late: the vault was locked at T, when this record
// could not be written (why)" in its detail. A process that exits before
// that loses it (the log then shows the unlock with no lock after it).
//
// # A full disk
//
// On the store of internal/store, the vault's writes are in tiers
// (store.WithTier): writes stop first, at the store's write reserve; the
// audit record of a read, an unlock and a failed unlock's count go on down
// to its read floor; a delete and the lock record down to its delete
// floor. So after a full disk stopped writes the owner still reads,
// unlocks and locks, and can delete to free space.
//
// # Unlocking without holding the store
//
// ReadKeyParams reads the wrap's salt and KDF parameters, and
// KeyParams.Derive runs the KDF on a password without the vault: a
// process that opens the store only for one command derives the key
// before it takes the store's lock. UnlockPrepared then uses that key
// only if the stored wrap still has those parameters (else it derives
// again); the wrap read under the lock stays the authority, and the
// backoff, the failure count and the audit happen as in Unlock.
package vault
