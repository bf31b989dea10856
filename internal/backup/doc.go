// Package backup writes and restores an encrypted, consistent copy of a
// home node's folder: the peer key and every key and value of its store at
// one instant. `mesh backup --out FILE` and `mesh restore FILE` are built on
// Write, Restore and Inspect.
//
// A backup is taken while the node runs, through the node's own open store:
// a pebble snapshot (store.Snapshot) fixes the instant, and writes go on
// meanwhile without waiting. It opens only with the vault password it was
// taken under (the key wraps it carries are the vault's as they were), and
// nothing in it can be read without that password but its header: the
// format version, the vault ID, when it was taken, the salt and the wraps.
// The peer key, the mesh state (handle, grants, contacts) and the names of
// secrets are all inside the encrypted stream.
//
// # File format (version 1)
//
// Integers are big-endian; "||" is concatenation.
//
//	file    = header || chunk_0 || chunk_1 || ... || chunk_n   (n ≥ 0)
//
// Header (68 bytes and the wraps; at most MaxHeaderSize, 4096):
//
//	offset  size  field
//	0       7     magic "OCMTBAK"
//	7       1     format version, 0x01 (Version)
//	8       2     header length H, u16, the whole header from offset 0
//	10      16    vault ID (the vault's /meta/header)
//	26      8     created: when the backup was taken, unix seconds (i64)
//	34      32    salt, random per backup; ID = hex of its first 8 bytes
//	66      1     chunk log L: chunks hold 2^L plaintext bytes, 10 ≤ L ≤ 20 (Write: 16, 64 KiB)
//	67      1     wrap count W, 1 ≤ W ≤ MaxWraps (8)
//	68      ...   W wraps, each:
//	                kind length u8 (1..MaxWrapKind, 32) || kind ([a-z0-9-])
//	                || data length u16 (1..MaxWrapSize, 1024) || data
//
// Kinds are strictly increasing (sorted, each once); the wraps end exactly
// at H. A wrap is the vault's /meta/wrap/KIND as stored when the snapshot
// was taken: today one, "password" (the vault's password wrap, 110 bytes,
// its format in vault/doc.go), which opens the master key M of the key
// generation the backup was taken under. A recovery method added later stores
// /meta/wrap/KIND and is carried the same way, so its backups open with it.
// A reader refuses, before reading on or allocating: another magic
// (ErrNotBackup), another version (ErrVersion), H outside
// [68 + 5, 4096], and any field breaking the rules above (ErrHeader).
//
// # Key
//
//	K = HKDF-SHA256(ikm = M, salt = vault ID || salt, info = "ocmt-mesh/backup/v1")
//
// (vault.BackupSealer while the vault is unlocked; vault.OpenBackupKey
// with the password, which unwraps M from the header's "password" wrap with
// the vault's own code: KDF parameters above the vault's caps are refused
// before any Argon2id work, and a wrong password and a tampered wrap or
// vault ID are one error, vault.ErrBadPassword.) The salt is fresh for every
// backup, so every backup has its own K and its counter nonces never repeat
// under a key.
//
// # Chunks
//
// The plaintext (Content, below) is cut into chunks of exactly 2^L bytes
// but the last, which holds 1 to 2^L bytes (never 0: the content is never
// empty; a plaintext of a multiple of 2^L ends with a full last chunk).
// Chunk i (from 0) is
//
//	chunk_i = XChaCha20-Poly1305-Seal(K, nonce_i, plaintext_i, AAD = SHA-256(header))
//	nonce_i = 0x00 × 15 || i (u64) || last (0x01 on the last chunk, else 0x00)
//
// so chunk_i is len(plaintext_i) + 16 bytes. This is the STREAM construction
// (Hoang, Reyhanitabar, Rogaway, Vizár), as in age's payload: the counter
// fixes each chunk's position (reordering, repeating or dropping a chunk
// fails), the last flag fixes the end (a file cut at a chunk boundary ends
// on a chunk sealed as not last; data appended follows a chunk sealed as
// last), and the header is the AAD of every chunk (any change to it fails
// chunk 0). A reader reads 2^L + 16 bytes at a time: a shorter read, or a
// full one followed by the end of the file, is the last chunk. Any chunk
// that does not open is ErrAltered; a file that ends on a chunk that opens
// only as not last, or holds no chunk, is ErrTruncated. Nothing of a chunk
// is used before it opens.
//
// # Content
//
// The plaintext is a sequence of records:
//
//	0x01 || seed (32)                                      identity: the Ed25519 peer key's seed; first, once
//	0x02 || key length u32 || key || value length u32 || value    one store entry
//	0x03 || entries u64 || bytes u64                       end: the count of entries and of their key and value bytes; last
//
// Entries follow the store's order, keys strictly increasing (bytewise),
// each key 1 to MaxKeySize (64 KiB) bytes and a go-datastore key ("/"
// first, no "/" last unless it is "/"), each value 0 to MaxValueSize
// (vault.MaxRecordSize, 64 MiB) bytes. The entries are every key of the
// store at the snapshot, unfiltered: the vault's keys at the root and the
// mesh state under /mesh (internal/store/layout.go). The end record's
// counts must match, and nothing follows it. Content breaking these rules
// authenticates, so only a faulty writer or a key holder makes it:
// ErrMalformed. A reader checks every length before allocating for it, and
// a value's buffer grows with the bytes that actually arrive (1 MiB at a
// time), so a declared length costs nothing until its bytes are there.
//
// Memory: Write holds one chunk of plaintext and one of ciphertext (the
// pebble iterator's block aside), whatever the store's size; Restore one
// chunk each way, one key and value, and one store batch (4 MiB).
//
// # Taking a backup (Write)
//
// The vault must be unlocked. Under the vault's read lock (so no password
// change or key rotation runs in between), the store's snapshot is taken
// and the header, wraps and audit head are read from it; the vault checks
// they are its own and its key generation's, derives K, and writes a
// vault.backup audit record (target: the backup's ID; detail: "holds audit
// records 1–N"). That record is written after the snapshot, so the backup
// does not hold it: a backup is a state the vault was in, and its record
// names exactly which records that state ends with, which it could not do
// before the snapshot. It is written before any byte of the backup leaves:
// if it cannot be written, there is no backup. A backup that fails midway
// is not a backup (it does not end on a chunk sealed as last), and the
// record still says the key was used for one. Writes committed after the
// snapshot are not in the backup; a write is one batch (a record with its
// index entry and audit record), so it is in whole or not at all.
//
// # Restore
//
// Restore refuses a destination that holds identity.key or store/
// (ErrLiveHome), or whose node.lock another process holds
// (home.ErrAlreadyRunning). Nothing is written until the header parses,
// the password opens the key, and the first chunk opens. The home is then
// built in a temporary folder: DIR/../.NAME.restore-* beside a destination
// that does not exist yet (one rename moves it into place), or
// DIR/.restore-* inside one that does (a mount point: store/ is renamed
// into place, then identity.key is hard-linked, which never replaces a
// file). identity.key is the commit point, as for mesh init (which writes
// the vault before the identity): a crash before it leaves no folder that
// looks like a home (a store without an identity is refused by the node, by
// mesh init and by Restore, which says so). The entries go to a fresh store
// (store.Open) in batches; after the end record, identity.key is written
// with home.WriteFileAtomic and read back with home.LoadIdentity; the vault
// is then opened with the password (vault.OpenRestored: the failed-unlock
// wait and count do not apply to a backup), every record is opened and
// checked against the version index, the audit chain is verified
// (keyed), and a vault.restore record is appended (target: the backup's
// ID). What does not verify is reported in RestoreInfo.Problems and in that
// record: the stream is authenticated, so such problems were in the vault
// when the backup was taken, and the restore keeps them as they were.
// On any error the temporary folder is removed; what a crash leaves is
// removed by the next Restore (a running one holds its folder's lock).
//
// What a restore does not do: it restores the vault as it was, with the
// password it had then; an old backup keeps opening with an old password
// after a password change or a key rotation (vault.RotateKey's help says
// so). A whole-store rollback cannot be detected locally (vault/doc.go),
// and a restore is one, on purpose.
package backup
