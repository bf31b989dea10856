// Package vault is the home node's secret store: a master key wrapped by a
// password-derived key, records sealed with XChaCha20-Poly1305 under keys
// derived from it, and a hash-chained audit log of every sensitive operation.
//
// # At-rest format (version 1)
//
// Everything lives in one go-datastore (pebble on disk, written with fsync;
// the in-memory datastore in unit tests), under these keys:
//
//	/meta/header          vault header: "OCMTVLT\x01" || vault ID (16)
//	/meta/wrap/password   password wrap (see below)
//	/meta/failures        failed-unlock counter: count u32 || last unix-nano i64
//	/meta/audit-head      last audit seq u64 || its hash (32)
//	/rec/NS/NAME          record envelope (see below)
//	/audit/SEQ            audit record, JSON, SEQ = 16 hex digits
//
// A password wrap is 130 bytes, big-endian integers:
//
//	magic "OCMTWRP\x01" (8) | kdf id = 1, Argon2id (1) | time u32 | memory KiB u32
//	| threads u8 | salt (16) | nonce (24) | sealed master key (32+16)
//
// The KEK is HKDF-SHA256(Argon2id(password, salt, t, m, p), salt,
// "ocmt-mesh/vault-kek/v1"). The AAD of the sealed master key is
// "ocmt-mesh/wrap/v1" || vault ID || the wrap's bytes up to the nonce, so the
// KDF parameters are authenticated. On read, parameters above m = 1 GiB,
// t = 16 or p = 16 are refused before any work is done, so a tampered header
// cannot become a memory or CPU denial of service.
//
// A record envelope is "OCMTREC\x01" (8) | version u64 | nonce (24) | ciphertext.
// Its key is HKDF(master, vault ID, "ocmt-mesh/record/v1/" + namespace) and its
// AAD is "ocmt-mesh/record/v1" || vault ID || len||namespace || len||name ||
// version, so a blob copied under another name, namespace or vault fails to
// open. Names are metadata and are stored in the clear in the key; values,
// passwords and keys never are.
//
// # Failure behaviour
//
// A wrong password and a tampered wrap give the same ErrBadPassword. Each
// failed attempt doubles the wait before the next one (250 ms, capped at
// 30 s); the counter lives in the datastore, so restarts don't reset it.
// Every sensitive operation writes its audit record in the same atomic batch
// as its data (or before returning data, for reads); if the audit record
// cannot be written, the operation fails.
package vault
