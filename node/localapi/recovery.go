package localapi

import (
	"context"
	"net/http"
	"time"
)

// Recovery is the part of Backend that manages the vault's recovery
// methods (internal/recoveryhost; social recovery's network side in
// internal/socialrecovery): enabling, testing and using them, and, as a
// friend, helping someone else recover. Recover works without a node
// (the owner lost the password: the vault is locked); the social ops need
// one.
type Recovery interface {
	Recovery(ctx context.Context, req RecoveryRequest) (RecoveryReply, error)
}

// Recovery commands (RecoveryRequest.Op).
const (
	RecoveryStatus  = "status"  // none
	RecoveryEnable  = "enable"  // Method and what it takes (below)
	RecoveryDisable = "disable" // Method
	RecoveryTest    = "test"    // Method and its proof (below)
	RecoveryRecover = "recover" // Method, its proof, NewPassword
	// Escrow: the owner's request to the institution (a signed request
	// and the one-time identity that opens the answer, kept by the node).
	RecoveryEscrowRequest = "escrow-request" // none
	// Social recovery, a friend's side and the owner's veto.
	RecoveryRequests = "requests" // none: the recovery requests this node holds (as a friend, or as the owner)
	RecoveryHelp     = "help"     // ID: release this node's share to the request's device (after the waiting period)
	RecoveryVeto     = "veto"     // ID: the owner refuses a request for its own vault
	RecoveryHeld     = "held"     // none: whose shares this node keeps, as a friend
	// RecoveryFIDO2Options returns what a browser needs to ask the
	// security key for its PRF (the fido2 method's public meta).
	RecoveryFIDO2Options = "fido2-options" // none
)

// RecoveryRequest is one recovery command (mesh recovery ..., mesh
// recover). Only the fields its Op and Method take are set.
type RecoveryRequest struct {
	Op     string `json:"op"`
	Method string `json:"method,omitempty"` // phrase, social, hardware, escrow
	// Phrase is the 24 words (enable: the phrase the CLI drew and the
	// user typed back three words of; test, recover).
	Phrase string `json:"phrase,omitempty"`
	// Identity is an age identity file's text (hardware: test, recover;
	// escrow: the request's one-time identity, for recover).
	Identity string `json:"identity,omitempty"`
	// Recipient is an age recipient (hardware, escrow: enable).
	Recipient string `json:"recipient,omitempty"`
	// Institution is the escrow institution's peer ID (enable).
	Institution string `json:"institution,omitempty"`
	// Friends are handles and Threshold how many must help (social:
	// enable).
	Friends   []string `json:"friends,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
	// Wait is the waiting period (social, escrow: enable).
	Wait time.Duration `json:"wait,omitempty"`
	// Release is the institution's release statement (escrow: test,
	// recover).
	Release     []byte `json:"release,omitempty"`
	NewPassword []byte `json:"new_password,omitempty"`
	// ID names a recovery request (help, veto).
	ID string `json:"id,omitempty"`
	// FIDO2 (fido2: enable takes all four, test and recover PRF): the
	// relying party ID, the credential, the PRF salt and the key's PRF
	// output for it.
	RPID       string `json:"rp_id,omitempty"`
	Credential []byte `json:"credential,omitempty"`
	Salt       []byte `json:"salt,omitempty"`
	PRF        []byte `json:"prf,omitempty"`
}

// FIDO2Options are the fido2 method's public meta (RecoveryFIDO2Options).
type FIDO2Options struct {
	RPID       string `json:"rp_id"`
	Credential []byte `json:"credential"`
	Salt       []byte `json:"salt"`
}

// RecoveryMethod is an enabled method as mesh recovery status shows it.
type RecoveryMethod struct {
	Method string    `json:"method"`
	Added  time.Time `json:"added"`
	Tested time.Time `json:"tested,omitzero"`
	// Detail says what the method needs, in words (the friends and the
	// threshold, the recipient, the institution, the waiting period).
	Detail string `json:"detail"`
}

// RecoveryRequestInfo is a recovery request as a friend or the owner
// sees it.
type RecoveryRequestInfo struct {
	ID     string    `json:"id"`
	Owner  string    `json:"owner"` // the owner's handle (as the request names it) or peer ID
	Device string    `json:"device"`
	Code   string    `json:"code"` // compare with the owner, out of band
	Time   time.Time `json:"time"`
	// State: "waiting for you", "helping: released at TIME", "released",
	// "vetoed by the owner", "expired"; for the owner: "requested".
	State string `json:"state"`
	Mine  bool   `json:"mine,omitempty"` // a request for this node's own vault
}

// RecoveryReply is what a recovery command returns; the fields its op
// fills.
type RecoveryReply struct {
	Methods  []RecoveryMethod      `json:"methods,omitempty"`
	Requests []RecoveryRequestInfo `json:"requests,omitempty"`
	// Held names whose shares this node keeps.
	Held []string `json:"held,omitempty"`
	// Text says what the command did, in words.
	Text string `json:"text,omitempty"`
	// EscrowRequest is the signed request for the institution.
	EscrowRequest []byte `json:"escrow_request,omitempty"`
	// FIDO2 answers RecoveryFIDO2Options.
	FIDO2 *FIDO2Options `json:"fido2,omitempty"`
}

// RecoveryNeedsNode is Recovery without a node: refused.
type RecoveryNeedsNode struct{}

// Recovery implements Recovery: refused without a node.
func (RecoveryNeedsNode) Recovery(context.Context, RecoveryRequest) (RecoveryReply, error) {
	return RecoveryReply{}, ErrNeedsNode
}

func (s *Server) recoveryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/recovery", func(w http.ResponseWriter, r *http.Request) {
		var req RecoveryRequest
		if readJSON(w, r, maxSmallBody, &req) {
			out, err := s.backend.Recovery(r.Context(), req)
			clear(req.NewPassword)
			s.reply(w, out, err)
		}
	})
}

// Recovery implements Backend.
func (c *Client) Recovery(ctx context.Context, req RecoveryRequest) (out RecoveryReply, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/recovery", nil, req, &out)
	return
}
