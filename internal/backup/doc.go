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
// This comment is the specification of the backup file, version 1:
// with vault/doc.go (the password wrap, the master key M), it is all an
// implementation in another language needs to open a backup.
// testdata/README.md describes the committed vectors, and
// specs/backup/check.py, at the module root, is an independent reader
// written from these two texts that must agree with every vector.
//
// # Limits
//
// Every number of the format, with its value;
// TestDocNumbersMatchTheConstants checks them against the constants.
//
//	name               value     unit    what it bounds
//	Version            1         -       the only format version written and read
//	MaxHeaderSize      4096      bytes   the header, magic and length field included
//	minHeaderSize      73        bytes   the least header: 68 fixed bytes and the smallest wrap (1 + 1 + 2 + 1)
//	MaxWraps           8         wraps   the wraps of one header (at least 1)
//	MaxWrapKind        32        bytes   a wrap's kind (at least 1)
//	MaxWrapSize        1024      bytes   a wrap's data (at least 1)
//	MinChunkLog        10        -       the least chunk log L: chunks of 2^10 = 1 KiB
//	MaxChunkLog        20        -       the largest chunk log L: chunks of 2^20 = 1 MiB
//	DefaultChunkLog    16        -       the chunk log Write uses: 64 KiB
//	BackupSaltSize     32        bytes   the salt
//	vaultIDSize        16        bytes   the vault ID
//	seedSize           32        bytes   the identity record's seed
//	MaxKeySize         65536     bytes   one store key (at least 1)
//	MaxValueSize       67108864  bytes   one store value (vault.MaxRecordSize, 64 MiB)
//	MaxKDFMemoryKiB    1048576   KiB     the password wrap's Argon2id memory (vault's cap, 1 GiB)
//	MaxKDFTime         16        passes  the password wrap's Argon2id passes (vault's cap)
//	MaxKDFThreads      16        lanes   the password wrap's Argon2id lanes (vault's cap)
//	valueStep          1048576   bytes   how far a reader's value buffer grows ahead of the bytes read
//	restoreBatchBytes  4194304   bytes   the store entries Restore commits in one batch
//
// # File format (version 1)
//
// Integers are big-endian and unsigned unless marked i64 (two's
// complement); "||" is concatenation; hex is lower case.
//
//	file    = header || chunk_0 || chunk_1 || ... || chunk_n   (n ≥ 0)
//
// Header (68 bytes and the wraps; minHeaderSize (73) to MaxHeaderSize (4096) bytes):
//
//	offset  size  field
//	0       7     magic "OCMTBAK"
//	7       1     format version, 0x01 (Version)
//	8       2     header length H, u16, the whole header from offset 0
//	10      16    vault ID (the vault's /meta/header after its magic)
//	26      8     created: when the backup was taken, unix seconds (i64)
//	34      32    salt, random per backup
//	66      1     chunk log L: chunks hold 2^L plaintext bytes, MinChunkLog (10) ≤ L ≤ MaxChunkLog (20)
//	67      1     wrap count W, 1 ≤ W ≤ MaxWraps (8)
//	68      ...   W wraps, each:
//	                kind length u8 (1..MaxWrapKind, 32) || kind
//	                || data length u16 (1..MaxWrapSize, 1024) || data
//
// A kind is bytes of [a-z0-9-] in any order ("--9", "a-", "0" are kinds).
// Kinds are strictly increasing in bytewise order (so sorted, and each
// once; "ab" after "a"), and the last wrap ends exactly at H. The
// created time is not checked (any i64 reads; Write puts the time of
// the snapshot, to the second); like every header byte it is
// authenticated by the chunks. The backup's ID, which names it in audit
// records and in `mesh backup inspect`, is the hex of the salt's first
// 8 bytes.
//
// A wrap is the vault's /meta/wrap/KIND as stored when the snapshot was
// taken: today one, "password" (the vault's password wrap, 110 bytes,
// its format in vault/doc.go), which opens the master key M of the key
// generation the backup was taken under. A recovery method added later
// stores /meta/wrap/KIND and is carried the same way, so its backups open
// with it. This version opens a backup with the password only: it
// requires a "password" wrap and ignores the data of other kinds (their
// kind and length rules still hold).
//
// A reader checks the header in this order, the first failure being the
// answer, before it reads on or allocates anything but the header:
//
//  1. The magic, as far as the file goes: an empty file, or one whose
//     first bytes (up to 7) differ from "OCMTBAK", is ErrNotBackup.
//  2. The version byte, when the file reaches it: anything but 0x01 is
//     ErrVersion, even if the file ends right after it.
//  3. A file that ends before offset 10 (it began as a backup) is
//     ErrTruncated.
//  4. H outside [minHeaderSize (73), MaxHeaderSize (4096)] is ErrHeader.
//  5. A file that ends before H bytes is ErrTruncated.
//  6. Each field in order (chunk log, wrap count, then each wrap: kind
//     length and kind, order, data length, data within H; then nothing
//     between the last wrap and H): a break is ErrHeader.
//
// # Key
//
// The chunks' key is
//
//	K = HKDF-SHA256(ikm = M, salt = vault ID || salt, info = "ocmt-mesh/backup/v1"), 32 bytes
//
// (RFC 5869, extract then expand). M is opened from the "password" wrap as
// vault/doc.go specifies ("Password wrap"), whose 110 bytes are
//
//	offset  size  field
//	0       8     magic "OCMTWRP\x02"
//	8       1     KDF id, 1 (Argon2id)
//	9       4     t, passes (u32)
//	13      4     m, memory in KiB (u32)
//	17      1     p, lanes
//	18      16    s, the salt
//	34      4     the key generation (u32)
//	38      24    N, the nonce
//	62      48    M sealed (32 bytes and the tag)
//
// and
//
//	raw = Argon2id(password, s, t, m, p), 32 bytes (RFC 9106, version 0x13, no secret, no associated data)
//	KEK = HKDF-SHA256(ikm = raw, salt = s, info = "ocmt-mesh/vault-kek/v1"), 32 bytes
//	M   = XChaCha20-Poly1305-Open(KEK, N, the wrap's last 48 bytes,
//	      AAD = "ocmt-mesh/wrap/v2" || vault ID || the wrap's first 38 bytes)
//
// A format-1 password wrap (106 bytes, vault/doc.go "Migration from
// format 1": magic "OCMTWRP\x01", no generation, so its nonce is bytes 34
// to 57 and the AAD is "ocmt-mesh/wrap/v1" || vault ID || its first 34
// bytes) is read too; Write never carries one (a vault migrates at its
// first unlock, and a backup needs an unlocked vault).
//
// In the code: vault.BackupSealer while the vault is unlocked;
// vault.OpenBackupKey with the password. A header without a "password"
// wrap, or whose password wrap breaks vault/doc.go's format (its size
// and magic, KDF id 1, parameters at least t = 1, p = 1 and m = 8·p,
// at most MaxKDFMemoryKiB (1048576), MaxKDFTime (16) and MaxKDFThreads (16)),
// is ErrHeader, refused before any Argon2id work. A wrong password and a
// tampered wrap or vault ID (both in the AAD) are one error,
// vault.ErrBadPassword. The salt is fresh for every backup, so every
// backup has its own K and its counter nonces never repeat under a key.
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
// with SHA-256(header) the digest of the header's H bytes as they are in
// the file, and XChaCha20-Poly1305 as draft-irtf-cfrg-xchacha-03 defines it
// (HChaCha20 on the key and the nonce's first 16 bytes, then RFC 8439's
// ChaCha20-Poly1305 with the nonce 0x00000000 || its last 8 bytes), so
// chunk_i is len(plaintext_i) + 16 bytes. This is the STREAM construction
// (Hoang, Reyhanitabar, Rogaway, Vizár), as in age's payload: the counter
// fixes each chunk's position (reordering, repeating or dropping a chunk
// fails), the last flag fixes the end (a file cut at a chunk boundary ends
// on a chunk sealed as not last; data appended follows a chunk sealed as
// last), and the header is the AAD of every chunk (any change to it fails
// chunk 0).
//
// A reader cuts what follows the header into pieces of 2^L + 16 bytes, the
// final piece shorter or full. It opens piece i as chunk i with the last
// flag set on the final piece and clear on every other, in order, and uses
// nothing of a piece before it opens:
//
//   - no piece at all (the file ends at H) is ErrTruncated;
//   - a final piece of 16 bytes or less is ErrAltered;
//   - the final piece does not open as last but opens as not last: the
//     file was cut at a chunk boundary, ErrTruncated;
//   - any other piece that does not open is ErrAltered (altered,
//     reordered, repeated, dropped, cut inside a chunk, from another
//     backup, a header changed, or data after a chunk sealed as last).
//
// # Content
//
// The plaintext is a sequence of records:
//
//	0x01 || seed (32)                                      identity: the Ed25519 peer key's seed (RFC 8032); first, once
//	0x02 || key length u32 || key || value length u32 || value    one store entry
//	0x03 || entries u64 || bytes u64                       end: the count of entries and of their key and value bytes; last
//
// The first record is the identity and no other record is; then any
// number of entries, in the store's order, keys strictly increasing in
// bytewise order (a key sorts before every longer key it begins), each
// key 1 to MaxKeySize (65536) bytes and a go-datastore key ("/" first,
// no "/" last unless it is "/"; nothing else is checked), each value 0 to
// MaxValueSize (67108864) bytes; then the end record, whose counts are the
// number of entries and the sum of their key and value lengths (not of
// their record lengths); then nothing. The entries are every key of the
// store at the snapshot, unfiltered: the vault's keys at the root and the
// mesh state under /mesh (internal/store/layout.go); the vault's
// /meta/header among them names the header's vault ID (Restore opens
// that vault with the password and refuses one whose ID is not the
// header's, ErrMalformed). The restored node's peer ID is that of the
// seed's public key (internal/wire/doc.go, "Peer IDs").
//
// Content breaking these rules authenticates, so only a faulty writer or a
// key holder makes it: ErrMalformed, whichever rule (a record type other
// than 1, 2, 3 where a record starts; an identity elsewhere than first; a
// length over its limit or an empty key, refused on the length field,
// before the bytes are read; a key out of order or repeated; end counts
// that differ; anything after the end record; the content ending before
// the end record, or inside a record: the chunk stream says where the
// content ends, so this is not ErrTruncated). A reader checks every length
// before allocating for it, and a value's buffer grows with the bytes that
// actually arrive (valueStep (1048576) at a time), so a declared length
// costs nothing until its bytes are there. A reader decodes the content
// as its chunks open, reading no byte ahead of the record it decodes, so
// of two failures the one earlier in the file is the answer: a malformed
// record in chunk 0 is ErrMalformed even if chunk 3 is altered; after
// the end record, the reader reads on to make sure nothing follows,
// which opens a chunk that comes after it (ErrAltered if it does not
// open). Write refuses to write an entry
// over MaxKeySize or MaxValueSize (ErrTooLarge), so every backup it makes
// can be read.
//
// # Errors
//
// Every error a reader returns wraps one of these (errors.Is):
//
//	ErrNotBackup        not a backup: empty, or another magic
//	ErrVersion          a format version other than 1
//	ErrTruncated        cut inside the header, after the header, or at a chunk boundary
//	ErrHeader           a header field breaks a rule; no "password" wrap, or a malformed one
//	vault.ErrBadPassword  the password does not open the wrap (or the wrap or vault ID was altered)
//	ErrAltered          a chunk does not open (above)
//	ErrMalformed        the content breaks a rule, or restores a vault that is not the header's
//
// Restore also returns ErrLiveHome (the destination holds an identity.key
// or a store/), home.ErrAlreadyRunning, and the errors of the disk and of
// the restored vault (vault.ErrCorrupt ...). Write returns ErrTooLarge and
// vault.ErrLocked. Inspect, which reads without the password, returns the
// header's errors, ErrTruncated for a file without a chunk and ErrAltered
// for a final piece of 16 bytes or less; it authenticates nothing.
//
// Memory: Write holds one chunk of plaintext and one of ciphertext (the
// pebble iterator's block aside), whatever the store's size; Restore one
// chunk each way, one key and value, and one store batch
// (restoreBatchBytes (4194304) bytes of entries, and the value that
// crosses it).
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
// (home.ErrAlreadyRunning). It checks, in this order, the header, the
// destination, the key (the password wrap, then the password) and chunk
// 0, and writes nothing until all four pass; a file that breaks several
// rules gets the first one's error. The home is then
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
