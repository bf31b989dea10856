package keys

// Domain labels. Every signature and key derivation in OCMT Mesh carries one,
// so bytes signed for one purpose never verify for another.
const (
	LabelToken      = "ocmt-mesh/token/v1"
	LabelRevocation = "ocmt-mesh/revocation/v1"
	LabelDirectory  = "ocmt-mesh/directory/v1"
	LabelApproval   = "ocmt-mesh/approval/v1"
	LabelManifest   = "ocmt-mesh/manifest/v1"
	LabelAudit      = "ocmt-mesh/audit/v1"
	// LabelRelayVoucher labels a bootstrap's voucher for a registered
	// node's directory record (protocols/relayaccess, "Registrations"),
	// signed with the bootstrap's libp2p host key.
	LabelRelayVoucher = "ocmt-mesh/relay-voucher/v1"
	// LabelGroupApproval labels a group admin's signed approval (group/,
	// "Approvals"): an unlock or a membership change.
	LabelGroupApproval = "ocmt-mesh/group-approval/v1"
	// LabelGroupAudit labels a group audit record, signed by the vault's
	// node (group/, "Audit records").
	LabelGroupAudit = "ocmt-mesh/group-audit/v1"
	// LabelRecovery labels the messages of social recovery
	// (internal/recovery): an owner's share delivery, a recovering
	// device's request, a friend's release, an owner's veto.
	LabelRecovery = "ocmt-mesh/recovery/v1"
	// LabelEscrowRelease labels an institution's release statement of an
	// escrowed recovery key (internal/recovery, "Escrow").
	LabelEscrowRelease = "ocmt-mesh/escrow-release/v1"
)

// Labels lists every domain label, for tests that check they are distinct
// and that no signature made for one verifies for another.
func Labels() []string {
	return []string{LabelToken, LabelRevocation, LabelDirectory, LabelApproval, LabelManifest,
		LabelAudit, LabelRelayVoucher, LabelGroupApproval, LabelGroupAudit, LabelRecovery, LabelEscrowRelease}
}

// Message is a domain-labelled byte string ready to sign. It can only be
// built by the constructors below, each of which fixes its label; the signed
// bytes are label || 0x00 || body.
type Message struct {
	label string
	body  []byte
}

func (m Message) bytes() []byte {
	b := make([]byte, 0, len(m.label)+1+len(m.body))
	b = append(b, m.label...)
	b = append(b, 0)
	return append(b, m.body...)
}

// Label returns the message's domain label.
func (m Message) Label() string { return m.label }

// TokenMessage labels a capability token payload.
func TokenMessage(payload []byte) Message { return Message{LabelToken, payload} }

// RevocationMessage labels a revocation payload.
func RevocationMessage(payload []byte) Message { return Message{LabelRevocation, payload} }

// DirectoryMessage labels a directory record payload.
func DirectoryMessage(payload []byte) Message { return Message{LabelDirectory, payload} }

// ApprovalMessage labels an approval (human or admin) payload.
func ApprovalMessage(payload []byte) Message { return Message{LabelApproval, payload} }

// ManifestMessage labels a snapshot manifest payload.
func ManifestMessage(payload []byte) Message { return Message{LabelManifest, payload} }

// GroupApprovalMessage labels a group admin's approval payload (group/).
func GroupApprovalMessage(body []byte) Message { return Message{LabelGroupApproval, body} }

// GroupAuditMessage labels a group audit record's payload (group/).
func GroupAuditMessage(body []byte) Message { return Message{LabelGroupAudit, body} }

// RecoveryMessage labels a social recovery message's payload
// (internal/recovery).
func RecoveryMessage(body []byte) Message { return Message{LabelRecovery, body} }

// EscrowReleaseMessage labels an institution's release statement
// (internal/recovery).
func EscrowReleaseMessage(body []byte) Message { return Message{LabelEscrowRelease, body} }
