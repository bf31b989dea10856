package groupwire

import (
	"context"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// AuditTopic is the gossipsub topic of one group's audit records: the
// vault peer publishes each record there as it writes it; the group's
// admins subscribe (doc.go "Audit gossip").
func AuditTopic(vault peer.ID, group string) string {
	return "/ocmt/group/1/audit/" + vault.String() + "/" + group
}

// JoinAudit joins the audit topic of group at vault on ps with the
// topic's validator: a message is accepted only when the vault signed it
// (gossipsub's strict signing, which ps must use, names the publisher) and it is at most
// MaxRecordBytes. The records' own signatures and chain are checked by
// whoever reads them.
func JoinAudit(ps *pubsub.PubSub, vault peer.ID, group string) (*pubsub.Topic, error) {
	name := AuditTopic(vault, group)
	err := ps.RegisterTopicValidator(name, func(_ context.Context, _ peer.ID, m *pubsub.Message) bool {
		// gossipsub checked the signature before (StrictSign, which every
		// router of the mesh uses); an unsigned message names no one
		return len(m.GetSignature()) > 0 && m.GetFrom() == vault && len(m.GetData()) > 0 && len(m.GetData()) <= MaxRecordBytes
	})
	if err != nil {
		return nil, err
	}
	t, err := ps.Join(name)
	if err != nil {
		ps.UnregisterTopicValidator(name)
		return nil, err
	}
	return t, nil
}
