package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/localapi"
)

// demoCacheBytes is the demo relay's snapshot cache: room for the
// calendar, not for alice's slides, so reading those needs alice herself.
const demoCacheBytes = 64 << 10

// wokenNode is alice's node started again by the relay's wake hook: a
// child process of the relay, reached through its local API.
type wokenNode struct {
	api  *localapi.Client
	home node.Home
}

// stop puts the woken node to sleep again, or ends its process.
func (w *wokenNode) stop() {
	if _, err := w.api.Hibernate(context.Background()); err != nil {
		if pid, alive := home.Holder(w.home); alive {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	w.api.Close()
	waitUntil(context.Background(), 10*time.Second, func() bool { _, alive := home.Holder(w.home); return !alive })
}

// sleep is step 6: alice hibernates; bob reads her calendar from the
// relay's cache; bob's read of her slides, which are not cached, wakes
// her node through the relay, and it answers.
func (r *run) sleep(ctx context.Context, alice, bob *node.Node, aliceHome node.Home) (*wokenNode, error) {
	r.say("6. Alice's container goes to sleep. What she shared stays readable from an encrypted\n   copy at the relay, which cannot read it; a request that needs her wakes her.")
	slides := strings.Repeat("Q3 slides: revenue up, costs down. ", 3000) // ~100 KiB: over the demo relay's cache
	r.step("alice: mesh put files/slides", alice.PutResource(ctx, "files/slides", []byte(slides)))
	if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "files/*", With: "bob", Can: "read", ValidFor: 24 * time.Hour}); !r.step("alice: mesh share files/* --with bob", err) {
		return nil, err
	}
	var snaps []localapi.Snapshot
	err := waitUntil(ctx, 20*time.Second, func() bool {
		snaps, _ = alice.Snapshots(ctx)
		return cachedAt(snaps, "calendar/work") == "" && cachedAt(snaps, "files/slides") != "none"
	})
	if !r.step("alice: mesh snapshot status  →  calendar/work sealed to alice and bob, cached at the relay", err) {
		return nil, err
	}
	fmt.Fprintf(r.w, "      files/slides: %s\n", cachedAt(snaps, "files/slides"))
	n, err := alice.Hibernate(ctx)
	if !r.step(fmt.Sprintf("alice: mesh hibernate  →  %d relay will wake her node; it stops", n), err) {
		return nil, err
	}
	alice.Close()

	t0 := time.Now()
	f, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/calendar/work"})
	if r.step(fmt.Sprintf("bob: mesh get alice/calendar/work  →  served from the cache at the relay, the copy alice sealed %s ago (%v)",
		time.Since(f.Sealed).Round(time.Second), time.Since(t0).Round(time.Millisecond)), err) {
		r.check("it is alice's calendar, opened by bob's key alone", f.Source == localapi.SourceCache && strings.Contains(string(f.Data), "standup"), fmt.Sprintf("source %s, %q", f.Source, f.Data))
	}
	t0 = time.Now()
	_, err = bob.Get(ctx, localapi.FetchRequest{Remote: "alice/files/slides", Quick: true})
	r.check("bob: mesh get alice/files/slides  →  not cached, and alice is offline", errors.Is(err, localapi.ErrUnreachable), fmt.Sprintf("got %v", err))
	fmt.Fprintf(r.w, "      waking alice…\n")
	f, err = bob.Get(ctx, localapi.FetchRequest{Remote: "alice/files/slides", Wake: true})
	if !r.step(fmt.Sprintf("the relay's wake hook started alice's node (a new process); it came back unlocked and answered bob (%v)", time.Since(t0).Round(time.Millisecond)), err) {
		return nil, err
	}
	r.check("bob has alice's slides", f.Source == localapi.SourceWoken && bytes.Equal(f.Data, []byte(slides)), fmt.Sprintf("source %s, %d bytes", f.Source, len(f.Data)))
	pid, _ := home.Holder(aliceHome)
	api, err := localapi.Dial(ctx, aliceHome.SocketPath())
	if err != nil {
		return nil, err
	}
	w := &wokenNode{api: api, home: aliceHome}
	st, err := api.Status(ctx)
	r.check(fmt.Sprintf("alice's node runs again as process %d, vault unlocked (resume window)", pid), err == nil && st.Running && !st.Locked, fmt.Sprintf("status %+v, %v", st, err))
	return w, nil
}

// cachedAt says where the last push of res went: "" when a relay holds
// it, the refusal otherwise, "none" before any push.
func cachedAt(l []localapi.Snapshot, res string) string {
	for _, s := range l {
		if s.Resource == res && len(s.Caches) > 0 {
			if e := s.Caches[0].Error; e != "" {
				return "not cached, the relay " + e
			}
			return ""
		}
	}
	return "none"
}
