// Package revocation makes a capability token invalid before it expires:
// signed revocation records and the Set every verifier consults, kept in a
// go-datastore. It does no networking: protocols/revgossip carries records
// across the mesh and protocols/revsync brings late joiners up to date.
//
// # Who may revoke
//
// A revocation names a token by ID and embeds that token's envelope (the
// proof, at most capability.MaxTokenBytes, with its whole chain). The
// revoker must be the issuer of the revoked token or of one of its
// ancestors, read from the proof: anyone who granted a capability can take
// it back, and revoking a link kills every chain through it (the verifier
// checks every link against the Set). A token's own audience, a later
// delegate or a stranger has no standing (ErrNotIssuer). Only ancestors
// count because anyone could wrap a token they saw in a child of their
// own. To revoke an ancestor of a token you hold, revoke that link:
// New(key, tok.Chain()[i], now).
//
// The proof's chain must verify (signatures and delegation rules): a
// revocation of a token that can never verify is refused (ErrBadProof) so
// it cannot fill the set. Anyone can still mint tokens to themselves and
// revoke them, with as many keys as they like; the Set caps live entries
// per revoker (MaxPerRevoker), caps its total size (below), and drops each
// entry when its token expires, and Config.Admit lets relays keep only
// revocations rooted at known users. Revocation is irreversible: there is
// no un-revoke, only expiry.
//
// # Record format
//
// Envelope (CBOR map, integer keys, RFC 8949 core deterministic encoding;
// the decoder refuses anything that does not re-encode to the same bytes):
//
//	1 payload    bytes  the exact signed payload (≤ MaxPayloadBytes)
//	2 signature  bytes  Ed25519 by the revoker over
//	                    "ocmt-mesh/revocation/v1" || 0x00 || payload
//
// Payload:
//
//	1 version  uint   1
//	2 token    bytes  the revoked token's ID (SHA-256 of its envelope)
//	3 revoker  bytes  the revoker's Ed25519 peer ID (38 bytes, key inlined)
//	4 time     int    when it was revoked, unix seconds (informational)
//	5 expiry   int    the revoked token's expiry, unix seconds (must equal
//	                  the proof's: the Set collects the entry after it)
//	6 proof    bytes  the revoked token's envelope (≤ capability.MaxTokenBytes)
//
// The whole envelope is at most MaxRecordBytes; a record revoking a root
// token is about 400 bytes. Vectors are in testdata/records.json.
//
// Parse decodes and verifies a record in one call. Decode and
// VerifyCache.Verify split it in two for a caller that can drop a record
// cheaply before paying for its signatures, and verify each record once
// however often it arrives (protocols/revgossip).
//
// # The Set
//
// Set.IsRevoked (capability.RevocationChecker) is one lookup in an exact
// map under a read lock (none while the set is empty): about one hash and
// one memory read, nothing allocated. There is no Bloom filter in front of
// it: a map miss is already one hash and one probe, and the filter made
// the common "not revoked" answer 3.4 times slower than the map alone and
// took 120 KB of every empty set (BenchmarkIsRevokedVsMap,
// BenchmarkEmptySetHeap). An empty set takes about 1 KB. Entries persist
// in a go-datastore until their token's expiry plus skew, then Collect
// drops them. Every entry added gets the next version of a counter that
// never goes back; protocols/revsync serves "entries since version N"
// from it to late joiners, and Set.Recent gives the newest entries for
// protocols/revgossip's anti-entropy digest.
//
// Caps. A Set holds at most Config.MaxEntries entries and
// Config.MaxBytes bytes of records (DefaultMaxEntries, about 185 MiB of
// memory; DefaultMaxBytes, 512 MiB). Config.Relevant names the records
// that matter to this node: one that does not is refused (ErrQuota) once
// the Set is three-quarters full, so the last quarter is kept for relevant
// ones, and a relevant one is refused only at the cap, with ErrFull, which
// callers log loudly. The node's own revocations (Config.Self) are never
// refused for the caps. No entry is dropped to make room; Open trims
// non-relevant entries, newest first, from a store that loads past the
// three-quarter mark. protocols/revgossip decides which records a home
// node admits at all (relevant ones, or others from its infrastructure).
//
// Set's Config.OnAdd lets a role act the moment a record is in force
// (relays cut what a revoked relay-access capability admitted).
//
// # Gossip
//
// Records travel the mesh on protocols/revgossip (topic, validation, floods).
package revocation
