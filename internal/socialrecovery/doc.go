// Package socialrecovery is a home node's social recovery, K of N
// friends, and the recovering device's run. The keys and signed messages
// are internal/recovery's; the wire between a device and a friend's node
// is protocols/recoverywire (whose doc.go also gives the mail format).
//
// # The flow
//
//  1. The owner (mesh recovery social --friends a,b,c,d,e --threshold 3,
//     vault unlocked) resolves the friends' handles, deals a fresh
//     recovery key among them (internal/recovery EnableSocial: Feldman
//     VSS, each share sealed to its friend's peer key, each delivery
//     signed by the owner), enables the vault's "social" wrap with it
//     (its meta, carried by every backup's header, names the friends,
//     their commitments, the threshold and the waiting period), and mails
//     each friend its share (sealed again to the friend, through the
//     bootstrap's mailbox; what cannot be mailed waits in the outbox and
//     is mailed again every DefaultRetryEvery (30) seconds).
//
//  2. A friend's node takes the share from its mailbox (locked or not):
//     it checks the owner's signature, that the dealing names it, that the
//     share opens with its key and matches the commitments, and keeps the
//     signed delivery in its vault (namespace "recovery", named by the
//     owner's peer ID). While the vault is locked the delivery waits in
//     the clear store (sealed to the node's key) and moves into the vault
//     at the next operation after an unlock. A newer delivery from the
//     same owner replaces the older.
//
//  3. The recovering device (RecoverDevice; mesh recover --social) reads
//     the meta from a backup's header, makes a device key and a signed
//     request naming it (both kept in the new home folder, so a second
//     run continues), delivers the request to each friend live (through
//     the friend's relays), else by mail, and mails it to the owner's old
//     peer ID: the old node, if alive, records it and warns. It prints the
//     request's verification code.
//
//  4. Each friend lists the request (mesh recovery requests), compares
//     the code with the owner out of band, and approves (mesh recovery
//     help ID, vault unlocked): the node re-seals its share to the
//     device at once (internal/recovery Release) and keeps the release,
//     to hand it over from the later of the request's arrival and its
//     own time, plus the waiting period the owner's share delivery names.
//
//  5. The owner's old node may veto (mesh recovery veto ID, locked or
//     not): it signs a veto and delivers it to every friend, live or by
//     mail. A friend that takes a veto drops its release and never hands
//     it over.
//
//  6. The device fetches the releases (recoverywire fetch: only the
//     request's device may), checks each (a friend the dealing names,
//     this request, a share that opens with the device's key and matches
//     the commitments), and once the threshold is met restores the backup
//     into the new home with the recovery key and a new password, then
//     tells every friend (recoverywire done, else by mail). Each friend
//     records the outcome.
//
// # Limits
//
//	name                 value   unit      what it bounds
//	DefaultMaxPerOwner   8       requests  requests a node keeps for one owner
//	DefaultMaxRequests   256     requests  requests a node keeps in all
//	DefaultMaxHeld       64      owners    owners whose shares a node keeps
//	DefaultMaxOutbox     32      items     share deliveries waiting to be mailed again
//	Keep                 3196800 seconds   how long a request is kept after it arrived (MaxRequestAge + MaxWait)
//	DefaultRetryEvery    30      seconds   how often the outbox is mailed and pending shares settle
//	liveTimeout          20      seconds   reaching a peer live, before the mailbox
//	minIDPrefix          8       chars     the shortest request ID prefix help and veto take
//
// Device keys are free, so a stranger can make any number of requests:
// a request for an owner whose share the node does not hold is refused
// (NotFound), and those it takes are capped per owner and in all
// (Unavailable when full; a request past Keep is deleted). Share
// deliveries are free too (anyone may mail one naming this node): at most
// DefaultMaxHeld owners are kept. Refusals caused by others are audited
// through internal/auditlimit (a bounded number of records a minute).
//
// # Store
//
// In the node's clear store, under /recovery/social:
//
//	req/ID          a request (ID: hex of SHA-256 of the signed request),
//	                canonical CBOR: 1 the signed request, 2 arrival (unix
//	                s), 3 mine, 4 approved (unix s), 5 ready-at (unix s),
//	                6 the signed release, 7 vetoed (unix s), 8 first
//	                handed over (unix s), 9 recovered (unix s), 10 replayed
//	held/OWNER      an owner whose share is kept: 1 handle, 2 the
//	                delivery's time, 3 wait (s), 4 threshold, 5 friends,
//	                6 pending (the share waits for an unlock)
//	pending/OWNER   the owner's signed share delivery, until the next unlock
//	outbox/PEER     a share delivery sealed to friend PEER, to mail again
//
// A release is sealed to the device's key, and a pending share to the
// node's own: neither opens with the store alone. The vault holds the
// shares; the bootstrap sees only sealed mail.
//
// # Replays and staleness
//
// A request is identified by the hash of its signed bytes. A request the
// node already holds is not a new one: delivering it again changes
// nothing and answers its state (the first replay of each is audited,
// recovery.social.replayed). A request dated more than
// recovery.MaxRequestAge ago, or more than recovery.MaxClockSkew ahead,
// is refused (Expired); one not yet approved expires at that age. Since a
// request is kept for Keep, longer than it stays fresh, a replay is
// always either known or stale.
//
// # Audit
//
// Every step is an audit record in the vault of the node where it
// happens: recovery.social.enable (the owner), recovery.social.share (a
// friend takes a share), recovery.social.request (a friend, or the owner's
// old node, takes a request, with its code), recovery.social.help,
// recovery.social.release (the release is first handed over),
// recovery.social.veto (the owner vetoes; a friend takes the veto),
// recovery.social.outcome (the device said it recovered),
// recovery.social.replayed, and recovery.social.refused (coalesced). The
// vault's own records (vault.recovery.enable, the restore) come with
// them.
package socialrecovery
