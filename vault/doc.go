// Package vault is the home node's secret store: a master key wrapped by a
// password-derived key, records sealed with XChaCha20-Poly1305 under keys
// derived from it, a keyed index of record versions, and a keyed audit
// chain of every sensitive operation.
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
// Each audit record is one JSON object (AuditRecord): seq, time, actor,
// op, target, outcome, detail, then v = 2, vault = hex vault ID, gen,
// locked (true on records written while locked), session (on the first
// record of a locked session: the sealed session key, hex), prev (the
// previous record's chain value, hex; 64 zeros before record 1) and hash
// (this record's chain value, hex). The chain value covers J = the
// record's JSON encoding (encoding/json, fields in that order, empty
// fields omitted) with hash set to "":
//
//	written unlocked:  hash = MAC(K_audit of gen, "ocmt-mesh/audit/v1", J)
//	written locked:    hash = MAC(K_s, "ocmt-mesh/audit-locked/v1", J)
//	format 1 (before the migration):  hash = SHA-256("ocmt-mesh/audit/v1" || 0x00 || J)
//
// Since J holds prev, seq and the vault ID, each chain value covers every
// record before it. The head is
//
//	"OCMTAHD\x02" (8) || seq u64 || chain value of record seq (32) || index tag (32) || tag (32)
//	tag = MAC(K, "ocmt-mesh/audit-head/v1", vault ID || seq || chain value || index tag)
//
// with K the key of record seq (K_audit of its gen, or its session's K_s).
// The head is written in the same batch as every record and binds the
// version index tag of the time, so the log's end and the records' state
// cannot be rolled back one without the other.
//
// Records written while locked. A locked node still audits (received
// grants, refused requests, failed unlocks) but has no master key. The
// first locked record a process writes starts a session: K_s is 32 random
// bytes kept in memory only, and the record carries
// session = SealTo(/meta/audit-pub, K_s) (xcrypto.SealTo: an ephemeral
// X25519 key, HKDF(shared, epk || pub, "ocmt-mesh/audit-session/v1"),
// XChaCha20-Poly1305 with AAD "ocmt-mesh/audit-session/v1" || vault ID ||
// gen u32 || seq u64), 104 bytes. Later locked records of that process are
// tagged under the same K_s. Only x_audit, hence only M, opens K_s. At the
// next unlock the locked records since the last record written unlocked
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
//     append first writes a vault.audit.break record saying what was found
//     and continues after the last existing record (appends also check
//     that their sequence number is free: nothing is ever overwritten).
//     Such a record keeps the edit reported after the head moves on.
//
// Each break is an *AuditError (errors.Is ErrAuditBroken) with a kind and
// words: the last records deleted (head names a later record), every record
// deleted, the head rewound (names an earlier record; or, keyed, does not
// verify or does not match the index), the head deleted, a record
// rewritten, inserted or removed before the end, a record from another
// vault.
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
// Format 1 (header "OCMTVLT\x01", wrap "OCMTWRP\x01" of 130 bytes without
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
