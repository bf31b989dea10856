// Package translog is the directory's transparency log: the pure core of
// issue 17, without networking. The bootstrap appends an entry for every
// directory record it accepts to an append-only Merkle log, signs
// checkpoints of it, and answers each lookup with the record, an inclusion
// proof and its latest checkpoint. Peers verify the proof before they use
// or pin a key, gossip the checkpoints they have seen, ask the log for
// consistency proofs between them, and keep both signed checkpoints as
// evidence when the log shows two views.
//
// # Leaves
//
// A leaf is the canonical CBOR (RFC 8949 core deterministic encoding;
// internal/wire's strict decoder) of a map with integer keys:
//
//	1  version            unsigned, 1
//	2  handle commitment  bytes, 32: HMAC-SHA256(salt, "ocmt-mesh/translog-handle/v1" || handle)
//	3  peer ID            bytes: the record's peer ID (an Ed25519 identity multihash)
//	4  seq                unsigned: the record's sequence number
//	5  record hash        bytes, 32: SHA-256 of the signed record's bytes
//
// The salt is a secret of SaltSize (32) bytes that only the bootstrap
// keeps. A lookup answer carries the handle's commitment, the leaf's index,
// the inclusion proof and the checkpoint; the client encodes the leaf from
// the commitment and the record it was given (Leaf.Matches) and verifies
// its inclusion. We chose salted HMAC over a VRF: a VRF would let a client
// check that the commitment belongs to the handle it asked for, but no VRF
// is in the module's dependencies and an HMAC adds none; the client instead
// checks the record itself, which is signed by its owner and names the
// handle. What the HMAC does not give: a client cannot tell that the
// bootstrap used one commitment per handle (two leaves for one handle under
// two commitments would look like two handles). A home node watching its
// own handle learns its commitment from its own lookups and so can watch
// that commitment's leaves.
//
// # What an observer of the log learns
//
// Someone who sees every leaf and checkpoint learns the number of records,
// and for each record its peer ID, its sequence number, a hash of the
// signed record and an opaque 32-byte commitment; entries that share a
// commitment are the same handle. The observer does not learn handles: the
// commitment is keyed by the bootstrap's secret salt, so guessing handles
// against it needs the salt. A lookup reveals, to whoever sees the answer,
// the commitment of the handle looked up. Whoever also holds a record (the
// directory's DHT records are public) can link it to its leaf by the
// record hash, and so learns that record's handle from the record, not from
// the log. If the salt leaks, the log becomes as enumerable as the handles
// are guessable; rotating it means starting a new log.
//
// # Tree and proofs
//
// The tree is RFC 6962's (transparency-dev/merkle, rfc6962 with SHA-256):
// a leaf hashes as SHA-256(0x00 || leaf), an interior node as
// SHA-256(0x01 || left || right), and the empty tree's root is SHA-256 of
// nothing. Inclusion and consistency proofs are RFC 6962's. On the wire a
// proof is a CBOR array of at most MaxProofHashes (72) byte strings of
// HashSize (32) bytes each, at most MaxProofBytes (2450) bytes. At 10^6
// leaves an inclusion proof is 20 hashes: 640 bytes of hashes, 681 encoded.
//
// A Log keeps its leaves and the root of every perfect subtree in a
// Store: MemStore in memory, or DatastoreStore in a go-datastore (the
// bootstrap's pebble store), which writes a leaf, the nodes it completes
// and the new size in one batch.
//
// # Checkpoints
//
// A checkpoint is a signed note (golang.org/x/mod/sumdb/note) whose text
// is the checkpoint of transparency-dev/formats/log:
//
//	ocmt-mesh/directory/<bootstrap peer ID>
//	<tree size, decimal>
//	<root hash, standard base64>
//
// followed by a blank line and exactly one signature line,
// "— <origin> <base64(key hash || Ed25519 signature)>", made with the
// bootstrap's peer key. The key's note name is the origin, and the key hash
// is the first four bytes of SHA-256(origin || "\n" || 0x01 || public key)
// as x/mod/sumdb/note defines. ParseCheckpoint accepts only this form: no
// extension lines, no other signature, no other encoding, at most
// MaxCheckpointBytes (512) bytes, and a tree of size 0 only with the empty
// root. The note's text never contains a NUL byte and every keys.Message
// does, so no checkpoint signature verifies as any other signature of the
// peer key, nor the reverse.
//
// # Witness and forks
//
// A Witness keeps the latest verified checkpoint of each bootstrap (at most
// MaxWitnessedLogs (64) logs). Observe compares a new checkpoint with it:
//
//	same size, same root        same
//	same size, other root       fork (ForkSameSize)
//	larger, proof verifies      advanced: the new one is the latest
//	smaller, proof verifies     older: the latest stays
//	proof does not verify       fork (ForkInconsistent)
//
// The first checkpoint of a log is trusted on first use. A failure to fetch
// a consistency proof is an error, not a fork. Fork evidence is the
// canonical CBOR map {1 version (1), 2 kind (1 same size, 2 inconsistent),
// 3 first signed checkpoint, 4 second signed checkpoint, 5 the failed
// consistency proof (kind 2 only, omitted when empty)}, at most
// MaxForkBytes (3506) bytes; for kind 2 the first is the smaller tree.
// DecodeFork verifies both signatures against the bootstrap the origin
// names and that they show a fork. Kind 1 proves itself; kind 2 shows that
// the log gave a proof that failed, and anyone can challenge the log for a
// proof between the two sizes, which an honest log always has. A Witness
// keeps at most MaxForks (16) pieces of evidence.
//
// # Vectors
//
// testdata/vectors.json holds fixed inputs, good and bad, of every format
// above: a handle commitment with its salt, leaves, checkpoints, an
// inclusion proof, proofs and fork evidence (regenerate with -update).
//
// # Limits
//
//	HashSize            32    SHA-256
//	SaltSize            32    HMAC-SHA256 key
//	MaxLeafBytes        256   the largest leaf is about 130 bytes
//	MaxCheckpointBytes  512   the largest checkpoint is about 300 bytes
//	MaxProofHashes      72    a tree of 2^64 leaves needs at most 65
//	MaxProofBytes       2450  MaxProofHashes hashes of 34 encoded bytes and a 2-byte head
//	MaxForkBytes        3506  two checkpoints, a proof and the map's heads
//	MaxWitnessedLogs    64    a mesh has a handful of bootstraps
//	MaxForks            16    the first one is already the alarm
//	leafVersion         1     the leaf format
//	forkVersion         1     the fork evidence format
//
// # Errors
//
// ErrMalformed: bytes that are not a leaf, proof or fork evidence.
// ErrBadCheckpoint: a checkpoint that is malformed, of another log or not
// signed by its bootstrap. ErrProof: a proof that does not verify.
// ErrLeafMismatch: a leaf that does not commit to the looked-up record.
// ErrRange: an index or size beyond the log. ErrTooManyLogs: a Witness
// already following MaxWitnessedLogs logs.
package translog
