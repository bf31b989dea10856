package recoveryhost

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

const oldPassword = "the password I will forget"

// home is a node's home folder: its vault (a real one, on an in-memory
// store), its clear store, its peer key and the recovery Service, all
// on one fake clock.
type home struct {
	t     *testing.T
	ctx   context.Context
	clk   *testkit.Clock
	store ds.Batching   // the vault's
	clear ds.Batching   // the node's clear store
	owner *keys.PeerKey // the node's peer key
	v     *vault.Vault
	svc   *Service
	// errs are every error the Service returned, for the canary checks.
	errs []error
}

func newHome(t *testing.T) *home {
	t.Helper()
	h := &home{t: t, ctx: context.Background(), clk: testkit.NewClock(testkit.Epoch),
		store: dssync.MutexWrap(ds.NewMapDatastore()), clear: dssync.MutexWrap(ds.NewMapDatastore()),
		owner: testkit.Key(t, "owner")}
	v, err := vault.Create(h.ctx, vault.Config{Store: h.store, Now: h.clk.Now}, []byte(oldPassword), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	h.v = v
	h.svc = New(h.config())
	t.Cleanup(func() { h.v.Close() })
	return h
}

func (h *home) config() Config {
	return Config{Vault: h.v, Store: h.clear, Self: h.owner.ID(), KDF: vault.TestKDF(), Actor: "test", Now: h.clk.Now,
		WithPeerKey: func(f func(*keys.PeerKey) error) error { return f(h.owner) }}
}

// reopen opens the vault again from its store, locked, as a restarted
// node does, with a new Service.
func (h *home) reopen() {
	h.t.Helper()
	h.v.Close()
	v, err := vault.Open(h.ctx, vault.Config{Store: h.store, Now: h.clk.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.v = v
	h.svc = New(h.config())
}

// do runs one recovery command.
func (h *home) do(req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	out, err := h.svc.Recovery(h.ctx, req)
	if err != nil {
		h.errs = append(h.errs, err)
	}
	return out, err
}

// must runs one recovery command that must succeed.
func (h *home) must(req localapi.RecoveryRequest) localapi.RecoveryReply {
	h.t.Helper()
	out, err := h.do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Op, req.Method, err)
	}
	return out
}

func (h *home) lock() {
	h.t.Helper()
	if err := h.v.Lock(h.ctx, "test"); err != nil {
		h.t.Fatal(err)
	}
}

// unlocksWith says whether password unlocks the vault (and locks it
// again), a minute later, past any backoff.
func (h *home) unlocksWith(password string) bool {
	h.t.Helper()
	h.clk.Advance(time.Minute)
	err := h.v.Unlock(h.ctx, []byte(password), "test")
	if err == nil {
		h.lock()
		return true
	}
	if !errors.Is(err, vault.ErrBadPassword) {
		h.t.Fatalf("unlock: %v", err)
	}
	return false
}

// audited returns the audit records of op, in order.
func (h *home) audited(op string) []vault.AuditRecord {
	h.t.Helper()
	recs, err := vault.ReadAudit(h.ctx, h.store)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []vault.AuditRecord
	for _, r := range recs {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// clearKeys lists the clear store's keys under prefix.
func (h *home) clearKeys(prefix string) []string {
	h.t.Helper()
	res, err := h.clear.Query(h.ctx, query.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		h.t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range all {
		out = append(out, e.Key)
	}
	return out
}

// failures is the vault's count of failed attempts.
func (h *home) failures() uint32 {
	h.t.Helper()
	n, _, err := h.v.FailedAttempts(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// institution is an escrow institution: its age identity and its peer
// key.
type institution struct {
	id  *age.X25519Identity
	key *keys.PeerKey
}

func newInstitution(t *testing.T) *institution {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return &institution{id: id, key: testkit.Key(t, "institution")}
}

// release is the institution's release statement for request, at now.
func (i *institution) release(t *testing.T, request []byte, now time.Time) []byte {
	t.Helper()
	rel, err := recovery.InstitutionRelease(i.key, strings.NewReader(i.id.String()), request, now)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// enableEscrow enables escrow with the institution and wait (0: the
// default).
func (h *home) enableEscrow(i *institution, wait time.Duration) localapi.RecoveryReply {
	h.t.Helper()
	return h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Escrow,
		Recipient: i.id.Recipient().String(), Institution: i.key.ID().String(), Wait: wait})
}
