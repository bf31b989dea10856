package dht

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// auditBuffer collects audit lines; it can be made to fail.
type auditBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	fail atomic.Bool
}

func (b *auditBuffer) Write(p []byte) (int, error) {
	if b.fail.Load() {
		return 0, errors.New("disk full")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *auditBuffer) records(t *testing.T) []AuditRecord {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestTheBootstrapAuditsDirectoryChanges: over the wire, a registration,
// a handle change and a squat each leave their record; a refresh leaves
// none of its own, only a count.
func TestTheBootstrapAuditsDirectoryChanges(t *testing.T) {
	var buf auditBuffer
	m := startMesh(t, memDS(), BootstrapConfig{Burst: 100, Audit: &buf}, "alice", "mallory")
	for _, p := range []struct {
		who, handle string
		seq         uint64
	}{{"alice", "alice", 1}, {"alice", "alice", 2}, {"alice", "alicia", 3}, {"mallory", "alicia", 1}} {
		m.publish(t, p.who, p.handle, p.seq)
	}
	m.b.Close()
	rs := buf.records(t)
	var got []string
	for _, r := range rs {
		got = append(got, strings.TrimSpace(fmt.Sprintf("%s %s %s>%s %s", r.Event, m.nameOf(r.Peer.String()), r.OldHandle, r.Handle, r.Reason)))
	}
	want := []string{"start bootstrap >", "register alice >alice", "handle-change alice alice>alicia", "publish-refused mallory >alicia handle-taken",
		"counts  >", "stop bootstrap >"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("records\n %q\nwant\n %q", got, want)
	}
	if c := rs[4].Counts; c.Publishes != 3 || c.PublishesRefused != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func (m *testMesh) nameOf(id string) string {
	if id == m.boot.ID().String() {
		return "bootstrap"
	}
	for n, c := range m.client {
		if c.k.ID().String() == id {
			return n
		}
	}
	return id
}

// TestTheBootstrapAuditIsBounded: thousands of throwaway identities, each
// squatting a taken handle, registering or changing handles many times,
// leave at most AuditMaxRecords records of each kind a window, and the
// records count every event.
func TestTheBootstrapAuditIsBounded(t *testing.T) {
	var buf auditBuffer
	m := startMesh(t, memDS(), BootstrapConfig{Audit: &buf, AuditWindow: time.Hour, AuditMaxRecords: 8, Directory: DirectoryConfig{MaxRecords: 1 << 20}})
	recs := auditedRecords{m.b.dir, m.b.audit}
	ctx := context.Background()
	owner := keys.GeneratePeerKey()
	if err := recs.Publish(ctx, signed(t, &owner, "taken", 1, m.clock.Now())); err != nil {
		t.Fatal(err)
	}
	const strangers, squats = 400, 3
	for i := range strangers {
		k := keys.GeneratePeerKey()
		for j := range squats {
			if err := recs.Publish(ctx, signed(t, &k, "taken", uint64(j+1), m.clock.Now())); err == nil {
				t.Fatal("a squat was accepted")
			}
		}
		if err := recs.Publish(ctx, signed(t, &k, fmt.Sprintf("s%d", i), 1, m.clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	churner := keys.GeneratePeerKey()
	const changes = 300
	for i := range changes {
		if err := recs.Publish(ctx, signed(t, &churner, fmt.Sprintf("c%d", i), uint64(i+1), m.clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	m.b.Close()
	perKind := map[string]int{}
	events := map[string]int{}
	for _, r := range buf.records(t) {
		kind := "changes"
		switch r.Event {
		case AuditStart, AuditStop, AuditActivity:
			kind = string(r.Event)
		case AuditPublishRefused:
			kind = "refusals"
		}
		perKind[kind]++
		events[kind] += max(r.Count, 1)
	}
	if perKind["refusals"] > 8 || perKind["changes"] > 8 || perKind[string(AuditActivity)] != 1 {
		t.Fatalf("records per kind %v: want at most 8 of refusals and of changes, one of counts", perKind)
	}
	// The owner's and each stranger's registration, and the churner's
	// registration and handle changes.
	if events["refusals"] != strangers*squats || events["changes"] != 1+strangers+changes {
		t.Fatalf("the records count %v events, want %d refusals and %d changes", events, strangers*squats, 1+strangers+changes)
	}
}

// TestABootstrapWhoseLogFailsRefusesChanges: while the audit log fails,
// publishes are refused as unavailable; each refusal tries the log, and
// once one is written publishes go through again.
func TestABootstrapWhoseLogFailsRefusesChanges(t *testing.T) {
	var buf auditBuffer
	m := startMesh(t, memDS(), BootstrapConfig{Audit: &buf})
	recs := auditedRecords{m.b.dir, m.b.audit}
	ctx := context.Background()
	k := keys.GeneratePeerKey()
	buf.fail.Store(true)
	// The registration commits, and its record fails: the log is failing.
	if err := recs.Publish(ctx, signed(t, &k, "kk", 1, m.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := recs.Publish(ctx, signed(t, &k, "kk", 2, m.clock.Now())); !errors.Is(err, wire.Unavailable) {
		t.Fatalf("publish while the log fails: %v", err)
	}
	buf.fail.Store(false)
	if err := recs.Publish(ctx, signed(t, &k, "kk", 3, m.clock.Now())); !errors.Is(err, wire.Unavailable) {
		t.Fatalf("the publish that finds the log back: %v", err)
	}
	if err := recs.Publish(ctx, signed(t, &k, "kk", 4, m.clock.Now())); err != nil {
		t.Fatalf("publish once the log works: %v", err)
	}
	var got []string
	for _, r := range buf.records(t) {
		got = append(got, strings.TrimSpace(string(r.Event)+" "+r.Reason))
	}
	// The registration's record and the first refusal's were lost with
	// the disk; the second refusal's landed.
	if strings.Join(got, "|") != "start|publish-refused audit-unavailable" {
		t.Fatalf("records %q", got)
	}
}

// TestABootstrapThatCannotAuditDoesNotStart: no start record, no service.
func TestABootstrapThatCannotAuditDoesNotStart(t *testing.T) {
	var buf auditBuffer
	buf.fail.Store(true)
	h := testkit.Host(t, nil)
	if _, err := NewBootstrap(context.Background(), h, memDS(), BootstrapConfig{Audit: &buf}); err == nil {
		t.Fatal("started without an audit log")
	}
	if len(h.Mux().Protocols()) > 0 && strings.Contains(fmt.Sprint(h.Mux().Protocols()), directory.ID) {
		t.Fatal("the directory handler is registered")
	}
}
