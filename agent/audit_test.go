package agent

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// auditPolicy is the policy the audit tests add.
func auditPolicy(t testing.TB) Policy {
	p, err := NewPolicy("helper", testkit.Key(t, "agent").ID(), capability.Read|capability.List|capability.Use,
		[]capability.Pattern{"calendar/**", "secrets/embeddings"})
	if err != nil {
		t.Fatal(err)
	}
	p.Trusted = OpSecretUse
	return p
}

// auditApproval is an approval of helper in state st.
func auditApproval(id string, r Request) Approval {
	return Approval{ID: id, Agent: "helper", Request: r, State: Pending, Created: testkit.Epoch,
		Expires: testkit.Epoch.Add(DefaultApprovalTTL)}
}

// mustDetail parses e's detail and checks it names agent.
func mustDetail(t *testing.T, e vault.AuditEntry, agent string) (map[string]string, string) {
	t.Helper()
	fs, words, err := ParseDetail(e.Detail)
	if err != nil {
		t.Fatalf("%s: the detail %q does not parse: %v", e.Op, e.Detail, err)
	}
	if fs["agent"] != agent {
		t.Fatalf("%s: the detail %q names agent %q, want %q", e.Op, e.Detail, fs["agent"], agent)
	}
	return fs, words
}

func TestEntriesSayWhoDidWhatInFieldsAndWords(t *testing.T) {
	from := time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC)
	e := CallsEntry("helper", 42, 3, from, from.Add(time.Hour-time.Second))
	if e.Detail != "agent=helper calls=42 locked=3 from=2026-11-29T14:00:00Z to=2026-11-29T14:59:59Z" ||
		e.Actor != "agent:helper" || e.Op != OpAgentCalls || e.Target != "helper" || e.Outcome != vault.OutcomeOK {
		t.Fatalf("calls entry %+v", e)
	}

	p := auditPolicy(t)
	err := Policy{Name: "helper", Key: p.Key, Actions: capability.Read | capability.List, Paths: p.Paths}.
		Check(capability.Delete, "calendar/x")
	var ref *Refusal
	if !errors.As(err, &ref) {
		t.Fatalf("no refusal: %v", err)
	}
	e = RefusedEntry(ref.Agent, ref.Reason, ref.Action, ref.Path, 1, ref.Error())
	fs, words := mustDetail(t, e, "helper")
	if fs["reason"] != "ceiling" || fs["action"] != "delete" || fs["count"] != "1" || words != ref.Error() ||
		e.Outcome != vault.OutcomeDenied || e.Actor != "agent:helper" {
		t.Fatalf("refused entry %+v", e)
	}
	if !strings.HasPrefix(e.Detail, "agent=helper reason=ceiling action=delete count=1: agent \"helper\" may not delete") {
		t.Fatalf("refused detail %q", e.Detail)
	}
	if e = RefusedEntry("helper", ReasonScope, capability.Read, "notes/x", 0, ""); !strings.HasSuffix(e.Detail, "count=1") {
		t.Fatalf("a count below 1 is written as %q", e.Detail)
	}

	at := time.Date(2026, 11, 24, 14, 3, 9, 0, time.UTC)
	e = LockEntry("helper", Lock{Locked: true, Auto: true, Reason: "620 calls in the last hour", At: at}, "owner:alice")
	fs, words = mustDetail(t, e, "helper")
	if e.Actor != ActorAutoLock || fs["auto"] != "true" || fs["at"] != "2026-11-24T14:03:09Z" || words != "620 calls in the last hour" ||
		e.Outcome != vault.OutcomeDenied {
		t.Fatalf("auto lock entry %+v", e)
	}
	e = LockEntry("helper", Lock{Locked: true, Reason: "locked by hand", At: at}, "owner:alice")
	if fs, _ = mustDetail(t, e, "helper"); e.Actor != "owner:alice" || fs["auto"] != "false" {
		t.Fatalf("hand lock entry %+v", e)
	}
	e = UnlockEntry("helper", "owner:alice")
	if mustDetail(t, e, "helper"); e.Actor != "owner:alice" || e.Op != OpAgentUnlock || e.Target != "helper" {
		t.Fatalf("unlock entry %+v", e)
	}

	e = AddEntry(p, "owner:alice")
	fs, words = mustDetail(t, e, "helper")
	if fs["key"] != p.Key.String() || fs["ceiling"] != "read,list,use" || fs["paths"] != "calendar/**,secrets/embeddings" ||
		fs["trusted"] != "secret-use" || !strings.Contains(words, "calendar/**, secrets/embeddings") || e.Target != "helper" {
		t.Fatalf("add entry %+v", e)
	}
	e = RemoveEntry("helper", 2, "owner:alice")
	if fs, words = mustDetail(t, e, "helper"); fs["revoked"] != "2" || words != "removed; 2 tokens revoked" || e.Op != OpAgentRemove {
		t.Fatalf("remove entry %+v", e)
	}

	ap := auditApproval("0123456789abcdef", Request{Op: OpIssue, Audience: "bob", Resource: "calendar/**",
		Actions: capability.Read, Validity: 7 * 24 * time.Hour})
	e = ApprovalEntry(OpApprovalAsk, ap, Actor(ap.Agent))
	if fs, words = mustDetail(t, e, "helper"); e.Target != ap.ID || words != "share calendar/** with bob: read, for 7 days" ||
		fs["kind"] != "issue" || e.Outcome != vault.OutcomeOK || e.Actor != "agent:helper" {
		t.Fatalf("ask entry %+v", e)
	}
	for op, outcome := range map[string]string{OpApprovalApprove: vault.OutcomeOK, OpApprovalDeny: vault.OutcomeDenied, OpApprovalExpire: vault.OutcomeDenied} {
		if e = ApprovalEntry(op, ap, ActorNode); e.Op != op || e.Outcome != outcome {
			t.Fatalf("%s entry %+v", op, e)
		}
	}

	e = SecretUseEntry("helper", "secrets/embeddings", "api.example", 200)
	fs, _ = mustDetail(t, e, "helper")
	if e.Op != OpSecretUsed || e.Target != "secrets/embeddings" || fs["host"] != "api.example" || fs["status"] != "200" || e.Outcome != vault.OutcomeOK {
		t.Fatalf("secret use entry %+v", e)
	}
	if e = SecretUseEntry("helper", "secrets/embeddings", "api.example", 0); e.Outcome != vault.OutcomeFailed ||
		!strings.Contains(e.Detail, "failed before an answer") {
		t.Fatalf("a failed secret use %+v", e)
	}
	if e = SecretUseEntry("helper", "secrets/embeddings", "api.example", 503); e.Outcome != vault.OutcomeFailed {
		t.Fatalf("a 503 secret use %+v", e)
	}
}

func TestEntriesCarryNoSecretValue(t *testing.T) {
	// The builders take names, paths and hosts only; a value the agent
	// used the secret for is held by the broker and never passed. This
	// test pins that a secret-use record and approval carry exactly the
	// fields they are documented with, so no one adds a value field.
	const canary = "sk-canary-0123456789"
	e := SecretUseEntry("helper", "secrets/embeddings", "api.example", 200)
	fs, _ := mustDetail(t, e, "helper")
	if keys := slices.Sorted(maps.Keys(fs)); !slices.Equal(keys, []string{"agent", "host", "status"}) {
		t.Fatalf("a secret-use record has fields %v", keys)
	}
	ap := auditApproval("0123456789abcdef", Request{Op: OpSecretUse, Resource: "secrets/embeddings", Actions: capability.Use, Target: "api.example"})
	e = ApprovalEntry(OpApprovalAsk, ap, Actor("helper"))
	fs, words := mustDetail(t, e, "helper")
	if keys := slices.Sorted(maps.Keys(fs)); !slices.Equal(keys, []string{"agent", "kind"}) || fs["kind"] != "secret-use" ||
		words != "use the secret secrets/embeddings in a call to api.example" {
		t.Fatalf("a secret-use approval: %q", e.Detail)
	}
	for _, e := range []vault.AuditEntry{e, SecretUseEntry("helper", "secrets/embeddings", "api.example", 0)} {
		if strings.Contains(e.Actor+e.Target+e.Detail, canary) {
			t.Fatal("the canary reached a record")
		}
	}
}

func TestEntriesStayParsableWhateverTheyAreGiven(t *testing.T) {
	long := strings.Repeat("é", MaxReasonLen)
	e := RefusedEntry("bad name:", ReasonScope, capability.Read, "a path\nwith a newline "+long, 3, "line one\nline two\x00 "+long)
	fs, words, err := ParseDetail(e.Detail)
	if err != nil {
		t.Fatalf("%q: %v", e.Detail, err)
	}
	if fs["agent"] != "bad?name?" {
		t.Fatalf("an unsafe value was written as %q", fs["agent"])
	}
	if len(words) > MaxReasonLen || !utf8.ValidString(words) || strings.ContainsAny(words, "\n\x00") || !strings.HasSuffix(words, "…") ||
		!strings.HasPrefix(words, "line one line two") {
		t.Fatalf("words not clipped to one line: %q", words)
	}
	if len(e.Target) > MaxReasonLen || strings.Contains(e.Target, "\n") {
		t.Fatalf("the target was not clipped: %q", e.Target)
	}
	// The digest refuses the name, so the record is unreadable there, not
	// counted for an agent that does not exist.
	if d := Digest([]vault.AuditRecord{{Time: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), AuditEntry: e}},
		Week{2026, 48}); d.Unreadable != 1 || len(d.Agents) != 0 {
		t.Fatalf("a record of an invalid agent name: %+v", d)
	}
}

func TestParseDetailRefusesWhatTheBuildersNeverWrite(t *testing.T) {
	for _, tc := range []struct{ detail, want string }{
		{"", "has no fields"},
		{": words only", "has no fields"},
		{"agent=helper  calls=1", "field 2 without a key"},
		{" agent=helper", "field 1 without a key"},
		{"agent=helper calls", "field 2 without a key"},
		{"Agent=helper", "field 1 without a key"},
		{"1a=helper", "field 1 without a key"},
		{"=helper", "field 1 without a key"},
		{"agent=hel\tper", "not printable ASCII"},
		{"agent=hélper", "not printable ASCII"},
		{"agent=helper:", "ending with ':'"},
		{"agent=helper agent=other", `field "agent" twice`},
		{"agent=" + strings.Repeat("a", vault.MaxAuditRecordSize), "more than a record holds"},
	} {
		_, _, err := ParseDetail(tc.detail)
		testkit.Sentence(t, tc.detail[:min(len(tc.detail), 40)], err, tc.want, ErrCorrupt)
	}
	fs, words, err := ParseDetail("agent=helper to= eq=a=b: share x: read:  ")
	if err != nil || fs["to"] != "" || fs["eq"] != "a=b" || words != "share x: read:  " {
		t.Fatalf("%v %q %v", fs, words, err)
	}
}
