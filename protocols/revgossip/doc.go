// Package revgossip is the /ocmt/revocations/1 gossipsub topic: it carries
// signed revocation records across the mesh within a second, defends every
// node against floods of forged ones, and runs the Service each role
// starts: the revocation set, the topic, the revsync server, the sync
// loop that catches up with the infrastructure, and the outbox that
// carries a node's own revocations to it.
//
// # Topic
//
//	/ocmt/revocations/1
//
// # Version changelog
//
//	1  first version: one revocation record per message.
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
// nodes. An ignored record is not marked seen by gossipsub, so the same
// record from a trusted neighbour is still judged when it comes (records
// over 1 KiB excepted: the IDONTWANT the first copy triggered may hold it
// back, and the next sync brings it). The set's caps
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
// inspector and the options above, the topic, and a revsync server whose
// pushed records are published like gossiped ones, if the admission rule
// keeps them from the pusher. Config.Admit, Config.OnAdd and the caps go
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
// Outbox: Revoke keeps the node's own revocation in a durable outbox
// (under /revoutbox) before it puts it in force and publishes it, then
// pushes the outbox to every infrastructure peer (revsync push, bounded by
// FlushTimeout) in the background, and again after every successful sync.
// A record leaves the outbox once a peer took it, or when it no longer
// parses or its token expired. Gossip alone would lose a revocation if the
// node died between signing and publishing, and infrastructure peers
// never pull from home nodes.
package revgossip
