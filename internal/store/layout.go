package store

import (
	"context"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// The key map of every role's store (DIR/store). A role writes only under
// the namespaces listed for it; node's tests scan the stores of running
// roles and fail on any key outside them (see Documented).
//
// Home node (mesh node): the vault at the root (vault/doc.go specifies
// each of its keys), the mesh state under /mesh.
//
//	/meta/header             vault header (format version, vault ID)
//	/meta/wrap/password      the master key wrapped by the password KEK (with its KDF params)
//	/meta/failures           failed-unlock count and the time of the last failure
//	/meta/audit-head         the audit chain's head (keyed)
//	/meta/audit-pub          where records written while locked seal their key
//	/meta/audit-keys         earlier key generations' audit keys, sealed
//	/meta/index              the keyed summary of record versions (rollback check)
//	/meta/ver/NS/NAME        one record's version
//	/meta/rotating           a key rotation under way or unfinished
//	/rec/NS/NAME             one sealed record (secrets, resources), NAME base64url
//	/rec/_gN/NS/NAME         the same, under key generation N (after mesh passwd --rotate-key)
//	/audit/SEQ               one audit record, keyed hash chain
//	/mesh/profile/handle     the handle this node claims (clear: it is public)
//	/mesh/grants/issued/ID   a capability this node issued (JSON, clear: bound to its audience)
//	/mesh/grants/received/ID a capability this node holds (JSON)
//	/mesh/contacts/HANDLE    a pinned handle → peer ID (trust on first use)
//	/mesh/uses/ID            uses of a max-uses token (count, until)
//	/mesh/uses/mark          the replay store's high-water mark of time
//	/mesh/dht/...            kad-dht client state
//	/mesh/revocations/...    the revocation set (capability/revocation)
//	/mesh/revoutbox/ID       own revocations no infrastructure peer has taken yet
//	/mesh/snapshots/pushed/RES  what the node pushed of its resource RES to relays' caches (internal/cached)
//	/mesh/snapshots/seen/OWNER/RES  the highest manifest version read of another owner's RES (rollback check)
//	/agents/a/NAME           an AI agent: its policy and the tokens issued to its key (internal/agenthost)
//	/agents/counters/...     the agents' call counters and locks (package agent)
//	/agents/approvals/ID     an agent's request for the owner's approval (package agent)
//	/agents/digest-sent      the last week whose digest went to the webhook
//	/agents/spent/ID         an approved secret use already spent (one call per approval)
//	/recovery/social/req/ID      a social recovery request this node received, its state and release (internal/socialrecovery)
//	/recovery/social/held/OWNER  an owner whose recovery share this node keeps as a friend (the share itself is in the vault)
//	/recovery/social/pending/OWNER  a share taken while the vault was locked, sealed to this node's key, until the next unlock
//	/recovery/social/outbox/PEER a share delivery, sealed to the friend, waiting to be mailed again
//
// Bootstrap (mesh bootstrap):
//
//	/directory/handle/H      signed directory record by handle
//	/directory/peer/ID       the handle a peer ID holds
//	/directory/decoy/secret  the key decoys are derived from (protocols/directory, "Decoys"); never leaves the store
//	/directory/decoy/relays/T  the relays decoys issued from time T name
//	/directory/decoy/kept/SLOT  a decoy handed out (its handle and peer ID), so lookup-peer and mail answer for it
//	/mailbox/...             sealed mail waiting for offline peers (dht.Mailbox)
//	/kad/...                 kad-dht server state (provider records)
//	/mesh/revocations/...    the revocation set
//	/mesh/revoutbox/ID       (empty on infrastructure; the service is shared)
//
// Relay (mesh relay):
//
//	/kad/...                 kad-dht server state (provider records)
//	/mesh/revocations/...    the revocation set, relay-access revocations included
//	/mesh/revoutbox/ID       (as on the bootstrap)
//	/cache/b/CID             a cached snapshot block: ciphertext (internal/blockcache)
//	/cache/a/CID             its accounting: recency, size, pusher
//	/snapshots/OWNER/RES     the current signed manifest of each cached (owner, resource) (protocols/snapshot)
//	/wake/...                the homes asleep here and the sealed halves of their resume keys (protocols/wake)
//
// Group vault (mesh groupvault):
//
//	/mesh/profile/handle     the handle the peer claims
//	/mesh/dht/...            kad-dht client state
//	/mesh/revocations/...    the revocation set
//	/mesh/revoutbox/ID       (as on the bootstrap)
//	/groups/g/NAME/...       the groups it keeps (internal/groupvault "Store")
//
// Every role keeps its revocation state at the same place. Home nodes kept
// it at /revocations and /revoutbox, and relays kept kad-dht's provider
// records at the root, before this layout: Migrations moves them.
var (
	// Mesh is the home node's mesh state.
	Mesh = ds.NewKey("/mesh")
	// Uses holds a home node's counts of max-uses token uses.
	Uses = ds.NewKey("/mesh/uses")
	// MeshDHT is a home node's kad-dht client state.
	MeshDHT = ds.NewKey("/mesh/dht")
	// Revocations holds every role's revocation set.
	Revocations = ds.NewKey("/mesh/revocations")
	// MeshSnapshots is a home node's cached-tier state: its push records
	// (pushed/) and the manifest versions it has read (seen/).
	MeshSnapshots = ds.NewKey("/mesh/snapshots")
	// RevocationOutbox holds every role's unpushed own revocations.
	RevocationOutbox = ds.NewKey("/mesh/revoutbox")
	// Directory, Mailbox and Kad are the bootstrap's services (Kad also the relay's).
	Directory = ds.NewKey("/directory")
	Mailbox   = ds.NewKey("/mailbox")
	Kad       = ds.NewKey("/kad")
	// Cache and Snapshots are the relay's snapshot cache: blocks and
	// their accounting, and the current manifests.
	Cache     = ds.NewKey("/cache")
	Snapshots = ds.NewKey("/snapshots")
	// Wake is the relay's wake state: the homes asleep here and the
	// sealed halves of their resume keys (protocols/wake).
	Wake = ds.NewKey("/wake")
	// Agents is a home node's AI agents: their records, call counters
	// and approvals (internal/agenthost).
	Agents = ds.NewKey("/agents")
	// Groups is a group vault peer's groups (internal/groupvault).
	Groups = ds.NewKey("/groups")
)

// Role names a store's owner in Documented.
type Role string

// Roles.
const (
	HomeNode   Role = "home"
	Bootstrap  Role = "bootstrap"
	Relay      Role = "relay"
	GroupVault Role = "groupvault"
)

// layout lists the top-level namespaces each role may write.
var layout = map[Role][]string{
	HomeNode:   {"/meta/", "/rec/", "/audit/", "/mesh/profile/", "/mesh/grants/issued/", "/mesh/grants/received/", "/mesh/contacts/", "/mesh/uses/", "/mesh/dht/", "/mesh/revocations/", "/mesh/revoutbox/", "/mesh/snapshots/", "/agents/", "/recovery/"},
	Bootstrap:  {"/directory/", "/mailbox/", "/kad/", "/mesh/revocations/", "/mesh/revoutbox/"},
	Relay:      {"/kad/", "/mesh/revocations/", "/mesh/revoutbox/", "/cache/", "/snapshots/", "/wake/"},
	GroupVault: {"/mesh/profile/", "/mesh/dht/", "/mesh/revocations/", "/mesh/revoutbox/", "/groups/"},
}

// Documented reports whether key is under a namespace the layout gives
// role.
func Documented(role Role, key string) bool {
	for _, p := range layout[role] {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Move renames every key under From to the same suffix under To.
type Move struct{ From, To ds.Key }

// Migrations are the moves each role's store gets at open, oldest first.
var Migrations = map[Role][]Move{
	HomeNode: {
		{ds.NewKey("/revocations"), Revocations},
		{ds.NewKey("/revoutbox"), RevocationOutbox},
	},
	Relay: {
		{ds.NewKey("/providers"), Kad.ChildString("providers")},
	},
}

// Migrate applies role's moves to s in one batch, so a crash leaves the old
// layout or the new one. A store already in the new layout is left alone.
func Migrate(ctx context.Context, s ds.Batching, role Role) (moved int, err error) {
	b, err := s.Batch(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range Migrations[role] {
		res, err := s.Query(ctx, query.Query{Prefix: m.From.String()})
		if err != nil {
			return 0, err
		}
		entries, err := res.Rest()
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			k := ds.RawKey(e.Key)
			if !m.From.IsAncestorOf(k) {
				continue // a sibling such as /revocationsX
			}
			to := m.To.Child(ds.RawKey(strings.TrimPrefix(e.Key, m.From.String())))
			if err := b.Put(ctx, to, e.Value); err != nil {
				return 0, err
			}
			if err := b.Delete(ctx, k); err != nil {
				return 0, err
			}
			moved++
		}
	}
	if moved == 0 {
		return 0, nil
	}
	if err := b.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: moving %d keys to the current layout: %w", moved, err)
	}
	return moved, nil
}
