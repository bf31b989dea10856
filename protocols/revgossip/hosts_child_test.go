//go:build linux

package revgossip

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
)

// perHostChildEnv carries the listen address of a node of
// BenchmarkPropagationPerHost; its presence is what makes TestPerHostChild
// run.
const perHostChildEnv = "OCMT_PERHOST_CHILD_LISTEN"

// perHostTag starts every line a node says to the benchmark, so the test
// framework's own lines ("PASS", "ok") are told apart.
const perHostTag = "PH"

// TestPerHostChild is one node of BenchmarkPropagationPerHost, run in its
// own network namespace by the benchmark: a host listening on the address
// in perHostChildEnv, with our topic (startNode: budget, Set, gossip, as
// BenchmarkPropagationVsRaw's nodes) and the plain gossipsub topic
// (rawTopic, whose validator only notes the arrival) on the same pubsub.
//
// It reads commands, one a line, on stdin, and says on stdout, each line
// starting with perHostTag:
//
//	addr <multiaddr/p2p/id>             once, when it listens
//	arrive <ours|raw> <id> <unix ns>    a record reached the Set (ours) or passed the validator (raw)
//	from <ours|raw> <sha256> <peer>     the neighbour the accepted copy came from (itself when it published)
//	start <ours|raw> <id> <unix ns>     the moment just before it published
//	graft|prune <ours|raw> <peer>       its mesh on a topic changed
//	drop <peer>                         a peer left every mesh (its stream closed)
//	re <answer...>                      the answer to dial, state, peers, ping
//	fail <what>                         a command failed
//
// Commands: "dial <multiaddr>", "state", "peers", "ping <peer> <count>",
// "pub <ours|raw> <record hex>". Arrival times are wall-clock (Unix
// nanoseconds): every node is a process on the same machine, reading the
// same kernel clock (CLOCK_REALTIME), so times from different nodes
// compare to within the clock's read cost; Go's monotonic reading is
// per process and does not cross. stdin's end is the end of the node.
func TestPerHostChild(t *testing.T) {
	listen := os.Getenv(perHostChildEnv)
	if listen == "" {
		t.Skip("a node of BenchmarkPropagationPerHost; runs only when it starts it")
	}
	out := newSayer()
	defer out.close()
	rep := &perHostTracer{s: out}
	k, h := newHost(t, libp2p.ListenAddrStrings(listen))
	n := startNode(t, k, h, newEvents(), pubsub.WithRawTracer(rep))
	rawSeen := newArrivals()
	// The raw topic exactly as BenchmarkPropagationVsRaw joins it.
	err := n.ps.RegisterTopicValidator(rawTopic, func(_ context.Context, _ peer.ID, m *pubsub.Message) bool {
		rawSeen.arrive(capability.ID(sha256.Sum256(m.GetData())))
		return true
	}, pubsub.WithValidatorInline(true))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := n.ps.Join(rawTopic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := raw.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
		}
	}()
	go watchArrivals(ctx, n.seen, "ours", out.say)
	go watchArrivals(ctx, rawSeen, "raw", out.say)
	if len(h.Addrs()) == 0 {
		t.Fatalf("the host listens on nothing (asked for %s)", listen)
	}
	out.say("addr", fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID()))

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "dial" && len(f) == 2:
			ai, err := peer.AddrInfoFromString(f[1])
			if err == nil {
				dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
				err = h.Connect(dctx, *ai)
				dcancel()
			}
			if err != nil {
				out.say("re", "err", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				out.say("re", "ok")
			}
		case f[0] == "state":
			out.say("re", strconv.Itoa(len(h.Network().Peers())), strconv.Itoa(len(n.g.topic.ListPeers())),
				strconv.Itoa(len(raw.ListPeers())), strconv.Itoa(n.mesh.sizeOf(Topic)), strconv.Itoa(n.mesh.sizeOf(rawTopic)))
		case f[0] == "peers":
			out.say("re", peerList(n.g.topic.ListPeers()), peerList(raw.ListPeers()))
		case f[0] == "ping" && len(f) == 3:
			p, err1 := peer.Decode(f[1])
			count, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				out.say("re", "err", "bad ping command")
				continue
			}
			out.say("re", pingRTTs(ctx, n, p, count))
		case f[0] == "pub" && len(f) == 3:
			data, err := hex.DecodeString(f[2])
			if err != nil {
				out.say("fail", "the record is not hex")
				continue
			}
			if err := publishAs(ctx, n, raw, f[1], data, out.say); err != nil {
				out.say("fail", strings.ReplaceAll(err.Error(), "\n", " "))
			}
		default:
			out.say("fail", "unknown command", f[0])
		}
	}
}

// publishAs publishes data on the topic kind names, saying "start" with
// the time taken just before, as BenchmarkPropagationVsRaw's sendOurs and
// sendRaw time it: ours from before g.publish (the local Add included).
func publishAs(ctx context.Context, n *node, raw *pubsub.Topic, kind string, data []byte, say func(...string)) error {
	switch kind {
	case "ours":
		rev, err := revocation.Parse(data)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := n.g.publish(ctx, rev); err != nil {
			return err
		}
		say("start", kind, idHex(rev.ID()), strconv.FormatInt(start.UnixNano(), 10))
	case "raw":
		start := time.Now()
		if err := raw.Publish(ctx, data); err != nil {
			return err
		}
		say("start", kind, idHex(sha256.Sum256(data)), strconv.FormatInt(start.UnixNano(), 10))
	default:
		return fmt.Errorf("no topic %q", kind)
	}
	return nil
}

// pingRTTs pings p count times over libp2p's ping protocol and returns
// the round trips in nanoseconds, comma-separated.
func pingRTTs(ctx context.Context, n *node, p peer.ID, count int) string {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rtts []string
	for r := range ping.Ping(pctx, n.h, p) {
		if r.Error != nil {
			return "err " + strings.ReplaceAll(r.Error.Error(), "\n", " ")
		}
		rtts = append(rtts, strconv.FormatInt(int64(r.RTT), 10))
		if len(rtts) == count {
			break
		}
	}
	if len(rtts) < count {
		return "err ping stopped early"
	}
	return strings.Join(rtts, ",")
}

func peerList(ps []peer.ID) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func idHex(id capability.ID) string { return hex.EncodeToString(id[:]) }

// watchArrivals says every arrival a records, with the time a stamped
// (so the watcher's own delay is not measured), until ctx ends.
func watchArrivals(ctx context.Context, a *arrivals, kind string, say func(...string)) {
	said := map[capability.ID]bool{}
	for {
		a.mu.Lock()
		var lines [][]string
		for id, at := range a.at {
			if !said[id] {
				said[id] = true
				lines = append(lines, []string{"arrive", kind, idHex(id), strconv.FormatInt(at.UnixNano(), 10)})
			}
		}
		changed := a.changed
		a.mu.Unlock()
		for _, l := range lines {
			say(l...)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// sayer writes the node's lines to stdout from one goroutine, so callers
// on pubsub's event loop (the tracer) never wait on the pipe. Lines said
// after close (pubsub winding down) are dropped.
type sayer struct {
	lines   chan perHostLine
	stopped chan struct{} // closed by close
	done    chan struct{} // closed when the writer has flushed and ended
	once    sync.Once
}

// perHostLine is one line to say; data, when set, is hashed (SHA-256, in
// hex) into the line's third word off the caller's path.
type perHostLine struct {
	words []string
	data  []byte
}

func newSayer() *sayer {
	s := &sayer{lines: make(chan perHostLine, 1<<14), stopped: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sayer) say(words ...string) { s.send(perHostLine{words: words}) }

func (s *sayer) send(l perHostLine) {
	select {
	case <-s.stopped:
	default:
		select {
		case s.lines <- l:
		case <-s.stopped:
		}
	}
}

func (s *sayer) run() {
	defer close(s.done)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	write := func(l perHostLine) {
		words := l.words
		if l.data != nil {
			sum := sha256.Sum256(l.data)
			words = slices.Insert(slices.Clone(words), 2, hex.EncodeToString(sum[:]))
		}
		w.WriteString(perHostTag + " " + strings.Join(words, " ") + "\n")
	}
	for {
		select {
		case l := <-s.lines:
			write(l)
			if len(s.lines) == 0 {
				w.Flush()
			}
		case <-s.stopped:
			for {
				select {
				case l := <-s.lines:
					write(l)
				default:
					return
				}
			}
		}
	}
}

func (s *sayer) close() {
	s.once.Do(func() { close(s.stopped) })
	<-s.done
}

// perHostTracer says the node's mesh changes and, for each message it
// accepted, the neighbour the accepted copy came from: the parent's
// tree of who-heard-from-whom, whose depth at the last node is the hop
// count of the last arrival.
type perHostTracer struct{ s *sayer }

func perHostKind(topic string) string {
	switch topic {
	case Topic:
		return "ours"
	case rawTopic:
		return "raw"
	}
	return ""
}

func (r *perHostTracer) Graft(p peer.ID, topic string) {
	if k := perHostKind(topic); k != "" {
		r.s.say("graft", k, p.String())
	}
}

func (r *perHostTracer) Prune(p peer.ID, topic string) {
	if k := perHostKind(topic); k != "" {
		r.s.say("prune", k, p.String())
	}
}

func (r *perHostTracer) DeliverMessage(m *pubsub.Message) {
	if k := perHostKind(m.GetTopic()); k != "" {
		r.s.send(perHostLine{words: []string{"from", k, m.ReceivedFrom.String()}, data: m.GetData()})
	}
}

func (r *perHostTracer) OnClosedOutboundStream(p peer.ID) { r.s.say("drop", p.String()) }

func (*perHostTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*perHostTracer) Join(string)                                          {}
func (*perHostTracer) Leave(string)                                         {}
func (*perHostTracer) ValidateMessage(*pubsub.Message)                      {}
func (*perHostTracer) RejectMessage(*pubsub.Message, string)                {}
func (*perHostTracer) DuplicateMessage(*pubsub.Message)                     {}
func (*perHostTracer) ThrottlePeer(peer.ID)                                 {}
func (*perHostTracer) RecvRPC(*pubsub.RPC)                                  {}
func (*perHostTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*perHostTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*perHostTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*perHostTracer) UndeliverableMessage(*pubsub.Message)                 {}

var _ pubsub.RawTracer = (*perHostTracer)(nil)
