package revgossip

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/proto"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// presignedFlood builds an attacker's gossipsub RPC frames ahead of time:
// batches of messages validly signed by the attacker (StrictSign passes),
// each carrying one payload. Building them first keeps the attacker's own
// signing off the two cores the honest nodes share in this test, as it
// would be on the attacker's own machine.
func presignedFlood(t testing.TB, k *keys.PeerKey, payloads [][]byte, batch int) [][]byte {
	t.Helper()
	sk := k.Libp2pPrivKey()
	from := []byte(k.ID())
	topic := Topic
	var frames [][]byte
	rpc := &pb.RPC{}
	flush := func() {
		b, err := proto.Marshal(rpc)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append(binary.AppendUvarint(nil, uint64(len(b))), b...))
		rpc = &pb.RPC{}
	}
	for i, data := range payloads {
		seq := binary.BigEndian.AppendUint64(nil, uint64(1<<40+i))
		m := &pb.Message{From: from, Data: data, Seqno: seq, Topic: &topic}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if m.Signature, err = sk.Sign(append([]byte(pubsub.SignPrefix), b...)); err != nil {
			t.Fatal(err)
		}
		rpc.Publish = append(rpc.Publish, m)
		if len(rpc.Publish) == batch {
			flush()
		}
	}
	if len(rpc.Publish) > 0 {
		flush()
	}
	return frames
}

// TestPresignedFloodDelaysARealRevocationLittle floods with the attacker's
// work done ahead of time: 10,000 forged revocations, pre-signed at the
// pubsub layer, written straight onto gossipsub streams to every honest
// node in large batches (cut off by the RPC size cap before anything is
// verified) and in small ones (each RPC admitted until the sender is a
// suspect and over its budget). The real revocation must still reach every
// node; the delay it suffers is logged (see docs/decisions.md).
func TestPresignedFloodDelaysARealRevocationLittle(t *testing.T) {
	for _, batch := range []int{100, 4} {
		t.Run(fmt.Sprintf("%d messages per RPC", batch), func(t *testing.T) { presignedFloodRun(t, batch) })
	}
}

func presignedFloodRun(t *testing.T, batch int) {
	if testing.Short() {
		t.Skip("floods 10 000 messages")
	}
	ns := newNodes(t, 6)
	connectRandom(t, ns, 1)
	waitMesh(t, ns, 2)
	mk, mh := newHost(t)
	for _, n := range ns {
		testkit.Connect(t, mh, n.h)
	}
	ctx := context.Background()
	revs := revocations(t, ns[0].key, 2, "presigned")
	start := time.Now()
	if err := ns[1].g.publish(ctx, revs[0]); err != nil {
		t.Fatal(err)
	}
	baseline := waitRevoked(t, ns, revs[0].ID(), start, 5*time.Second)

	frames := presignedFlood(t, mk, forgedRecords(t, ns[0].key, 10_000), batch)
	streams := make([]network.Stream, len(ns))
	for i, n := range ns {
		s, err := mh.NewStream(ctx, n.h.ID(), pubsub.GossipSubID_v11)
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = s
	}
	floodDone, started := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(floodDone)
		for i, f := range frames {
			for _, s := range streams {
				s.Write(f) // errors once a node cuts the attacker off
			}
			if i == 0 {
				close(started)
			}
		}
	}()
	// The flood is under way once its first frame went to every node (a
	// 100-message frame is refused at the read, before any cut-off).
	testkit.Within(t, 5*time.Second, started, "the attacker writes its first frame")
	start = time.Now()
	if err := ns[1].g.publish(ctx, revs[1]); err != nil {
		t.Fatal(err)
	}
	flooded := waitRevoked(t, ns, revs[1].ID(), start, 2*time.Second)
	<-floodDone
	var rejected uint64
	for _, n := range ns {
		rejected += n.g.stats.rejected.Load()
	}
	t.Logf("real revocation to %d nodes: %v unflooded, %v during a presigned 10000-message flood (%.1fx); %d forgeries verified across nodes",
		len(ns), baseline, flooded, float64(flooded)/float64(baseline), rejected)
}
