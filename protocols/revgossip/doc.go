// Package revgossip is the /ocmt/revocations/1 gossipsub topic: it carries
// signed revocation records across the mesh within a second, defends every
// node against floods of forged ones, and runs the Service each role
// starts: the revocation set, the topic, the revsync server, the sync
// loop that catches up with the infrastructure, and the outbox that
// carries a node's own revocations to it.
//
// # Topics
//
//	/ocmt/revocations/1  records, forwarded mesh-wide (Topic)
//	/ocmt/revdigest/1    anti-entropy digests, one hop (DigestTopic)
//
// # Version changelog
//
//	revocations/1  first version: one revocation record per message.
//	revdigest/1    first version: one Digest per message.
//
// # Message
//
// A message's data is one revocation record, exactly as signed: the
// envelope described in capability/revocation's package doc (at most
// revocation.MaxRecordBytes). Messages are signed by their publisher
// (gossipsub StrictSign), so scores and rate limits attach to real peers,
// and their ID is the SHA-256 of the record (MessageID), so the same
// revocation from two publishers is one message. Everyone joining the
// topic must use MessageID.
//
// # Validation
//
// The topic validator runs inline and decides, in this order:
//
//   - reject: over revocation.MaxRecordBytes;
//   - ignore: the neighbour is past its rate (DefaultPeerRate a second,
//     burst DefaultPeerBurst records it may make us verify);
//   - reject: not a canonical record, or its proof is not the revoked
//     token, or its revoker issued no link of the proof's chain
//     (revocation.Decode);
//   - accept: our own publish (the Service verified and added it);
//   - ignore: the token is already revoked here, or expired by the set's
//     clock and skew;
//   - reject: a signature or the proof's chain does not verify (free when
//     the record verified as its RPC arrived, see below);
//   - ignore: this node does not keep it from this neighbour: with
//     Config.Relevant set (home nodes), a record that is not relevant here
//     forwarded by a neighbour that is not Config.Trusted (see Admission);
//   - ignore: the set will not keep it (revoker over quota, not admitted,
//     past the limit for records that are not relevant, set closed, or
//     full, which is logged at error level), or another copy won the race;
//   - accept: the record is now in force here (Set.Add; a failure to
//     persist it is logged), and is forwarded.
//
// Reject is for what no honest node forwards: it costs the forwarder
// score (InvalidPenalty × count², so four forgeries put it under
// GraylistThreshold, where pubsub drops its RPCs unread) and makes it a
// suspect (below), which scores SuspectPenalty while it is one. Ignore is
// for what an honest node may forward (clocks differ, quotas differ, what
// one node keeps another does not): dropped without penalty, and neither
// stored nor forwarded. ScoreParams holds the rest of the peer-score
// choices.
//
// # Admission
//
// Infrastructure peers (bootstrap, relays) keep records rooted at
// registered users, from anyone (Config.Admit = AdmitRegistered). A home
// node keeps records relevant to it (Config.Relevant = RelevantTo: its
// own chains, the tokens it received, its contacts' roots) from anyone,
// and other records only from its infrastructure peers (Config.Trusted),
// which admitted them already. The rule is the same on every path; the
// peer it asks about is the gossip's forwarding neighbour, the server a
// sync pulls from, or the peer that pushes (see Config). On gossip the
// forwarder, not the publisher (m.GetFrom()), is asked: gossipsub
// forwards a message only once the forwarder's own validator accepted it,
// so a trusted forwarder vouches for what it forwards whoever published
// it, while most records a bootstrap forwards were published by home
// nodes. gossipsub marks a message seen before it runs the validator
// (go-libp2p-pubsub v0.19), so an ignored record is dropped as a duplicate
// when a trusted neighbour forwards it too; the trusted neighbour's next
// digest (its window holds the record; see Anti-entropy) or the next sync
// brings it. The set's caps
// (revocation.Config.MaxEntries) bound what is left, records that only
// name the node as audience, which anyone can mint: past three quarters
// only relevant records, at the cap none but the node's own.
//
// # RPC cap
//
// Every node reads gossipsub RPC frames of at most MaxRPCBytes: room for
// four records and the control messages of one small topic. A peer that
// batches more is cut off at the read, before any of the batch is
// verified, so a flood arrives in small RPCs, each checked against the
// sender's standing, and graylisting takes hold after a few of them.
//
// # Suspicion and cut-off
//
// One Budget per node defends against a neighbour flooding forgeries. It
// checks each record of a neighbour's RPC as the RPC arrives, in
// gossipsub's RPC inspector, before gossipsub queues it for validation:
// at the first forgery it drops the RPC unread (nothing in it is marked
// seen, so an honest copy of a valid record in it still arrives from
// another neighbour), marks the sender a suspect for SuspectFor and cuts
// it off (CutOff): its gossipsub streams are reset at once and its
// connections closed. For CutOffFor after that, everything it already
// sent is dropped unread and Budget.Gater, which the host is built with,
// refuses its connections in both directions. A suspect that comes back
// gets RPCBudgetRate published messages a second (burst RPCBudgetBurst);
// over that its RPCs are dropped unread and it is cut off again. Honest
// neighbours are never budgeted, so a burst of real revocations spreads at
// full speed. Records that verify on arrival are remembered
// (revocation.VerifyCache), so the validator does not check them again.
//
// The flood bound (a 10,000-message flood delays a real revocation at most
// 2×) is measured by BenchmarkFloodOverALimitedLink, which .ci/run gates;
// see docs/decisions.md.
//
// # Service
//
// Start runs it all on a host and a store: the revocation Set (under
// /revocations, see RevocationStore), gossipsub built with the Budget's
// inspector and the options above, both topics, and a revsync server
// whose pushed records (single or batch) are published like gossiped
// ones, if the admission rule keeps them from the pusher. Config.Admit, Config.OnAdd and the caps go
// to the Set: infrastructure peers keep only records rooted at registered
// users (AdmitRegistered); relays cut what a revoked relay-access
// capability admitted. Config documents how each role sets them.
//
// Sync loop: with Config.SyncFrom set, the service pulls revsync from each
// infrastructure peer at start, whenever the connection to one comes back
// (checked every PollEvery), and every SyncEvery; until a first sync
// succeeds it retries every RetryEvery. Each sync is bounded by
// SyncTimeout.
//
// First-sync gate: Ready (share.Config.Ready) holds a request until the
// set has caught up, and refuses it with wire.Unavailable after
// MaxSyncWait (the caller retries). The set counts as caught up after the
// first successful sync, at once without infrastructure peers, or at
// FirstSyncDeadline, after which a node whose infrastructure does not
// answer serves with the set it persisted.
//
// Anti-entropy: every Timings.DigestEvery the service announces a Digest
// on DigestTopic, and answers its neighbours' digests (see Anti-entropy).
//
// Outbox: Revoke keeps the node's own revocation in a durable outbox
// (under /revoutbox) before it puts it in force and publishes it, then
// pushes the outbox to every infrastructure peer (revsync push, bounded by
// FlushTimeout) in the background, and again after every successful sync.
// A record leaves the outbox once a peer took it, or when it no longer
// parses or its token expired. Gossip alone would lose a revocation if the
// node died between signing and publishing, and infrastructure peers
// never pull from home nodes.
//
// # Anti-entropy
//
// A record lost on the way (a dropped message, a node that ignored it
// from an untrusted neighbour, a node that joined the mesh a moment late)
// would otherwise wait for the next sync (SyncEvery, two minutes), and
// home nodes sync only from their infrastructure. So every node announces,
// every DigestEvery (30 s), a digest of what it added lately, and each
// neighbour that hears it pushes what the digest lacks and pulls what it
// lacks itself. A node that missed a record converges within one period of
// a neighbour that holds it.
//
// What a digest covers. A node's window is the entries its set added over
// its last digestWindow − 1 (3) periods and the current one: the entries
// whose version is above the head it had digestWindow − 1 (3) rounds ago, at
// most the newest MaxDigestIDs (4096) of them. A digest of the whole set
// would not stay compact (at 1 M entries a Bloom filter of every ID at 1%
// is 1.3 MB, sent to each neighbour every period), and what gossip loses
// is recent; what is older is the sync's, which compares versions. The
// digest also carries the node's revsync position (epoch, head), so a
// neighbour can tell whether the node added anything since it last
// looked without reading the filter.
//
// Digest (the message's data; CBOR map, integer keys, decoded canonically
// as internal/wire's doc.go says; keys 1 to 5 are required, 6 to 8 present
// exactly when ids > 0):
//
//	key  name    type   rule
//	1    epoch   bytes  required; exactly 8 bytes: the sender set's epoch (revocation.Set.Epoch)
//	2    head    uint   required; the version of the sender's newest entry (revocation.Set.Version)
//	3    count   uint   required; the sender's live entries (informational)
//	4    from    uint   required; ≤ head: the window is the versions (from, head]
//	5    ids     uint   required; the IDs in the filter: every live entry of the window,
//	                    ≤ MaxDigestIDs (4096), ≤ head − from, ≤ count
//	6    hashes  uint   1 to MaxDigestHashes (16): the filter's hash functions
//	7    salt    bytes  exactly 8 bytes, fresh for each digest
//	8    filter  bytes  the filter's bits: a multiple of 8 bytes, 8 to MaxDigestFilterBytes (8192)
//
// The whole data is at most MaxDigestBytes (8448) bytes, checked before it
// is decoded. With ids = 0 keys 6 to 8 are absent; with ids > 0 all three
// are present.
//
// The filter. For an ID (the 32-byte token ID a record revokes), let
// h = SHA-256(salt || ID), h1 its bytes 0 to 7 and h2 its bytes 8 to 15,
// each read as a little-endian unsigned 64-bit integer, and h2 with its
// lowest bit set to 1. With m = 8 × len(filter), the ID's bits are
// (h1 + i × h2 mod 2^64) mod m for i = 0 .. hashes − 1, bit j being bit
// j mod 8 (the least significant first) of byte j div 8. A sender sets
// the bits of every ID of its window; the filter "has" an ID when all its
// bits are set (always for an ID the sender put in, wrongly for some
// others). The salt makes a new hash each time, so nobody can mint tokens
// whose IDs hide behind another's bits for more than one digest. This
// node sends 10 bits an ID rounded up to whole 64-bit words and 7 hashes:
// a false-positive rate under 1%, 1.25 bytes an ID.
//
// Errors. A digest that breaks any rule above (size, canonical CBOR,
// field types, the lengths and ranges in the table, keys 6 to 8 present
// with ids = 0 or absent with ids > 0) is malformed: DecodeDigest returns
// an error wrapping ErrBadDigest, and the validator rejects it and makes
// the neighbour a suspect, as a forged record does (no honest node sends
// one; see Suspicion and cut-off).
// testdata/digests.json holds vectors (testdata/README.md).
//
// Sending. The digest is published on DigestTopic and travels one hop:
// gossipsub's flood publish sends it to every connected peer on the
// topic, and a receiver's validator acts on it and then ignores it, so it
// is neither delivered nor forwarded (and, being marked seen, not asked
// for again by IWANT). A digest whose forwarding neighbour is not its
// publisher is ignored unread.
//
// Receiving. A node that hears a well-formed digest from neighbour P
// compares it with its own window:
//
//  1. push: the IDs of its window the filter does not have are records P
//     lacks; it pushes the newest revsync.MaxPushRecords (16) of them to P
//     in one revsync batch push, skipping any it pushed to P before (P
//     judges them as it judges gossip: already held and expired ones
//     cheaply, the rest verified and put through the admission rule of
//     "Admission");
//  2. pull: if P's head has moved past where this node stands in P's set
//     and the filter holds IDs this node does not (fewer of its window's
//     IDs match than ids; a match can be false, so this errs towards not
//     pulling, and the next sync covers that), it pulls from P with
//     revsync. From an infrastructure peer that is the sync loop's pull
//     (one at a time per peer); from another peer it reads at most
//     digestPullPages (1) page, starting at the window's start the first
//     time (a digest never makes a node read a stranger's whole set).
//     When the filter holds nothing new and P's window reaches back to
//     where the node stands, the node moves its cursor in P's set to P's
//     head without reading anything (not for an infrastructure peer: a
//     false match must not make the sync loop skip a record).
//
// Bounds. Digests come from strangers, so what one can make a node do is
// bounded per peer and in total (TestDigestsFromStrangersAreBounded); the
// numbers are in Limits. The revsync server bounds the pushed records it
// verifies per peer and from all peers together (revsync.DefaultPushRate).
//
// Cost. An idle mesh (nothing revoked in the last three periods) sends
// digests of about 30 bytes of data (about 170 with gossipsub's signed
// envelope) to each connected peer every period, whatever the set's size;
// a window of n IDs adds 1.25 n bytes. BenchmarkDigestBandwidth measures
// it against a full revsync.
//
// # Limits
//
// The numbers of the digest and of what digests can make a node do;
// TestDigestDocNumbers checks them against the constants.
//
//	name                  value  unit       what it bounds
//	DigestEvery           30     seconds    the period a node announces its digest at
//	digestWindow          4      heads      heads kept: the window is the last 3 periods and the current one
//	MaxDigestIDs          4096   IDs        one digest's window
//	MaxDigestHashes       16     hashes     the filter's hash functions
//	MaxDigestFilterBytes  8192   bytes      the filter
//	MaxDigestBytes        8448   bytes      one digest message's data
//	digestsPerPeriod      2      digests    acted on per neighbour per period
//	DigestRate            20     digests/s  acted on from all neighbours together
//	DigestBurst           64     digests    the burst of DigestRate
//	digestQueue           64     digests    waiting for a worker; past it, ignored
//	digestWorkers         4      workers    answering digests at once
//	MaxPushRecords        16     records    pushed in answer to one digest (revsync.MaxPushRecords)
//	DigestPushRate        64     records/s  pushed in answer to digests, to all neighbours together
//	DigestPushBurst       256    records    the burst of DigestPushRate
//	DigestPullRate        1      pulls/s    pulls digests make from peers that are not infrastructure
//	DigestPullBurst       4      pulls      the burst of DigestPullRate
//	digestPullPages       1      pages      read by one such pull (up to 256 records)
//	maxDigestPeers        4096   peers      cursors kept for such peers (starts over when full)
//	digestActTimeout      10     seconds    the push, and a pull from a peer that is not infrastructure, answering one digest
package revgossip
