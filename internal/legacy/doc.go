// Package legacy reads exports of the legacy management-server vault and
// imports them into a home node's vault (mesh migrate, issues #30 and #31).
//
// The format's specification is docs/legacy-vault.md at the module root:
// a JSON object with a header (format, version, account, exported_at, a
// KDF of scrypt or PBKDF2-SHA256 with its salt and parameters, the
// cipher, a password check) and a list of records (id, name, type,
// descriptive fields, created and updated times, and the value, and an
// OAuth token's refresh token, each sealed with AES-256-GCM under a key
// derived from the user's legacy password, with additional data binding
// the record's id, name, type and field), closed by an HMAC-SHA256 over
// the header and the whole record list in order. This package follows
// it: ParseExport checks the structure and every limit below without the
// password; Export.Open derives the keys (parameters checked first),
// checks the password, opens every sealed field and checks the MAC, and
// returns the secrets only if all of it holds; Seal writes an export.
//
// Decryption happens in the process that runs the import, on the user's
// machine or container: the management server never sees a plaintext.
// Decrypted values are kept in byte slices, never strings, and wiped
// (WipeAll) when the import ends.
//
// Import writes the secrets through a Target (localapi.Backend: the
// running node, or the vault opened directly). It compares each record
// with the vault before writing it (the vault is the journal: a secret
// already there with the same value and description counts as done),
// then writes it, reads it back and compares. So a re-run after a crash resumes
// where it stopped and a re-run after success imports nothing. A name the
// vault holds with another value is never overwritten silently: by
// default the legacy secret is imported as NAME.legacy (RenameSuffix),
// else skipped (Skip) or, only when asked, overwritten (Overwrite).
//
// # Limits
//
// Every bound an export is held to, checked before the work or the
// allocation it bounds; TestDocNumbersMatchTheConstants checks this table
// against limits.go.
//
//	name                 value       unit     what it bounds
//	MaxExportBytes       67108864    bytes    the export file (64 MiB)
//	MaxRecords           100000      records  the record list
//	MaxIDLen             128         bytes    a record's id
//	MaxFieldLen          1024        bytes    account, provider, username, one scope, a time
//	MaxScopes            256         scopes   an oauth_token's scope list
//	MinSaltLen           16          bytes    the KDF salt, at least
//	MaxSaltLen           64          bytes    the KDF salt, at most
//	MaxScryptLogN        20          log2     scrypt's N (N ≤ 2^20)
//	MaxScryptR           32          -        scrypt's r
//	MaxScryptP           16          -        scrypt's p
//	MaxScryptMemory      268435456   bytes    scrypt's memory, 128·N·r (256 MiB)
//	MaxScryptWork        1073741824  bytes    scrypt's work, 128·N·r·p (1 GiB)
//	MaxPBKDF2Iterations  10000000    rounds   PBKDF2-SHA256's iterations
//	ivLen                12          bytes    an AES-GCM IV (exactly)
//	tagLen               16          bytes    an AES-GCM tag (sealed data is at least tag + 1 byte)
//	macLen               32          bytes    the check and the mac (exactly)
//
// A sealed field holds at most vault.MaxSecretBytes (1 MiB) plus its tag.
// Over a limit, the export is refused with ErrFormat before any key is
// derived, so a hostile file cannot make the node run scrypt with
// N = 2^30 or allocate past the file's own size.
package legacy
