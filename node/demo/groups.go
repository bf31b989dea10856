package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/node/localapi"
)

// The group steps' numbers, each with its reason.
const (
	// groupWindow is the unlock window the admins approve: the shortest a
	// group allows, so the demo's shortened clock has little to skip.
	groupWindow = time.Minute
	// groupWait bounds each wait of the group steps (a handle claimed, an
	// invitation collected, the re-lock noticed).
	groupWait = 20 * time.Second
	// wifiPassword is the group's secret in the demo.
	wifiPassword = "correct horse battery staple"
)

// skewClock is the group vault's clock: the real one plus an offset the
// demo moves forward to end the unlock window without waiting for it.
type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *skewClock) advance(d time.Duration) { c.skew.Add(int64(d)) }

// groups is step 11: a group vault peer keeps the Smiths' shared secrets;
// alice, bob and carol are its admins, and two of them must approve
// before it opens.
func (r *run) groups(ctx context.Context, alice localapi.Backend, bob *node.Node, boot, rel *infra.Peer, dir string,
	start func(name, pw string) (*node.Node, error)) error {
	r.say("11. A group vault keeps the Smiths' shared secrets. No single admin, and not the vault's\n" +
		"    operator, can open it: two of its three admins must approve, for a window.")
	clock := &skewClock{}
	vault, err := infra.StartGroupVault(ctx, infra.GroupVaultConfig{Config: infra.Config{Home: node.Home(dir + "/smiths-vault"),
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Now: clock.now}, Bootstrap: boot.Addrs(), Relays: []string{rel.Addrs()[0]}, Handle: "smiths-vault"})
	if !r.step("mesh groupvault --handle smiths-vault: a peer that only stores (no vault of its own, no agent, no UI)", err) {
		return err
	}
	defer vault.Close()
	carol, err := start("carol", "carol's long passphrase")
	if !r.step("carol's node up, vault unlocked, handle \"carol\" claimed", err) {
		return err
	}
	defer carol.Close()
	dave, err := start("dave", "dave's long passphrase")
	if !r.step("dave's node up (a friend of the family)", err) {
		return err
	}
	defer dave.Close()
	err = waitUntil(ctx, groupWait, func() bool {
		_, err := alice.Group(ctx, localapi.GroupRequest{Op: localapi.GroupCreate, Group: "smiths", Vault: "smiths-vault",
			Admins: []string{"alice", "bob", "carol"}, Threshold: 2})
		return err == nil
	})
	if !r.step("alice: mesh group create smiths --vault smiths-vault --admins alice,bob,carol --threshold 2\n"+
		"      (her node splits the group key three ways, seals each share to its admin, and forgets the key)", err) {
		return err
	}
	for _, n := range []localapi.Backend{bob, carol} {
		if _, err := n.Group(ctx, localapi.GroupRequest{Op: localapi.GroupJoin, Group: "smiths", Vault: "smiths-vault"}); err != nil {
			r.step("bob and carol: mesh group join smiths --vault smiths-vault", err)
			return err
		}
	}
	r.step("bob, carol: mesh group join smiths --vault smiths-vault  →  each checks their share against the public commitments", nil)

	out, err := alice.Group(ctx, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "smiths", Window: groupWindow})
	r.check("alice: mesh group unlock smiths --for 1m  →  locked: 1 of 2 approvals", err == nil && !out.Status.Unlocked,
		fmt.Sprint("alice alone: ", err, out.Status))
	_, err = carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupGet, Group: "smiths", Name: "wifi"})
	r.check("carol: mesh group secret get smiths wifi  →  refused: "+errText(err), err != nil, "read while locked")
	out, err = bob.Group(ctx, localapi.GroupRequest{Op: localapi.GroupUnlock, Group: "smiths", Window: groupWindow})
	if !r.check("bob: mesh group unlock smiths --for 1m  →  unlocked until "+until(out), err == nil && out.Status.Unlocked, fmt.Sprint(err)) {
		return err
	}
	_, err = alice.Group(ctx, localapi.GroupRequest{Op: localapi.GroupSet, Group: "smiths", Name: "wifi", Value: []byte(wifiPassword)})
	r.step("alice: mesh group secret set smiths wifi", err)
	got, err := carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupGet, Group: "smiths", Name: "wifi"})
	r.check(fmt.Sprintf("carol: mesh group secret get smiths wifi  →  %q", got.Value), err == nil && string(got.Value) == wifiPassword, fmt.Sprint(err))

	r.say("    Invitations reveal no one: inviting a handle nobody holds looks exactly like inviting dave.")
	real, err1 := alice.Group(ctx, localapi.GroupRequest{Op: localapi.GroupInvite, Group: "smiths", Name: "dave"})
	fake, err2 := alice.Group(ctx, localapi.GroupRequest{Op: localapi.GroupInvite, Group: "smiths", Name: "zed"})
	same := err1 == nil && err2 == nil && strings.ReplaceAll(real.Text, "dave", "zed") == fake.Text
	r.check("alice: mesh group invite smiths dave  →  "+real.Text, err1 == nil, fmt.Sprint(err1))
	r.check("alice: mesh group invite smiths zed   →  the same words (nobody is called zed)", same, fmt.Sprint(err2, fake.Text))
	err = waitUntil(ctx, groupWait, func() bool {
		out, err := dave.Group(ctx, localapi.GroupRequest{Op: localapi.GroupInvites})
		return err == nil && len(out.Invitations) == 1
	})
	r.step("dave: mesh group invites  →  one invitation to smiths, pending until he accepts it", err)
	clock.advance(groupWindow + time.Second)
	err = waitUntil(ctx, groupWait, func() bool {
		st, err := carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupState, Group: "smiths"})
		return err == nil && !st.Status.Unlocked
	})
	r.step("the window ends (the vault's clock is moved a minute on): the vault wipes the key and locks itself", err)
	_, err = carol.Group(ctx, localapi.GroupRequest{Op: localapi.GroupGet, Group: "smiths", Name: "wifi"})
	r.check("carol: mesh group secret get smiths wifi  →  refused again", err != nil, "read after the window")

	var heads []string
	for _, n := range []localapi.Backend{alice, bob, carol} {
		out, err := n.Group(ctx, localapi.GroupRequest{Op: localapi.GroupAudit, Group: "smiths"})
		if err != nil || !out.Chain.Verified {
			r.step("every admin: mesh group audit smiths", errors.Join(err, errors.New("the chain does not verify")))
			return nil
		}
		heads = append(heads, out.Chain.Head)
		if n == alice {
			for _, rec := range out.Chain.Records {
				actor := rec.Actor
				if actor == "" {
					actor = "(vault)"
				}
				fmt.Fprintf(r.w, "      %2d %-15s %-6s %s\n", rec.Height, rec.Kind, actor, rec.Detail)
			}
		}
	}
	r.check(fmt.Sprintf("alice, bob and carol: mesh group audit smiths  →  the same chain, signed by the vault, head %s", heads[0][:16]),
		heads[0] == heads[1] && heads[1] == heads[2], fmt.Sprint(heads))

	return nil
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	s := err.Error()
	if i := strings.Index(s, " ("); i > 0 {
		s = s[:i]
	}
	return s
}

func until(out localapi.GroupReply) string {
	if out.Status == nil {
		return "?"
	}
	return out.Status.Until.Local().Format(time.TimeOnly) + ", approved by " + strings.Join(out.Status.Approvers, " and ")
}
