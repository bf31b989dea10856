// Package agent makes AI agents principals of the home node, limited,
// slowed and watched: each agent has a policy (a ceiling of actions and
// the paths it may reach), its calls are counted per agent and per token
// against a learned baseline that locks it on a spike, and what it may
// not do alone (sharing, using a secret) waits for the user's approval.
//
// The package decides; the node acts. It holds no key and no secret
// value: the node proves each call's key, issues tokens, writes the audit
// records and raises alerts from what this package returns.
//
// This comment is the specification of the package's rules and of its
// two stored formats, the call series and the approvals. Canonical CBOR
// is internal/wire's; tokens, actions, patterns and ceilings are
// capability's; handles are protocols/directory's. This text refers to
// them and does not repeat them.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name                     value          unit       what it bounds
//	MaxNameLen               32             bytes      an agent's name
//	MaxPolicyPaths           16             patterns   the paths of one policy
//	DefaultFactor            100            times      a spike: the last hour over this times the baseline
//	DefaultMinPerHour        500            calls      the fewest in the last hour that can lock an established agent
//	DefaultNewAgentCap       200            calls      the most in the last hour of a new agent
//	NewAgentAge              259200         seconds    the history that makes an agent established (3 days)
//	tokenMinHistory          86400          seconds    the history before a token's own spikes are judged
//	AlphaPercent             20             percent    the EWMA smoothing constant α
//	maxIdleFeedHours         24             hours      empty hours one clock step teaches the baseline
//	minuteBuckets            60             buckets    the last minute, by second
//	hourBuckets              60             buckets    the last hour, by minute
//	dayBuckets               24             buckets    the last day by clock hour, and the hours of day
//	baselineScale            1000           per call   a stored baseline's fixed point (thousandths)
//	maxBaselineMilli         4294967295000  ‰ calls    a stored baseline
//	DefaultMaxAgents         1024           agents     agents tracked
//	DefaultMaxTokens         4096           tokens     tokens tracked (least recently used forgotten)
//	maxSeriesRecord          2048           bytes      a stored series
//	MaxReasonLen             256            bytes      a lock's reason
//	DefaultApprovalTTL       900            seconds    a pending approval's life (15 minutes)
//	MinValidity              60             seconds    the shortest share an agent may ask for
//	MaxValidity              31536000       seconds    the longest (365 days)
//	MaxPendingPerAgent       16             approvals  one agent's pending approvals
//	DefaultMaxApprovals      1024           approvals  approvals stored, decided ones included
//	KeepDecided              86400          seconds    how long a decided approval is kept
//	IDBytes                  8              bytes      an approval ID's randomness (16 hex digits)
//	MaxTargetLen             253            bytes      the host of a secret-use approval
//	maxApprovalRecord        1024           bytes      a stored approval
//	DefaultSubscriberBuffer  64             events     a subscriber's backlog before drops
//	MaxSubscribers           64             subs       event subscribers at once
//	recordVersion            1              -          the version of both stored records
//	maxUnix                  253402300799   seconds    any stored time: 9999-12-31T23:59:59Z
//
// # Names
//
// An agent's name is 1 to MaxNameLen (32) bytes of a-z, 0-9 and "-",
// starting with a letter ("helper", "mail-bot"). It keys the stored
// series and names the agent in every approval, refusal and audit record.
//
// # Policy
//
// A policy is the agent's name, its key (an Ed25519 peer ID: the
// audience of every token it holds and the key each call is proved
// with), its ceiling and 1 to MaxPolicyPaths (16) resource patterns. The
// ceiling is a capability action set without delete, admin and share
// (the token format's ceiling rule); the default is read and list
// (capability.DefaultAgentCeiling). A policy can also trust the agent with
// secret use without approval; issuing a capability always needs one.
//
// Policy.Check allows one action on one path when the action is in the
// ceiling and a policy pattern matches the path. Whatever the ceiling and
// paths, an agent may only use a secret: every other action on a path or
// pattern whose first segment is "secrets" (SecretsRoot) or a wildcard is
// refused (ReasonScope), so no token, listing or share ever hands an
// agent a secret's value. CheckPattern allows a set
// of actions on a pattern when the actions are in the ceiling and the
// pattern is within a policy pattern: the rule for a token issued to the
// agent (Grant, which also sets the token's ceiling and audience) and for
// what an agent asks to share or use.
//
// Authorize decides one call, in this order, the first failure a
// *Refusal naming the agent, the action, the path and a Reason:
//
//  1. the key the call was proved with is the policy's (ReasonKey);
//  2. the policy allows the action on the path (ReasonCeiling, ReasonScope);
//  3. the token's chain carries a ceiling, and the intersection of its
//     ceilings is within the policy's (ReasonToken): a token without a
//     ceiling was not made for an agent;
//  4. capability verification of the chain (ReasonToken, keeping the
//     capability sentinel), whose step 4 holds every link within every
//     ceiling at or above it: ceilings hold through delegation chains.
//
// Steps 1 to 3 spend nothing, so a refused call never uses up a token's
// budget. As a ceiling never holds share, a ceiling-bearing token cannot
// be delegated at all (capability.Issue refuses with ErrNoShare): an
// agent's ceiling can sit only on the leaf of a chain.
//
// # Counters
//
// Every call of an agent is counted twice: in the agent's series and in
// the series of the token it used. A series is fixed in size, whatever
// the calls: three rings, the last minute by second (minuteBuckets, 60),
// the last hour by minute (hourBuckets, 60) and the last day by UTC clock
// hour (dayBuckets, 24), and 24 baselines, one per UTC hour of day. All
// run on the injected clock; a clock that goes back counts into the
// newest buckets. The last hour, the spike window, is the sum of the
// minute ring: a sliding hour at one-minute resolution.
//
// # Baseline
//
// When a clock hour ends, its count teaches its hour of day's baseline b,
// an exponentially weighted moving average with α = AlphaPercent (20)
// percent: the first sample sets b, each later one sets b ← b + α·(n − b).
// Empty hours teach zeros; one step of the clock teaches at most
// maxIdleFeedHours (24) hours, the hour that ended included, so a step is
// O(1) and a month idle teaches one day of zeros. An hour in which the agent was locked is never learned,
// so a spike does not raise the bar for the next one; nor are the hours
// while the node was down (the first step after a restart learns nothing).
//
// The reference the last hour is judged against at time t is the largest
// of b(hour of t), b(the hour before, which the sliding hour spans) and
// the mean of every learned b (so an hour usually idle is judged against
// the day, not against zero).
//
// With α = 0.2 and growth by a factor g per day, the reference trails the
// rate by (g − 1 + α)/α: a baseline doubling in a week (g = 2^(1/7),
// about 1.104) gives 1.52, far below DefaultFactor (100).
//
// # Auto-lock
//
// After a call is counted, an agent is locked when:
//
//   - it has less than NewAgentAge (259200) seconds of history, counted
//     from its first call, and its last hour holds more than the new-agent
//     cap, DefaultNewAgentCap (200) calls by default; or
//   - it is established, its last hour holds at least MinPerHour
//     (DefaultMinPerHour, 500) calls and more than Factor (DefaultFactor,
//     100) times its reference; or
//   - the token used has tokenMinHistory (86400) seconds of history, and
//     the same rule holds for the token's own series.
//
// The call that locks is refused with a *LockedError whose New is true:
// the node audits it and raises the alert once. A locked agent's calls
// are refused and not counted. The lock (its reason in words, its time,
// whether it was automatic) is written to the store at once and holds
// across restarts until Unlock, which clears the agent's last minute and
// last hour so the same spike does not lock it again.
//
// At most MaxAgents agents are tracked (DefaultMaxAgents, 1024; another
// agent's call is refused) and MaxTokens tokens (DefaultMaxTokens, 4096;
// the least recently used token's series is forgotten, never an agent's).
//
// # Stored counters
//
// Counters.Save writes changed series to the datastore it was given (and
// a lock or unlock is written at once). Keys: "/a/NAME" for an agent,
// "/t/ID" for a token, ID being the token ID in 64 lowercase hex digits.
// The value is a CBOR map, decoded canonically (wire.UnmarshalCanonical),
// at most maxSeriesRecord (2048) bytes:
//
//	key  field     type          rule
//	1    version   uint          = recordVersion (1)
//	2    first     int           unix seconds of the first call, ≥ 1
//	3    last      int           unix seconds the rings were moved to, first ≤ last ≤ maxUnix
//	4    seconds   array of uint exactly 60: calls per second, ring index unix mod 60
//	5    minutes   array of uint exactly 60: calls per minute, index (unix/60) mod 60
//	6    hours     array of uint exactly 24: calls per clock hour, index (unix/3600) mod 24
//	7    baseline  array of uint exactly 24: b per hour of day in thousandths, ≤ maxBaselineMilli
//	8    learned   uint, opt.    bit h set when b(h) has a sample, < 2^24; 0 where unset
//	9    skip      int, opt.     the hour (unix/3600) never learned, ≤ last/3600
//	10   agent     text, opt.    a token's record: its agent's name; absent in an agent's
//	11   lock-at   int, opt.     unix seconds of the lock; absent when not locked
//	12   auto      true, opt.    the lock was the detector's
//	13   reason    text, opt.    the lock's reason, ≤ MaxReasonLen bytes; present iff lock-at is
//
// Each count is a uint32 (it saturates). A token's record has no lock. A
// record that breaks a rule is deleted when the counters open, and
// counted (Dropped).
//
// # Approvals
//
// An agent that wants to share a resource or, unless trusted, use a
// secret files a Request: for OpIssue the handle to share with, a pattern,
// actions and a validity of MinValidity (60) to MaxValidity (31536000)
// seconds; for OpSecretUse one secret's path, the use action and the
// lowercase DNS name of the host the call goes to (at most MaxTargetLen
// (253) bytes). The pattern and actions must pass the agent's
// CheckPattern: an agent never asks for more than it can reach. The
// approval gets IDBytes (8) random bytes as its ID, 16 lowercase hex
// digits, and expires after the TTL (DefaultApprovalTTL, 900 seconds).
// Its intent is written from the fields ("share calendar/* with bob:
// read, for 7 days"), never taken from the agent.
//
// States: pending, then approved or denied by the owner, or expired when
// the injected clock reaches the expiry first (expired counts as
// denied). Expiry is applied by every call and by Sweep. One agent has
// at most MaxPendingPerAgent (16) pending; the store holds at most
// DefaultMaxApprovals (1024), forgetting decided approvals after
// KeepDecided (86400) seconds or, when full, the one decided first.
//
// Each change publishes an Event (asked, approved, denied, expired) to
// every subscriber without waiting: a subscriber whose backlog of
// DefaultSubscriberBuffer (64) events is full misses the event, which its
// Dropped counts. At most MaxSubscribers (64) subscribe at once.
//
// # Stored approvals
//
// Key "/ID". The value is a CBOR map, decoded canonically, at most
// maxApprovalRecord (1024) bytes:
//
//	key  field     type        rule
//	1    version   uint        = 1
//	2    id        text        16 lowercase hex digits, = the key's
//	3    agent     text        an agent's name
//	4    op        uint        1 (issue) or 2 (secret use)
//	5    audience  text, opt.  issue: a handle; absent for a secret use
//	6    resource  text        a pattern (issue) or a path (secret use)
//	7    actions   uint        a valid action set; exactly use (0x40) for a secret use
//	8    validity  int, opt.   issue: seconds, MinValidity to MaxValidity; absent otherwise
//	9    target    text, opt.  secret use: the host; absent for an issue
//	10   created   int         unix seconds, ≥ 1
//	11   expires   int         unix seconds, created < expires ≤ maxUnix
//	12   state     uint        1 pending, 2 approved, 3 denied, 4 expired
//	13   decided   int, opt.   absent iff pending; ≥ created; = expires when expired
//
// A record that breaks a rule is deleted when the approvals open, and
// counted.
//
// # Audit records and the digest
//
// The node writes an audit record (vault.AuditEntry) for what happens to
// agents, built by this package so that the weekly digest can read them
// back:
//
//	op                builder         actor                 target          outcome
//	agent.add         AddEntry        the owner's           NAME            ok
//	agent.rm          RemoveEntry     the owner's           NAME            ok
//	agent.calls       CallsEntry      agent:NAME            NAME            ok
//	agent.refused     RefusedEntry    agent:NAME            the path asked  denied
//	agent.lock        LockEntry       the owner's, or       NAME            denied
//	                                  auto-lock (anomaly)
//	agent.unlock      UnlockEntry     the owner's           NAME            ok
//	approval.ask      ApprovalEntry   agent:NAME            the approval ID ok
//	approval.approve  ApprovalEntry   the owner's           the approval ID ok
//	approval.deny     ApprovalEntry   the owner's           the approval ID denied
//	approval.expire   ApprovalEntry   node                  the approval ID denied
//	secret.use        SecretUseEntry  agent:NAME            the secret's name ok, or failed
//
// A calls record covers one agent's calls in one UTC clock hour that had
// calls (refused ones included), and how many of them were refused
// because the agent was locked: a locked agent's refusals are counted
// there, not in refused records. A refused record stands for one refused
// call, or for a summary of a minute's (count above 1). A secret use is
// ok when the host answered 100 to 399, failed otherwise (status 0: no
// answer).
//
// A record's Detail is fields, then optionally ": " and words:
//
//	detail = field *(" " field) [": " words]
//	field  = key "=" value
//	key    = a-z, then a-z, 0-9 or "-"; each key at most once
//	value  = printable ASCII without the space, possibly empty, not ending with ":"
//
// so the first ": " ends the fields. Times are RFC 3339 in UTC, to the
// second. Words are for a person: one line, at most MaxReasonLen (256)
// bytes (longer ones are clipped and end with "…"); the digest reads
// only a lock's. A value the node passes that breaks the rule is written
// with "?" for each bad byte. ParseDetail refuses a detail of more than
// vault.MaxAuditRecordSize bytes. Every record names its agent in the
// field agent, approval records too (their target is the ID):
//
//	op                fields                                    words
//	agent.add         agent key ceiling paths [trusted]         the policy
//	agent.rm          agent revoked                             tokens revoked
//	agent.calls       agent calls locked from to                -
//	agent.refused     agent reason action count                 the refusal's message
//	agent.lock        agent auto [at]                           the lock's reason
//	agent.unlock      agent                                     -
//	approval.*        agent kind                                the approval's intent
//	secret.use        agent host status                         what the host answered
//
// ceiling and action are action names joined by "," ("-" for none),
// paths the policy's patterns joined by ",", kind "issue" or
// "secret-use", trusted "secret-use", auto "true" or "false". For
// example:
//
//	agent=helper calls=42 locked=0 from=2026-11-29T14:00:00Z to=2026-11-29T14:59:59Z
//	agent=helper reason=ceiling action=delete count=1: agent "helper" may not delete: its ceiling allows read,list only
//	agent=helper kind=issue: share calendar/** with bob: read, for 7 days
//
// No secret value reaches a record: the builders take names, paths,
// hosts and counts; an intent holds names, patterns and hosts; a
// refusal's message paths and actions.
//
// Digest counts one ISO 8601 week ("2026-W48": Monday 00:00 UTC to the
// next Monday; week 1 holds the year's first Thursday, so 2027-01-01 is
// in 2026-W53) from the audit log. It reads the records of the ops above
// and skips every other one. A calls record belongs to the week of its
// from time (the hour before Monday midnight is written after it), and
// counts its calls on that day and its locked calls as refusals with
// reason locked; every other record belongs to the week of its time. A
// record about agents whose detail does not parse, whose agent is not a
// valid name, or which lacks what its op needs (calls, locked ≤ calls
// and from; a count ≥ 1 and a reason; a valid at) is counted as
// unreadable and skipped, never fatal. Every agent with a record in the
// week is listed. The digest is written as text for a terminal,
// Markdown, or a self-contained HTML page (escaped, no script, no
// external asset; each agent's calls per day as an inline SVG bar chart).
package agent
