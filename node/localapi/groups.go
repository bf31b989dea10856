package localapi

import (
	"context"
	"net/http"
	"time"
)

// Groups is the part of Backend that acts in group vaults
// (internal/groupclient): the node's owner as an admin or member of
// groups kept by group vault peers. Only a running node serves it.
type Groups interface {
	// Group carries out one group command (GroupRequest.Op).
	Group(ctx context.Context, req GroupRequest) (GroupReply, error)
}

// Group commands (GroupRequest.Op).
const (
	GroupCreate = "create" // Group, Vault, Admins, Threshold, Window, Schedule
	GroupJoin   = "join"   // Group, Vault
	GroupUnlock = "unlock" // Group, Window (0: the group's)
	GroupLock   = "lock"   // Group
	GroupState  = "status" // Group
	GroupList   = "list"   // none: the groups this node is in
	GroupGet    = "get"    // Group, Name
	GroupSet    = "set"    // Group, Name, Value, Release
	GroupNames  = "names"  // Group
	GroupRemove = "rm"     // Group, Name
	GroupAudit  = "audit"  // Group
	GroupChange = "change" // Group, Admins, Threshold, Window
	// Members: invitations that reveal no one.
	GroupInvite  = "invite"  // Group, Name (the invitee's handle), Role, Window (how long the membership lasts)
	GroupInvites = "invites" // none: the invitations this node holds
	GroupAccept  = "accept"  // Name (an invitation's ID, or its first characters)
	GroupDecline = "decline" // Name (an invitation's ID)
	GroupMembers = "members" // Group
	GroupExpel   = "expel"   // Group, Name (a member's handle or peer ID)
)

// GroupRequest is one group command (mesh group ...).
type GroupRequest struct {
	Op    string `json:"op"`
	Group string `json:"group,omitempty"`
	// Vault is the group vault peer's handle (create, join).
	Vault string `json:"vault,omitempty"`
	// Admins are handles, in share order (create, change).
	Admins    []string      `json:"admins,omitempty"`
	Threshold int           `json:"threshold,omitempty"`
	Window    time.Duration `json:"window,omitempty"`
	Schedule  string        `json:"schedule,omitempty"`
	Name      string        `json:"name,omitempty"`
	Value     []byte        `json:"value,omitempty"`
	Release   time.Time     `json:"release,omitzero"`
	// Role is a member's: "read" (default) or "write" (invite).
	Role string `json:"role,omitempty"`
}

// GroupInvitation is an invitation this node holds.
type GroupInvitation struct {
	ID     string    `json:"id"`
	Group  string    `json:"group"`
	Vault  string    `json:"vault"` // handle, or peer ID
	Role   string    `json:"role"`
	Expiry time.Time `json:"expiry"`
	Status string    `json:"status"`
}

// GroupMember is a member or pending invitee, as an admin sees it.
type GroupMember struct {
	Name    string    `json:"name"` // the label the inviter typed, else the peer ID
	Peer    string    `json:"peer"`
	Role    string    `json:"role"`
	Pending bool      `json:"pending,omitempty"`
	Until   time.Time `json:"until"`
}

// GroupStatus is one group as its admin sees it.
type GroupStatus struct {
	Group       string        `json:"group"`
	Vault       string        `json:"vault"` // handle, or peer ID
	VaultPeer   string        `json:"vault_peer"`
	Role        string        `json:"role"`
	Admins      []string      `json:"admins"` // names, in share order
	Threshold   int           `json:"threshold"`
	Window      time.Duration `json:"window"`
	Schedule    string        `json:"schedule,omitempty"`
	Unlocked    bool          `json:"unlocked"`
	Until       time.Time     `json:"until,omitzero"`
	Approvers   []string      `json:"approvers,omitempty"`
	Pending     []string      `json:"pending,omitempty"`
	Secrets     int           `json:"secrets"`
	AuditHeight uint64        `json:"audit_height"`
}

// GroupRecord is one verified record of a group's audit chain.
type GroupRecord struct {
	Height uint64    `json:"height"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Actor  string    `json:"actor,omitempty"` // a name, or a peer ID
	Detail string    `json:"detail"`
	Hash   string    `json:"hash"`
}

// GroupChain is the audit chain as this node verified it.
type GroupChain struct {
	Records []GroupRecord `json:"records"`
	// Verified says every record is signed by the vault and chained to
	// the one before; Head is the last one's hash, which every admin who
	// holds the same chain sees alike.
	Verified bool   `json:"verified"`
	Head     string `json:"head"`
	// Problem is a gap or fork, in words ("" when none).
	Problem string `json:"problem,omitempty"`
}

// GroupReply is what a group command returns; the fields its op fills.
type GroupReply struct {
	Status  *GroupStatus  `json:"status,omitempty"`
	Groups  []GroupStatus `json:"groups,omitempty"`
	Value   []byte        `json:"value,omitempty"`
	Release time.Time     `json:"release,omitzero"`
	Names   []string      `json:"names,omitempty"`
	Chain   *GroupChain   `json:"chain,omitempty"`
	// Invitations (invites), Members (members); Text says in words what
	// an invite did (the same words whoever the invitee is).
	Invitations []GroupInvitation `json:"invitations,omitempty"`
	Members     []GroupMember     `json:"members,omitempty"`
	Text        string            `json:"text,omitempty"`
}

// GroupsNeedNode is Groups without a node: refused.
type GroupsNeedNode struct{}

// Group implements Groups: refused without a node.
func (GroupsNeedNode) Group(context.Context, GroupRequest) (GroupReply, error) {
	return GroupReply{}, ErrNeedsNode
}

func (s *Server) groupRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/group", func(w http.ResponseWriter, r *http.Request) {
		var req GroupRequest
		if readJSON(w, r, maxSecretBody, &req) {
			out, err := s.backend.Group(r.Context(), req)
			s.reply(w, out, err)
		}
	})
}

// Group implements Backend.
func (c *Client) Group(ctx context.Context, req GroupRequest) (out GroupReply, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/group", nil, req, &out)
	return
}
