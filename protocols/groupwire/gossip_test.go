package groupwire

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ocmt/mesh/internal/testkit"
)

// rejections is a pubsub tracer that reports each message the validator
// rejected, by its publisher.
type rejections struct{ ch chan peer.ID }

func (r rejections) RejectMessage(m *pubsub.Message, reason string) {
	if reason == pubsub.RejectValidationFailed {
		select {
		case r.ch <- m.GetFrom():
		default:
		}
	}
}
func (rejections) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (rejections) OnClosedOutboundStream(peer.ID)                       {}
func (rejections) Join(string)                                          {}
func (rejections) Leave(string)                                         {}
func (rejections) Graft(peer.ID, string)                                {}
func (rejections) Prune(peer.ID, string)                                {}
func (rejections) ValidateMessage(*pubsub.Message)                      {}
func (rejections) DeliverMessage(*pubsub.Message)                       {}
func (rejections) DuplicateMessage(*pubsub.Message)                     {}
func (rejections) ThrottlePeer(peer.ID)                                 {}
func (rejections) RecvRPC(*pubsub.RPC)                                  {}
func (rejections) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (rejections) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (rejections) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (rejections) UndeliverableMessage(*pubsub.Message)                 {}

func gossip(t *testing.T, h host.Host, opts ...pubsub.Option) *pubsub.PubSub {
	t.Helper()
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(c, h, append([]pubsub.Option{pubsub.WithMessageSignaturePolicy(pubsub.StrictSign)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestAuditTopicName(t *testing.T) {
	vault := testkit.Key(t, "vault").ID()
	if got, want := AuditTopic(vault, "family"), "/ocmt/group/1/audit/"+vault.String()+"/family"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	if AuditTopic(vault, "family") == AuditTopic(vault, "team") || AuditTopic(vault, "family") == AuditTopic(testkit.Key(t, "other").ID(), "family") {
		t.Fatal("two groups share a topic")
	}
}

func TestAuditGossipTakesOnlyTheVaultsRecords(t *testing.T) {
	vh, ah, oh := testkit.Host(t, testkit.Key(t, "vault")), testkit.Host(t, testkit.Key(t, "admin")), testkit.Host(t, testkit.Key(t, "intruder"))
	testkit.Connect(t, ah, vh)
	testkit.Connect(t, oh, ah)
	testkit.Connect(t, oh, vh)
	rejected := rejections{ch: make(chan peer.ID, 16)}
	vps, aps, ops := gossip(t, vh), gossip(t, ah, pubsub.WithRawTracer(rejected)), gossip(t, oh)

	vt, err := JoinAudit(vps, vh.ID(), "family")
	if err != nil {
		t.Fatal(err)
	}
	at, err := JoinAudit(aps, vh.ID(), "family")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := at.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	// The intruder joins the same topic without the validator, as a
	// hostile peer would.
	ot, err := ops.Join(AuditTopic(vh.ID(), "family"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 16)
	go func() {
		for {
			m, err := sub.Next(context.Background())
			if err != nil {
				return
			}
			got <- m.GetData()
		}
	}()
	testkit.Eventually(t, 30*time.Second, func() bool { return slices.Contains(vt.ListPeers(), ah.ID()) },
		"the vault seeing the admin's subscription")
	testkit.Eventually(t, 30*time.Second, func() bool { return slices.Contains(ot.ListPeers(), ah.ID()) },
		"the intruder seeing the admin's subscription")

	c := testkit.Context(t, time.Minute)
	record := []byte("a record of the vault")
	if err := vt.Publish(c, record); err != nil {
		t.Fatal(err)
	}
	if d := testkit.Within(t, 30*time.Second, got, "the vault's record reaching the admin"); !bytes.Equal(d, record) {
		t.Fatalf("the admin got %q", d)
	}

	if err := ot.Publish(c, []byte("a forged record")); err != nil {
		t.Fatal(err)
	}
	if from := testkit.Within(t, 30*time.Second, rejected.ch, "the admin's validator rejecting the intruder's message"); from != oh.ID() {
		t.Fatalf("the validator rejected a message from %s", from)
	}
	// The vault's next record still comes, and is the next delivered:
	// the forged one never was.
	next := []byte("the vault's next record")
	if err := vt.Publish(c, next); err != nil {
		t.Fatal(err)
	}
	if d := testkit.Within(t, 30*time.Second, got, "the vault's next record reaching the admin"); !bytes.Equal(d, next) {
		t.Fatalf("the admin got %q", d)
	}
	select {
	case d := <-got:
		t.Fatalf("the admin got %q besides the vault's records", d)
	default:
	}

	// The vault's own validator refuses what no admin would take.
	for _, data := range [][]byte{make([]byte, MaxRecordBytes+1), {}} {
		if err := vt.Publish(c, data); err == nil {
			t.Errorf("the vault published %d bytes", len(data))
		}
	}
	if err := vt.Publish(c, make([]byte, MaxRecordBytes)); err != nil {
		t.Fatalf("a record at MaxRecordBytes: %v", err)
	}
	if d := testkit.Within(t, 30*time.Second, got, "a record at MaxRecordBytes reaching the admin"); len(d) != MaxRecordBytes {
		t.Fatalf("the admin got %d bytes", len(d))
	}
}

func TestJoinAuditTwiceIsRefused(t *testing.T) {
	h := testkit.Host(t, nil)
	ps := gossip(t, h)
	if _, err := JoinAudit(ps, h.ID(), "family"); err != nil {
		t.Fatal(err)
	}
	if _, err := JoinAudit(ps, h.ID(), "family"); err == nil {
		t.Fatal("a second JoinAudit of one topic on one pubsub succeeded")
	}
	if _, err := JoinAudit(ps, h.ID(), "team"); err != nil {
		t.Fatalf("another group's topic: %v", err)
	}
}
