// Package groupwire is the /ocmt/group/1 protocol between home nodes and a
// group vault peer: a group's admins create it, offer the signed approvals
// that unlock it for a window, read and write its secrets, read its audit
// chain and approve changes of its admins; its members (invited by an
// admin, holding a group capability the vault issued) read and write its
// secrets within their role. Each group also has a gossipsub topic on
// which the vault publishes its audit records as it writes them.
//
// This comment is the specification of the protocol. The encoding rules
// (frames, canonical CBOR, peer IDs, statuses) are internal/wire's
// doc.go, the reply envelope internal/exchange's, and the capability
// token format capability's. The encodings this protocol carries as
// opaque bytes — a group's commitments, a sealed share, an approval, an
// audit record, a membership change's digest, a schedule's text — are
// specified in package group's doc.go; this text refers to them and does
// not repeat them. The vault's side (what each op does, its store) is
// internal/groupvault; what it answers is written here.
//
// # Protocol ID
//
//	/ocmt/group/1
//
// # Version changelog
//
//	1  first version: create, info, share, approve, relock, get, put,
//	   list, remove, audit, change; invite, accept, decline, expel,
//	   members; the audit topic.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name                 value         unit      what it bounds
//	MaxAdmins            16            admins    a group's admins, so a create's sealed shares (group.MaxAdmins)
//	MaxCommitmentsBytes  2048          bytes     a group's encoded commitments (group's maxCommitmentsBytes)
//	MaxSealedShareBytes  1024          bytes     one sealed share (group's maxSealedShareBytes)
//	MaxApprovalBytes     2048          bytes     an encoded approval (group's maxApprovalBytes)
//	MaxChangeBytes       1024          bytes     an encoded membership change (Changes, below)
//	MaxValueBytes        65536         bytes     a secret's value (group.MaxSecretBytes)
//	MaxNameLen           128           bytes     a secret's name (group.MaxSecretNameLen)
//	MaxScheduleLen       512           bytes     a schedule's text (group's maxScheduleLen)
//	MaxRecordBytes       1024          bytes     one audit record (group's maxRecordBytes)
//	MaxAuditPage         64            records   one audit reply
//	MaxListNames         512           names     one list reply
//	MaxLabelLen          64            bytes     an invitee's label
//	MaxMembers           256           members   a group's members and pending invitees, admins aside
//	MaxMembership        31622400      seconds   how long a membership lasts, at most (366 days)
//	MaxWindow            86400         seconds   a group's default unlock window, at most (group.MaxWindow)
//	MaxGroupNameLen      64            bytes     a group's name (group.MaxGroupNameLen)
//	PeerIDLen            38            bytes     a peer ID (internal/wire "Peer IDs")
//	MaxTokenBytes        4096          bytes     a capability token's envelope (capability)
//	maxUnix              253402300799  seconds   any time: 9999-12-31T23:59:59Z
//	MaxRequest           73728         bytes     a request frame's body (MaxValueBytes + MaxTokenBytes + 4096)
//	MaxResponse          73728         bytes     a reply frame's body (MaxNameLen × MaxListNames + 8192)
//	Timeout              60            seconds   one exchange (a change's re-split runs inside it)
//	peerRate             10            req/s     one peer's sustained request rate
//	peerBurst            40            requests  one peer's burst
//	maxLimited           4096          peers     peers the rate limiter remembers
//	maxInFlight          64            requests  requests served at once, all peers
//
// # Message flow
//
// One request and one reply per stream (internal/exchange): the client
// opens a stream (allowed over limited relay connections), writes one
// request frame of at most MaxRequest (73728) bytes, closes its write
// side, and reads one reply frame of at most MaxResponse (73728) bytes;
// each exchange is bounded by Timeout (60) seconds, on both sides. The
// client is a Client (the vault's peer ID, the group's name and, for a
// member, its group capability); each of its methods is one exchange.
//
// The server acts for the authenticated remote peer, the peer ID that the
// libp2p secure channel proved: no field names the asking peer. Before
// the request reaches this protocol, internal/exchange answers a
// malformed frame prefix (BadRequest), a declared length over MaxRequest
// (TooLarge) and a request whose memory the resource manager refuses
// (Unavailable). The server then answers a request in this order, and the
// first refusal is the reply:
//
//  1. the remote peer's token bucket: peerRate (10) requests a second, a
//     burst of peerBurst (40), over at most maxLimited (4096) peers (when
//     full it starts over, which at worst gives a flood of new peers a
//     fresh burst) — RateLimited;
//
//  2. the requests being served, all peers: at most maxInFlight (64) at
//     once — Unavailable;
//
//  3. the canonical decode of the request (internal/wire "CBOR") —
//     BadRequest;
//
//  4. the op, one of the sixteen below — BadRequest otherwise;
//
//  5. the group's name (Requests) — BadRequest;
//
//  6. the fields per op (Requests), field by field in key order: the
//     first required field missing or refused field present — BadRequest,
//     in a message naming the op and the field ("a put request needs a
//     value", "a get request takes no value");
//
//  7. each present field's rule, in key order (the table of Requests;
//     the first broken is the reply) — TooLarge or BadRequest as the table
//     says; then the member, which must be a peer ID, and then each sealed
//     share's size — BadRequest;
//
//  8. the op's own checks and work (Operations).
//
// A server being closed takes no new stream (it resets one that races
// the close) and waits for the requests it is serving.
//
// # Requests
//
// Request (CBOR map, integer keys, ≤ MaxRequest bytes), decoded
// canonically: an optional field is present only with a non-empty value,
// and unknown fields, duplicate keys, indefinite lengths and tags are
// refused (BadRequest):
//
//	key  name         type     rule
//	1    op           uint8    required; 1 create, 2 info, 3 share, 4 approve,
//	                           5 relock, 6 get, 7 put, 8 list, 9 remove,
//	                           10 audit, 11 change, 12 invite, 13 accept,
//	                           14 decline, 15 expel, 16 members
//	2    group        text     required; the group's name: 1 to
//	                           MaxGroupNameLen (64) bytes of a-z, 0-9 and
//	                           "-", starting with a letter (CheckGroupName)
//	3    commitments  bytes    the group's commitments (group), at most
//	                           MaxCommitmentsBytes (2048) bytes — TooLarge
//	4    shares       [bytes]  one sealed share per admin, in the admins'
//	                           order: at most MaxAdmins (16) — BadRequest;
//	                           each 1 to MaxSealedShareBytes (1024) bytes,
//	                           checked last — BadRequest
//	5    window       int      the default unlock window in seconds, 1 to
//	                           MaxWindow (86400) — BadRequest
//	6    schedule     text     a schedule (group "Schedules"), at most
//	                           MaxScheduleLen (512) bytes, printable —
//	                           BadRequest
//	7    approval     bytes    a signed approval (group), at most
//	                           MaxApprovalBytes (2048) bytes — TooLarge
//	8    name         text     a secret's name (list: the name to list
//	                           after), at most MaxNameLen (128) bytes,
//	                           printable — BadRequest
//	9    value        bytes    a secret's value, at most MaxValueBytes
//	                           (65536) bytes — TooLarge
//	10   release      int      Unix seconds before which the secret is not
//	                           served, 1 to maxUnix — BadRequest
//	11   from         uint     the first audit height asked for (any value)
//	12   change       bytes    a membership change (Changes), at most
//	                           MaxChangeBytes (1024) bytes — TooLarge
//	13   member       bytes    a peer ID, PeerIDLen (38) bytes, checked
//	                           after the rules of keys 14 to 17 — BadRequest
//	14   role         text     "read" or "write" — BadRequest
//	15   label        text     the handle the inviter typed, at most
//	                           MaxLabelLen (64) bytes, printable — BadRequest
//	16   for          int      how long the membership lasts, in seconds, 1
//	                           to MaxMembership (31622400) — BadRequest
//	17   token        bytes    a group capability's envelope (capability),
//	                           at most MaxTokenBytes (4096) bytes — TooLarge
//
// The rules are checked in key order 3 to 17 (member aside, as said),
// so a put whose name is too long and whose value is too large is
// BadRequest (the name's), and an invite whose member is not a peer ID
// and whose label is too long is refused for its label. Printable here
// means no control character (below U+0020, U+007F to U+009F), no line
// or paragraph separator (U+2028, U+2029) and no bidirectional control
// (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069): names
// and labels go into audit records, which refuse them (the text is
// valid UTF-8 by the CBOR rules). Op 0 and ops 17 to
// 255 are unknown (BadRequest); an op above 255 does not fit uint8 and is
// malformed (BadRequest too).
//
// Fields per op (R required, O optional, - refused; op and group are
// required by all). A member presents its group capability in token
// where the op allows one; an admin sends none.
//
//	op           3  4  5  6  7  8  9  10 11 12 13 14 15 16 17
//	1  create    R  R  R  O  -  -  -  -  -  -  -  -  -  -  -
//	2  info      -  -  -  -  -  -  -  -  -  -  -  -  -  -  O
//	3  share     -  -  -  -  -  -  -  -  -  -  -  -  -  -  -
//	4  approve   -  -  -  -  R  -  -  -  -  -  -  -  -  -  -
//	5  relock    -  -  -  -  -  -  -  -  -  -  -  -  -  -  -
//	6  get       -  -  -  -  -  R  -  -  -  -  -  -  -  -  O
//	7  put       -  -  -  -  -  R  R  O  -  -  -  -  -  -  O
//	8  list      -  -  -  -  -  O  -  -  -  -  -  -  -  -  O
//	9  remove    -  -  -  -  -  R  -  -  -  -  -  -  -  -  O
//	10 audit     -  -  -  -  -  -  -  -  O  -  -  -  -  -  -
//	11 change    -  -  -  -  R  -  -  -  -  R  -  -  -  -  -
//	12 invite    -  -  -  -  -  -  -  -  -  -  R  R  O  O  -
//	13 accept    -  -  -  -  -  -  -  -  -  -  -  -  -  -  R
//	14 decline   -  -  -  -  -  -  -  -  -  -  -  -  -  -  R
//	15 expel     -  -  -  -  -  -  -  -  -  -  R  -  -  -  -
//	16 members   -  -  -  -  -  -  -  -  -  -  -  -  -  -  -
//
// The columns are the keys of the table above: 3 commitments, 4 shares,
// 5 window, 6 schedule, 7 approval, 8 name, 9 value, 10 release, 11 from,
// 12 change, 13 member, 14 role, 15 label, 16 for, 17 token.
//
// # Operations
//
// To a peer that is neither an admin nor a member of a group, the group
// does not exist: every op but create, accept and decline answers
// NotFound ("this vault keeps no group … that you belong to") in the same
// words for a group that exists and for one that does not. The admins
// are those the group's commitments name; a member is a peer an admin
// invited and that accepted. A member may make info, get, put, list and
// remove, presenting its capability (token): without one —
// Unauthorized; another token than the one on record — NotFound; one
// that does not allow the op's action (info and list: list; get: read;
// put: write; remove: delete) — Forbidden; revoked — Revoked; out of its
// window — Expired. Every other op by a member, and share by anyone but
// an admin, is NotFound. Before each op on a group the vault notices a
// window that has ended (it wipes the key and audits the re-lock).
// Every approval (taken or refused), opening, re-lock, read, write,
// deletion, invitation, acceptance, refusal, expulsion and change is a
// record of the group's audit chain, written in one batch with what it
// records (a read's record before the value leaves); if that write
// fails, the op fails (Internal).
//
//   - create (anyone, or the peers the vault's operator names — Forbidden
//     otherwise): the commitments must parse (group) — BadRequest, name
//     the request's group — BadRequest, and name the remote peer among
//     the admins — Forbidden; one share per admin — BadRequest; a window
//     of group.MinWindow to MaxWindow — BadRequest; a schedule that parses
//     (group "Schedules") — BadRequest. A group of that name already kept
//     — Conflict; the vault's most groups, or the creator's most groups —
//     TooLarge. The group starts locked. Body: none.
//   - info (admin or member): body Info, the group as the asking peer may
//     see it, its role included.
//   - share (admin): body ShareReply, the asking admin's share as sealed
//     to that admin at the dealing (the vault cannot open it).
//   - approve (admin): the approval must parse — BadRequest — and be
//     signed by the remote peer — Forbidden. The group's lock then
//     refuses it (group "Unlock window"; audited as a refusal) with the
//     status of its error: malformed — BadRequest; stale — Expired;
//     replayed, or the group already open — Conflict; too many nonces —
//     RateLimited; any other (bad signature, not an admin, another
//     purpose, outside the schedule, a bad share) — Forbidden. The
//     approval that brings the threshold opens the group. Body: Info.
//   - relock (admin): the group is locked at once and its key wiped (a
//     no-op when locked). Body: Info.
//   - get (admin, or member with read): a secret's name that group's
//     CheckSecretName refuses — BadRequest; the group locked — Locked,
//     saying how many admins must approve; no such secret — NotFound; a
//     release time still ahead — Forbidden, saying until when. The read
//     is audited before the value leaves. Body: Secret.
//   - put (admin, or member with write): the name as for get —
//     BadRequest; locked — Locked; a new secret in a group at the vault's
//     most secrets — TooLarge. The value is sealed under the group key
//     with its release time, replacing a secret of that name. Body: none.
//   - list (admin or member): the group's secret names in byte order,
//     from the first after name (all from the first without it), at
//     most MaxListNames (512); listed while locked too (names are
//     metadata). A full page means more may follow: ask again after its
//     last name. Body: List.
//   - remove (admin, or member with delete): the name as for get —
//     BadRequest; locked — Locked; no such secret — NotFound. Body: none.
//   - audit (admin): the audit records from height from (0 and 1 both
//     mean the first) to the head, at most MaxAuditPage (64), in order,
//     with more set when records follow the page. Body: AuditPage.
//   - change (admin): the approval as for approve (BadRequest, Forbidden);
//     the change must parse (Changes) and pass group's Change.Check —
//     BadRequest. The vault counts the approvals of each change's digest
//     (group "Membership changes", bound to the group's name and current
//     dealing), a few changes per group at once (the oldest is dropped
//     for a new one), refusing an approval as for approve (audited). The
//     approval that brings the threshold deals a new key among the new
//     admins, seals each their share, re-seals every secret under the new
//     key, and commits it all with its record; the group is then locked,
//     under its new commitments. Body: Info.
//   - invite (admin): the member must be a peer ID — BadRequest — and not
//     an admin — Conflict; a new member when the group has MaxMembers
//     (256) members and invitations — TooLarge. The vault issues the
//     invitee a group capability (audience the member, resource
//     "groups/" and the group's name, actions read and list, and write
//     and delete for the role "write", from now for the asked time, or
//     the vault's default without one), and records the invitation,
//     pending until accepted; it replaces and revokes an earlier
//     invitation or membership of the same peer. Body: Invitation, the
//     token, which the inviter's node delivers to the invitee.
//   - accept (the invitee): the token must be the one on record for the
//     remote peer, and the invitation not past the vault's time to accept
//     — NotFound otherwise; it must verify for read — Unauthorized (does
//     not parse), Revoked, Expired, Forbidden. The member is then no
//     longer pending (accepting again changes nothing). Body: Info.
//   - decline (the invitee or a member): checked as accept; the
//     invitation or membership ends and its capability is revoked. Body:
//     none.
//   - expel (admin): the member must be a peer ID — BadRequest — and a
//     member or invitee — NotFound; the membership or invitation ends
//     and its capability is revoked. Body: none.
//   - members (admin): body Members, the members and the invitations not
//     yet past their time to accept, in the byte order of their peer IDs.
//     An invitation past its time is dropped, its capability revoked and
//     the lapse audited, when the group next takes an invitation.
//
// Any other failure of the server is Internal, with no message. Statuses
// a group server sends: BadRequest, Unauthorized, Forbidden, NotFound,
// TooLarge, RateLimited, Revoked, Expired, Locked, Internal, Conflict,
// Unavailable; every message is a sentence for a person and never holds
// a secret's value or a share.
//
// # Replies
//
// Reply bodies (inside exchange.Reply field 3, status OK), each a CBOR map
// decoded canonically; an optional field is absent when zero:
//
//	create, put, remove, decline, expel: no body
//	info, approve, relock, change, accept: Info
//	share: ShareReply
//	get: Secret
//	list: List
//	audit: AuditPage
//	invite: Invitation
//	members: Members
//
// Info:
//
//	key  name         type     rule
//	1    commitments  bytes    required; the group's commitments (group),
//	                           1 to MaxCommitmentsBytes bytes
//	2    window       int      required; the default unlock window, seconds
//	3    schedule     text     optional; the schedule's canonical text
//	4    unlocked     bool     optional; true while the group is open
//	5    until        int      optional; when open: the window's end, Unix seconds
//	6    approvers    [bytes]  optional; when open: the admins whose
//	                           approvals opened it, in share order; peer IDs,
//	                           at most MaxAdmins
//	7    pending      [bytes]  optional; the admins whose approvals wait;
//	                           peer IDs, at most MaxAdmins
//	8    height       uint     required; the audit chain's height (0: empty)
//	9    head         bytes    optional; the chain head's hash, 32 bytes
//	                           (absent at height 0)
//	10   role         text     required; the asking peer's role: "admin",
//	                           "read" or "write"
//	11   secrets      uint     optional; how many secrets the group holds
//
// ShareReply:
//
//	1    sealed       bytes    required; the sealed share, 1 to
//	                           MaxSealedShareBytes bytes
//
// Secret:
//
//	1    value        bytes    required; the value, at most MaxValueBytes bytes
//	2    release      int      optional; its release time, Unix seconds,
//	                           at most maxUnix
//
// List:
//
//	1    names        [text]   required; at most MaxListNames names, each 1
//	                           to MaxNameLen bytes, printable
//
// AuditPage:
//
//	1    records      [bytes]  required; at most MaxAuditPage encoded audit
//	                           records (group "Audit records"), each 1 to
//	                           MaxRecordBytes bytes
//	2    more         bool     optional; true when records follow the page
//
// Invitation:
//
//	1    token        bytes    required; the invitee's group capability, 1
//	                           to MaxTokenBytes bytes
//
// Members:
//
//	1    members      [map]    required; at most MaxMembers Member maps
//
// Member:
//
//	1    peer         bytes    required; the member's peer ID
//	2    role         text     required; "read" or "write"
//	3    pending      bool     optional; true until the invitee accepts
//	4    label        text     optional; the inviter's label, at most
//	                           MaxLabelLen bytes, printable
//	5    until        int      required; when the capability ends, Unix
//	                           seconds, ≥ 0
//
// A client (ParseReply) refuses a body that breaks these rules —
// BadRequest: in Info, commitments empty or too long, a head that is
// not 32 bytes at a height above 0 or present at height 0, a window not
// 1 to MaxWindow seconds, an until outside 0 to maxUnix or present
// exactly when not unlocked, more than MaxAdmins approvers or pending,
// one of them not a peer ID, or another role; a sealed share empty or too long; a
// value too long or a release time outside 0 to maxUnix; a list too
// long or a name empty, too long or not printable; an audit page too
// long or a record empty or too long; a token empty or too long; too
// many members, one whose peer is not a peer ID, or whose role, label or
// until breaks its rule. The client checks the audit records themselves
// (their signatures and chain) with package group's Chain, not here.
//
// # Audit gossip
//
// Each group has a gossipsub topic,
//
//	/ocmt/group/1/audit/VAULT/GROUP
//
// (AuditTopic) where VAULT is the vault peer's ID in its text form and
// GROUP the group's name. The vault publishes each audit record there,
// its encoding as the message's data, as it commits it; the group's
// admins subscribe to learn at once and fetch with audit what they
// missed. JoinAudit joins the topic with its validator: a message is
// accepted only when its publisher (From, authenticated by the message's
// signature under gossipsub's strict signing, which every mesh pubsub
// uses) is the vault and its data is 1 to MaxRecordBytes (1024) bytes;
// any other is rejected, neither delivered nor forwarded. The relaying
// peer does not matter. The records' own signatures and chain are
// checked by whoever reads them (group's Chain).
//
// # Changes
//
// A membership change (field 12) is a CBOR map, decoded canonically by
// ParseChange:
//
//	key  name       type     rule
//	1    admins     [bytes]  required; the new admins' peer IDs in share
//	                         order, 2 to MaxAdmins
//	2    threshold  uint     required; the new threshold, 2 to the number
//	                         of admins
//	3    window     int      optional; the new default window in seconds,
//	                         at most MaxWindow; absent keeps the current one
//
// Any failure is BadRequest. These are the form's rules; the vault then
// applies group's Change.Check (at least MinThreshold, at most the
// admins, distinct admins, a window of MinWindow or more when given).
// What the admins sign is not this encoding but the change's digest
// (group "Membership changes"), which adds the group's name and its
// current dealing's ID.
package groupwire
