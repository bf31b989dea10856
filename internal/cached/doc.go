// Package cached is the home node's side of the cached tier: as an owner
// it keeps sealed snapshots (internal/snapshot) of what it shares at the
// relays it holds reservations on (protocols/snapshot push), and as a
// grantee it reads an offline owner's snapshot from those relays.
//
// # Owner
//
// A resource is cached when an active share that allows read covers it.
// Its snapshot is sealed to the owner and to the audience of every such
// share (delegates of a grantee are not known to the owner: they read
// live), under a fresh file key each time, so a grantee revoked since the
// last snapshot cannot open the next one. A snapshot is pushed:
//
//   - when the resource is written (mesh put);
//   - when a share is created or revoked, for every resource the share
//     covers (a revoked grantee is left out of the next snapshot; a
//     resource nobody may read any more is resealed to the owner alone);
//   - on demand (mesh snapshot push [PATTERN]);
//   - when half of the manifest's lifetime (DefaultLifetime) has passed,
//     while the node runs, so a sleeping owner's copies stay readable for
//     at least half a lifetime after it stopped.
//
// Work that cannot be done yet (the vault is locked, or no relay holds a
// reservation for the node) stays pending and is retried every RetryEvery
// and as soon as it can be. Each push is recorded in the node's store
// (what version, to how many readers, at which relays, when, and the
// error of a relay that refused): mesh snapshot status prints it.
//
// Versions are the unix nanoseconds of sealing, or one more than the last
// version pushed, whichever is higher, so they grow across restarts
// without a counter kept apart.
//
// A deleted resource's record is dropped; the copies at the relays stay
// readable by its current grantees until the manifest expires (revoking
// the share refuses them at once).
//
// # Grantee
//
// When an owner's node cannot be reached, Reader asks each relay its
// directory record names, in order, for the snapshot, presenting the
// share's token. It checks everything the relay sends (internal/snapshot:
// signature, version against the highest seen, recipients, every block's
// CID) and returns the plaintext with where it came from, the version and
// when the owner sealed it. A relay that refuses the token (revoked,
// expired) is an answer: the reader stops and says so.
//
// # Push record
//
// The owner's record of a push is stored at /OWNER-STORE/pushed/RESOURCE
// (resource in unpadded base64url) as a CBOR map, canonical
// (internal/wire), at most MaxRecordBytes (DecodeRecord is fuzzed):
//
//	key  name     type    rule
//	1    version  uint    ≥ 1
//	2    size     uint    sealed bytes
//	3    readers  uint    recipients, the owner included
//	4    created  int     unix seconds of sealing
//	5    expiry   int     unix seconds, the manifest's
//	6    caches   [map]   at most MaxCaches: {1: relay peer ID bytes,
//	                      2: unix seconds of the attempt, 3: error text or ""}
package cached
