// Package agenthost is the home node's AI agents (issue 13): the node
// wires it, and it wires package agent (policies, call counters,
// approvals, the digest), internal/agentsock (the agent socket, MCP),
// internal/broker (brokered secret use, the memory index) and
// internal/notify (alerts) to the node's vault, signer and shares.
//
// It stands alone because it is a job made of jobs, with its own loop
// (SweepEvery), its own store namespace (/agents) and its own records in
// the vault (namespace "agents"); the node gives it a Config of hooks and
// embeds the Service, whose methods are localapi.Agents.
//
// # Agents
//
// mesh agent add makes the agent's key on the CLI's side (the node never
// holds an agent's private key) and sends its peer ID. The node builds
// the policy (agent.Policy: the ceiling, read and list by default, never
// delete, admin or share; the paths; the secrets it may use) and issues
// the key one token per path, with the ceiling's actions but use, and one
// per secret, with use alone, each valid DefaultValidity (7776000 seconds,
// 90 days) unless --for says otherwise, each carrying the ceiling. The
// node renews them in the last quarter of their life (RenewWithin),
// while its vault is unlocked, revoking the old ones. The
// node keeps the tokens: an agent proves its key on the socket and the
// node presents the token that covers the call, so the token never leaves
// the node and the agent holds nothing it could hand on.
//
// # A call
//
// Every tool call on the agent socket, in this order:
//
//  1. the connection proved the key of an agent of this node (agentsock's
//     handshake; a removed agent's key is refused);
//  2. the call is counted, per agent and per token (agent.Counters); a
//     locked agent's call, and the call that locks it, are refused, and
//     the lock raises its alert once: an audit record, an event on the
//     owner's stream, and a webhook message;
//  3. agent.Policy.Authorize: the policy allows the action on the path,
//     the token carries a ceiling within the policy, and capability
//     verification of the token for the call (time, revocation, audience,
//     owner, every ceiling of its chain) holds;
//  4. the vault does the work, under the actor "agent:NAME", so each read
//     and write has its own audit record.
//
// A refusal at steps 2 or 3 is an MCP tool error in words for the agent,
// and an agent.refused audit record naming the agent, the reason, the
// action and the path, through an auditlimit.Coalescer so a flood of
// refusals writes a bounded number of records. Calls are written to the
// audit log as one agent.calls record per agent and clock hour (at the
// hour's end, at mesh digest, at rm and at stop), so the digest's numbers
// are sums over the audit log.
//
// The agent's vault reads do not touch the node's idle clock: an agent
// never keeps the vault unlocked.
//
// # Approvals
//
// request_share and, unless the policy trusts the agent with it,
// use_secret file an approval (agent.Approvals). Only the owner decides,
// on api.sock (mesh approve, mesh deny): the agent socket has no tool that
// decides. An approved share is issued by the node's Share, as mesh share
// would. An approved secret use allows one call of that agent with that
// secret to that host, within the approval TTL of the decision; the
// spent ones are marked in the store (/agents/spent/ID) before the call is
// made, so a restart never allows a second call, and the marks go with
// their approvals.
//
// # Secrets and memory
//
// A secret's allowlist (mesh secret allow NAME URL...) is sealed in the
// vault as "endpoints/NAME": where a secret may go has the vault's
// integrity and rollback protection. The broker reads the secret itself,
// injects it, and redacts it from the answer. With --embeddings-model the
// secret also embeds memory notes ("memory-config"): notes are resources
// memory/ID, their vectors a broker.Index sealed as "memory-index",
// written at most every SweepEvery; an index loaded finds the notes it
// lacks (after a crash) and embeds at most MaxCatchUp (1024) of them.
// memory_search needs read on memory/** and use of the embeddings secret;
// each hit is verified against the agent's token and read from the vault
// (audited), so a search shows only notes the agent may read.
//
// # Stored agents
//
// /agents/a/NAME holds one agent in canonical CBOR (internal/wire), at
// most maxAgentRecord (16384) bytes:
//
//	key  field    type            rule
//	1    version  uint            = recordVersion (1)
//	2    name     text            agent.ParseName
//	3    key      text            the agent key's peer ID
//	4    actions  uint            the ceiling, ≤ 0xff; agent.Policy.Validate
//	5    paths    array of text   1 to agent.MaxPolicyPaths patterns
//	6    trusted  uint, opt.      agent.Ops trusted without approval
//	7    tokens   array of bytes  1 to agent.MaxPolicyPaths tokens, each issued by this node to the key
//	8    added    int             unix seconds, 1 to maxUnix (253402300799)
//
// A record that breaks a rule is logged and ignored at load.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name                 value         unit         what it bounds
//	DefaultValidity      7776000       seconds      an agent's tokens without --for (90 days)
//	RenewWithin          4             -            tokens renewed in the last 1/4 of their life
//	SweepEvery           5             seconds      the service's tick
//	SaveEvery            300           seconds      writing the call counters
//	maxAgentRecord       16384         bytes        a stored agent
//	maxConfigRecord      16384         bytes        a sealed allowlist or memory configuration
//	eventBuffer          64            events       one event stream's backlog before drops
//	MaxEventSubscribers  16            streams      event streams open at once
//	MaxMemoryHits        100           notes        the hits one memory_search reads back
//	embedBatch           64            notes        one embeddings call of the catch-up
//	MaxCatchUp           1024          notes        notes embedded when an index loads
//	recordVersion        1             -            the stored agent's version
//	maxUnix              253402300799  seconds      a stored time
package agenthost
