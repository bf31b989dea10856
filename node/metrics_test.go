package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestNodeMetricsCountWhatHappensAndNameNothing: a node started with a
// metrics address serves Prometheus metrics that count share requests
// served and refused, deliveries, and say whether a relay holds a
// reservation and whether the vault is locked; they carry no path, name,
// peer, handle, folder or value. A served request is a use of the vault
// for the idle lock.
func TestNodeMetricsCountWhatHappensAndNameNothing(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) { c.MetricsAddr = "127.0.0.1:0" })
	bob := m.startNode(t, "bob", "pw-b")
	if err := alice.PutResource(ctx, "calendar/work", []byte(calendarCanary)); err != nil {
		t.Fatal(err)
	}
	res := shareAndWait(t, alice, bob, "calendar/*", "bob", "read")

	before := alice.idle.LastUse()
	if _, err := bob.Fetch(ctx, "alice/calendar/work"); err != nil {
		t.Fatal(err)
	}
	if !alice.idle.LastUse().After(before) {
		t.Error("serving bob did not count as a use of alice's vault")
	}
	if err := alice.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Fetch(ctx, "alice/calendar/work"); err == nil {
		t.Fatal("a locked owner served")
	}

	if alice.MetricsAddr() == "" {
		t.Fatal("no metrics address")
	}
	scrape := func() string {
		resp, err := http.Get("http://" + alice.MetricsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	// Delivered live or through bob's mailbox, at once or by a retry
	// (which counts it just after bob holds the grant).
	var body string
	waitFor(t, "alice counts the delivery", func() bool {
		body = scrape()
		return strings.Contains(body, `ocmt_node_grants_delivered_total{via="live"} 1`+"\n") ||
			strings.Contains(body, `ocmt_node_grants_delivered_total{via="mailbox"} 1`+"\n")
	})
	t.Logf("share %s delivered %q", res.ID, res.Delivered)
	for _, want := range []string{
		`ocmt_node_share_requests_served_total{op="read"} 1`,
		`ocmt_node_share_requests_refused_total{status="locked"} 1`,
		"ocmt_node_grants_pending 0",
		"ocmt_node_relay_reservation 1",
		"ocmt_node_relays 1",
		"ocmt_node_revocations 0",
		"ocmt_node_vault_locked 1",
		"ocmt_node_vault_auto_locks_total 0",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	for _, never := range []string{calendarCanary, "calendar", "bob", "alice", string(alice.home), bob.ID().String(), alice.ID().String(), "pw-a"} {
		if strings.Contains(body, never) {
			t.Errorf("metrics hold %q", never)
		}
	}
}
