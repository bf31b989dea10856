package nodemetrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
)

// TestMetricsCountAndReadTheirSource: the counters count what they are
// told, labelled by fixed words; the gauges read the source at each
// scrape (a mesh not started yet reads as 0); Serve says where it serves
// and words a bad or busy address.
func TestMetricsCountAndReadTheirSource(t *testing.T) {
	ctx := context.Background()
	set, err := revocation.Open(ctx, revocation.Config{CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	alice := testkit.Key(t, "alice")
	now := time.Now()
	tok, err := capability.Issue(alice, capability.Params{Audience: testkit.Key(t, "bob").ID(), Resource: "x/*", Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := revocation.New(alice, tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Add(ctx, rev); err != nil {
		t.Fatal(err)
	}
	grants := []localapi.Grant{{Status: meshstate.Undelivered}, {Status: meshstate.Active}, {Status: meshstate.Undelivered}}
	locked := true
	m := New(Source{
		Issued:      func(context.Context) ([]localapi.Grant, error) { return grants, nil },
		Mesh:        func() *meshnet.Net { return nil },
		Revocations: func() *revocation.Set { return set },
		Locked:      func() bool { return locked },
	})
	m.Served("read")
	m.Served("read")
	m.Refused(wire.Errorf(wire.Locked, "locked"))
	m.Delivered(meshstate.ViaMailbox)
	m.AutoLocked()

	srv, addr, err := m.Serve("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`ocmt_node_share_requests_served_total{op="read"} 2`,
		`ocmt_node_share_requests_refused_total{status="locked"} 1`,
		`ocmt_node_grants_delivered_total{via="mailbox"} 1`,
		"ocmt_node_vault_auto_locks_total 1",
		"ocmt_node_grants_pending 2",
		"ocmt_node_relay_reservation 0",
		"ocmt_node_relays 0",
		"ocmt_node_revocations 1",
		"ocmt_node_vault_locked 1",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, tok.ID().String()) || strings.Contains(body, alice.ID().String()) {
		t.Error("metrics name a token or a peer")
	}

	if _, _, err := m.Serve("9464", nil); err == nil || !strings.Contains(err.Error(), "want HOST:PORT") {
		t.Errorf("a port alone: %v", err)
	}
	if _, _, err := m.Serve(addr, nil); err == nil || !strings.Contains(err.Error(), "another process uses that port") {
		t.Errorf("a busy port: %v", err)
	} else if errors.Unwrap(err) == nil {
		t.Errorf("%v keeps no error", err)
	}
}
