package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/vault"
)

// Audit ops the node writes about agents (doc.go "Audit records and the
// digest").
const (
	OpAgentAdd        = "agent.add"        // Actor: the owner's actor; Target: NAME
	OpAgentRemove     = "agent.rm"         // Target: NAME
	OpAgentCalls      = "agent.calls"      // Actor "agent:NAME"; Target NAME; one record per agent per clock hour with calls
	OpAgentRefused    = "agent.refused"    // Actor "agent:NAME"; Target: the path asked ("" if none); Outcome denied
	OpAgentLock       = "agent.lock"       // Target NAME; Outcome denied
	OpAgentUnlock     = "agent.unlock"     // Target NAME
	OpApprovalAsk     = "approval.ask"     // Actor "agent:NAME"; Target: approval ID
	OpApprovalApprove = "approval.approve" // Target ID
	OpApprovalDeny    = "approval.deny"    // Target ID
	OpApprovalExpire  = "approval.expire"  // Target ID
	// OpSecretUsed is the op of a brokered call with a secret: Actor
	// "agent:NAME"; Target the secret's name; Detail the host. (OpSecretUse
	// is the approval's Ops value, so the audit op has this name.)
	OpSecretUsed = "secret.use"
)

// Actors the node writes that are not a person or an agent.
const (
	// ActorAutoLock is the actor of a lock the anomaly detector made.
	ActorAutoLock = "auto-lock (anomaly)"
	// ActorNode is the actor of what the node does by itself (an approval
	// expiring).
	ActorNode = "node"
)

// agentOps are the ops whose records are about agents: the digest reads
// these and skips every other record.
var agentOps = map[string]bool{
	OpAgentAdd: true, OpAgentRemove: true, OpAgentCalls: true, OpAgentRefused: true,
	OpAgentLock: true, OpAgentUnlock: true, OpApprovalAsk: true, OpApprovalApprove: true,
	OpApprovalDeny: true, OpApprovalExpire: true, OpSecretUsed: true,
}

// Actor is the audit actor of an agent: "agent:" + name.
func Actor(name string) string { return "agent:" + name }

// field is one key=value of a Detail, in the order it is written.
type field struct{ key, value string }

// detail writes fields [": " words] (doc.go "Audit records and the
// digest"). Values are made safe to parse: a byte outside printable ASCII
// becomes '?', and so does a trailing ':'; an empty value stays empty.
// Words are clipped (clipWords).
func detail(words string, fs ...field) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.key)
		b.WriteByte('=')
		b.WriteString(safeValue(f.value))
	}
	if w := clipWords(words); w != "" {
		b.WriteString(": ")
		b.WriteString(w)
	}
	return b.String()
}

func safeValue(v string) string {
	out := []byte(v)
	for i, c := range out {
		if !valueByte(c) {
			out[i] = '?'
		}
	}
	if n := len(out); n > 0 && out[n-1] == ':' {
		out[n-1] = '?'
	}
	return string(out)
}

// valueByte reports whether c may stand in a Detail's value: printable
// ASCII without the space.
func valueByte(c byte) bool { return c > ' ' && c < 0x7f }

// clipWords makes words one line of valid UTF-8 (a control character
// becomes a space) of at most MaxReasonLen bytes, a clipped one ending in
// "…". A secret never reaches them: the callers pass refusal messages,
// intents and lock reasons, which hold names, paths and numbers only.
func clipWords(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= MaxReasonLen {
		return s
	}
	const mark = "…"
	cut := MaxReasonLen - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// clipTarget bounds a Target the agent chose (the path of a refused
// call) as words are bounded.
func clipTarget(s string) string { return clipWords(s) }

func unixText(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// CallsEntry is the hourly record of an agent's calls: calls made
// (refused ones included) and, of those, how many were refused because
// the agent was locked, between from and to (within one UTC clock hour).
func CallsEntry(agent string, calls, locked uint64, from, to time.Time) vault.AuditEntry {
	return vault.AuditEntry{Actor: Actor(agent), Op: OpAgentCalls, Target: agent, Outcome: vault.OutcomeOK,
		Detail: detail("",
			field{"agent", agent},
			field{"calls", strconv.FormatUint(calls, 10)},
			field{"locked", strconv.FormatUint(locked, 10)},
			field{"from", unixText(from)},
			field{"to", unixText(to)})}
}

// RefusedEntry is the record of refused calls of one agent for one
// reason: count 1 for a call recorded as it came, more for a summary of a
// minute's refusals. words is the refusal in words (clipped); a count
// below 1 is written as 1.
func RefusedEntry(agent string, reason Reason, action capability.Actions, path string, count int, words string) vault.AuditEntry {
	if count < 1 {
		count = 1
	}
	return vault.AuditEntry{Actor: Actor(agent), Op: OpAgentRefused, Target: clipTarget(path), Outcome: vault.OutcomeDenied,
		Detail: detail(words,
			field{"agent", agent},
			field{"reason", string(reason)},
			field{"action", action.String()},
			field{"count", strconv.Itoa(count)})}
}

// LockEntry records a lock: when l.Auto, the detector's, with actor
// ActorAutoLock whatever actor is given; else actor is the owner's actor
// given. The lock's reason is the record's words.
func LockEntry(agent string, l Lock, actor string) vault.AuditEntry {
	auto := "false"
	if l.Auto {
		actor, auto = ActorAutoLock, "true"
	}
	fs := []field{{"agent", agent}, {"auto", auto}}
	if !l.At.IsZero() {
		fs = append(fs, field{"at", unixText(l.At)})
	}
	return vault.AuditEntry{Actor: actor, Op: OpAgentLock, Target: agent, Outcome: vault.OutcomeDenied,
		Detail: detail(l.Reason, fs...)}
}

// UnlockEntry records the owner's unlock of an agent.
func UnlockEntry(agent, actor string) vault.AuditEntry {
	return vault.AuditEntry{Actor: actor, Op: OpAgentUnlock, Target: agent, Outcome: vault.OutcomeOK,
		Detail: detail("unlocked by the owner", field{"agent", agent})}
}

// AddEntry records an agent added with policy p: its key's peer ID, its
// ceiling and paths as fields, and the policy in words.
func AddEntry(p Policy, actor string) vault.AuditEntry {
	paths := make([]string, len(p.Paths))
	for i, pat := range p.Paths {
		paths[i] = string(pat)
	}
	fs := []field{{"agent", p.Name}, {"key", p.Key.String()}, {"ceiling", p.Actions.String()},
		{"paths", strings.Join(paths, ",")}}
	words := fmt.Sprintf("may %s in %s", p.Actions, strings.Join(paths, ", "))
	if p.Trusted&OpSecretUse != 0 {
		fs = append(fs, field{"trusted", "secret-use"})
		words += "; uses its secrets without asking"
	}
	return vault.AuditEntry{Actor: actor, Op: OpAgentAdd, Target: p.Name, Outcome: vault.OutcomeOK,
		Detail: detail(words, fs...)}
}

// RemoveEntry records an agent removed, with the number of its tokens
// revoked.
func RemoveEntry(agent string, revoked int, actor string) vault.AuditEntry {
	words := fmt.Sprintf("removed; %d tokens revoked", revoked)
	if revoked == 1 {
		words = "removed; 1 token revoked"
	}
	return vault.AuditEntry{Actor: actor, Op: OpAgentRemove, Target: agent, Outcome: vault.OutcomeOK,
		Detail: detail(words, field{"agent", agent}, field{"revoked", strconv.Itoa(revoked)})}
}

// ApprovalEntry records a step of approval a: op is one of the four
// approval ops; actor for ask is Actor(a.Agent), for approve and deny the
// owner's, for expire ActorNode. The words are a's intent, made from its
// fields: names, patterns and hosts, never a secret value. A deny or an
// expiry is denied; an ask or an approve is ok.
func ApprovalEntry(op string, a Approval, actor string) vault.AuditEntry {
	outcome := vault.OutcomeOK
	if op == OpApprovalDeny || op == OpApprovalExpire {
		outcome = vault.OutcomeDenied
	}
	kind := "issue"
	if a.Op == OpSecretUse {
		kind = "secret-use"
	}
	return vault.AuditEntry{Actor: actor, Op: op, Target: a.ID, Outcome: outcome,
		Detail: detail(a.Intent(), field{"agent", a.Agent}, field{"kind", kind})}
}

// SecretUseEntry records a brokered call with the secret named secret by
// agent to host, with the response status (0 when it failed before an
// answer). Statuses 100 to 399 are ok; others failed. The record names
// the secret; its value never reaches this package.
func SecretUseEntry(agent, secret, host string, status int) vault.AuditEntry {
	outcome, words := vault.OutcomeFailed, fmt.Sprintf("a call to %s failed before an answer", host)
	if status != 0 {
		words = fmt.Sprintf("a call to %s answered %d", host, status)
	}
	if status >= 100 && status < 400 {
		outcome = vault.OutcomeOK
	}
	return vault.AuditEntry{Actor: Actor(agent), Op: OpSecretUsed, Target: clipTarget(secret), Outcome: outcome,
		Detail: detail(words, field{"agent", agent}, field{"host", host}, field{"status", strconv.Itoa(status)})}
}

// ParseDetail reads a Detail the entry builders wrote: space-separated
// key=value fields, then optionally ": " and words. A key is a-z, 0-9 and
// "-", starting with a letter; a value is printable ASCII without spaces,
// possibly empty, not ending with ':'; a key appears once. A detail over
// vault.MaxAuditRecordSize bytes is refused. Every refusal wraps
// ErrCorrupt.
func ParseDetail(detail string) (fields map[string]string, words string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: an audit record's detail %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(detail) > vault.MaxAuditRecordSize {
		return nil, "", bad("has %d bytes, more than a record holds (%d)", len(detail), vault.MaxAuditRecordSize)
	}
	head, words, _ := strings.Cut(detail, ": ")
	if head == "" {
		return nil, "", bad("has no fields")
	}
	fields = map[string]string{}
	for i, tok := range strings.Split(head, " ") {
		key, value, ok := strings.Cut(tok, "=")
		if !ok || !validKey(key) {
			return nil, "", bad("has field %d without a key (key=value)", i+1)
		}
		for j := 0; j < len(value); j++ {
			if !valueByte(value[j]) {
				return nil, "", bad("has a value with a byte that is not printable ASCII in field %q", key)
			}
		}
		if strings.HasSuffix(value, ":") {
			return nil, "", bad("has a value ending with ':' in field %q", key)
		}
		if _, dup := fields[key]; dup {
			return nil, "", bad("has field %q twice", key)
		}
		fields[key] = value
	}
	return fields, words, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}
