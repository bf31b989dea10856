package infra

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
)

// TestEnumDecoysAdmitNobody: a stranger who looks handles up gets decoys
// for the unheld ones (protocols/directory, "Decoys"), and they get him
// nothing: the bootstrap vouches only from real records, and the relay
// still refuses his reservation. A decoy's peer ID, asked of the bootstrap
// by the relay (the infrastructure), answers like a real one, but nobody
// can authenticate as it.
func TestEnumDecoysAdmitNobody(t *testing.T) {
	m := startAdmission(t, 0)
	ctx := testkit.Context(t, time.Minute)
	boot, rel := m.info(m.boot), m.info(m.rel)

	sk := testkit.Key(t, "stranger")
	sh := testkit.Host(t, sk)
	if err := sh.Connect(ctx, boot); err != nil {
		t.Fatal(err)
	}
	dec, err := directory.Lookup(ctx, sh, boot.ID, "nobody-here")
	if err != nil {
		t.Fatalf("an unheld handle: %v (want its decoy)", err)
	}
	if again, err := directory.LookupPeer(ctx, sh, boot.ID, dec.Peer); err != nil || again.Handle != "nobody-here" {
		t.Fatalf("lookup-peer of the decoy: %+v %v", again, err)
	}
	if _, err := relayaccess.FetchVoucher(ctx, sh, boot.ID); !errors.Is(err, wire.NotFound) {
		t.Fatalf("a stranger's voucher: %v", err)
	}
	if err := sh.Connect(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, sh, rel); err == nil {
		t.Fatal("the relay admitted a stranger who holds only decoys")
	}
	// A registered node is vouched for and reserves, as before.
	vk := testkit.Key(t, "vouched")
	vh := testkit.Host(t, vk)
	reg := m.register(t, ctx, vk, vh, true)
	if err := vh.Connect(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if err := relayaccess.Register(ctx, vh, rel.ID, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, vh, rel); err != nil {
		t.Fatal(err)
	}
}
