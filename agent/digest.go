package agent

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ocmt/mesh/vault"
)

// ErrBadWeek is wrapped by ParseWeek's refusals.
var ErrBadWeek = errors.New("agent: not an ISO week")

// Week is an ISO 8601 week, "2026-W48": weeks start on Monday, and week 1
// of a year is the one holding its first Thursday (so 2026-12-31 and
// 2027-01-01 are both in 2026-W53).
type Week struct{ Year, Week int }

// ParseWeek reads a week as String writes it: four digits of year, "-W",
// two digits of week, 01 to the year's last week (52 or 53).
func ParseWeek(s string) (Week, error) {
	shown := s
	if len(shown) > 16 {
		shown = shown[:16] + "…"
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %q is not a week like 2026-W48 (%s)", ErrBadWeek, strings.ToValidUTF8(shown, "?"), why)
	}
	if len(s) != 8 || s[4] != '-' || s[5] != 'W' {
		return Week{}, bad("year, -W, then the week's two digits")
	}
	y, ok1 := digits(s[:4])
	n, ok2 := digits(s[6:])
	if !ok1 || !ok2 {
		return Week{}, bad("year, -W, then the week's two digits")
	}
	if y < 1 {
		return Week{}, bad("the year starts at 0001")
	}
	if last := weeksIn(y); n < 1 || n > last {
		return Week{}, bad(fmt.Sprintf("%04d has weeks 01 to %02d", y, last))
	}
	return Week{Year: y, Week: n}, nil
}

// digits reads a decimal of ASCII digits only (no sign, no spaces).
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// weeksIn is the number of ISO weeks of year y: 28 December is always in
// its last week.
func weeksIn(y int) int {
	_, w := time.Date(y, time.December, 28, 0, 0, 0, 0, time.UTC).ISOWeek()
	return w
}

// WeekOf is the ISO week t falls in, in UTC.
func WeekOf(t time.Time) Week {
	y, w := t.UTC().ISOWeek()
	return Week{Year: y, Week: w}
}

func (w Week) String() string { return fmt.Sprintf("%04d-W%02d", w.Year, w.Week) }

// Start is the week's Monday at 00:00 UTC.
func (w Week) Start() time.Time {
	// 4 January is always in week 1.
	jan4 := time.Date(w.Year, time.January, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, 7*(w.Week-1))
}

// End is the next Monday at 00:00 UTC: the week is [Start, End).
func (w Week) End() time.Time { return w.Start().AddDate(0, 0, 7) }

// contains reports whether t falls in the week.
func (w Week) contains(t time.Time) bool {
	return !t.Before(w.Start()) && t.Before(w.End())
}

// WeekDigest is one week of the agents' audit records, counted.
type WeekDigest struct {
	Week       Week
	Agents     []AgentWeek       // sorted by name; every agent with any record in the week
	Approvals  ApprovalCounts    // totals
	Refusals   map[Reason]uint64 // totals by reason (a calls record's locked count counts as ReasonLocked)
	Locks      []LockEvent       // in time order
	Unreadable int               // records about agents whose detail does not parse
}

// AgentWeek is one agent's week.
type AgentWeek struct {
	Name      string
	Calls     [7]uint64 // Monday first, by the calls record's from time (UTC)
	Approvals ApprovalCounts
	Refusals  map[Reason]uint64
	Locks     int
}

// ApprovalCounts counts approvals by what happened to them.
type ApprovalCounts struct{ Asked, Granted, Denied, Expired uint64 }

// LockEvent is one lock of an agent: at the lock's time, by the detector
// (Auto) or the owner, with its reason in words.
type LockEvent struct {
	Agent  string
	At     time.Time
	Auto   bool
	Reason string
}

// Digest computes week w's digest from the audit log. Records whose op is
// not about agents are skipped; so are records outside the week: a calls
// record by its from time (an hour written just after midnight on Monday
// belongs to the week before), every other record by its Time. A record
// about agents whose Detail does not parse, or lacks what its op needs,
// is counted in Unreadable, never fatal.
func Digest(records []vault.AuditRecord, w Week) *WeekDigest {
	d := &WeekDigest{Week: w, Refusals: map[Reason]uint64{}}
	agents := map[string]*AgentWeek{}
	get := func(name string) *AgentWeek {
		a := agents[name]
		if a == nil {
			a = &AgentWeek{Name: name, Refusals: map[Reason]uint64{}}
			agents[name] = a
		}
		return a
	}
	start := w.Start()
	for _, r := range records {
		if !agentOps[r.Op] {
			continue
		}
		fs, words, err := ParseDetail(r.Detail)
		var name string
		if err == nil {
			name, err = ParseName(fs["agent"])
		}
		at, hasFrom := r.Time, false
		if from, ferr := time.Parse(time.RFC3339, fs["from"]); r.Op == OpAgentCalls && ferr == nil {
			at, hasFrom = from, true
		}
		if !w.contains(at) {
			continue
		}
		if err != nil {
			d.Unreadable++
			continue
		}
		switch r.Op {
		case OpAgentCalls:
			calls, ok1 := count(fs["calls"])
			locked, ok2 := count(fs["locked"])
			if !ok1 || !ok2 || locked > calls || !hasFrom {
				d.Unreadable++
				continue
			}
			a := get(name)
			a.Calls[int(at.UTC().Sub(start)/(24*time.Hour))] += calls
			if locked > 0 {
				a.Refusals[ReasonLocked] += locked
				d.Refusals[ReasonLocked] += locked
			}
		case OpAgentRefused:
			n, ok := count(fs["count"])
			reason := Reason(fs["reason"])
			if !ok || n == 0 || reason == "" {
				d.Unreadable++
				continue
			}
			get(name).Refusals[reason] += n
			d.Refusals[reason] += n
		case OpAgentLock:
			at := r.Time.UTC()
			if s, ok := fs["at"]; ok {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					d.Unreadable++
					continue
				}
				at = t.UTC()
			}
			get(name).Locks++
			// Words as written are one clipped line; an edited log's are
			// made so again, so no control character reaches a terminal.
			d.Locks = append(d.Locks, LockEvent{Agent: name, At: at, Auto: fs["auto"] == "true", Reason: clipWords(words)})
		case OpApprovalAsk, OpApprovalApprove, OpApprovalDeny, OpApprovalExpire:
			a := get(name)
			for _, c := range []*ApprovalCounts{&a.Approvals, &d.Approvals} {
				switch r.Op {
				case OpApprovalAsk:
					c.Asked++
				case OpApprovalApprove:
					c.Granted++
				case OpApprovalDeny:
					c.Denied++
				case OpApprovalExpire:
					c.Expired++
				}
			}
		default: // add, rm, unlock, secret use: the agent was there
			get(name)
		}
	}
	for _, a := range agents {
		d.Agents = append(d.Agents, *a)
	}
	slices.SortFunc(d.Agents, func(x, y AgentWeek) int { return strings.Compare(x.Name, y.Name) })
	slices.SortStableFunc(d.Locks, func(x, y LockEvent) int { return x.At.Compare(y.At) })
	return d
}

// count reads a decimal count; "" or anything else is not one.
func count(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// Empty reports whether nothing about agents happened in the week.
func (d *WeekDigest) Empty() bool { return len(d.Agents) == 0 && d.Unreadable == 0 }

// Total is the agent's calls over the week.
func (a AgentWeek) Total() uint64 {
	var t uint64
	for _, n := range a.Calls {
		t += n
	}
	return t
}

var dayNames = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// title is the header: "Agents, week 2026-W48 (Mon 23 Nov – Sun 29 Nov 2026)".
func (d *WeekDigest) title() string {
	s, e := d.Week.Start(), d.Week.End().AddDate(0, 0, -1)
	first := s.Format("Mon 2 Jan")
	if s.Year() != e.Year() {
		first = s.Format("Mon 2 Jan 2006")
	}
	return fmt.Sprintf("Agents, week %s (%s – %s)", d.Week, first, e.Format("Mon 2 Jan 2006"))
}

// reasons lists the reasons of m: the known ones in a fixed order, then
// any other a record named, sorted.
func reasons(m map[Reason]uint64) []Reason {
	known := []Reason{ReasonCeiling, ReasonScope, ReasonToken, ReasonKey, ReasonLocked}
	var out, other []Reason
	for _, r := range known {
		if m[r] > 0 {
			out = append(out, r)
		}
	}
	for r, n := range m {
		if n > 0 && !slices.Contains(known, r) {
			other = append(other, r)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

func refusalWords(m map[Reason]uint64) string {
	var parts []string
	for _, r := range reasons(m) {
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (c ApprovalCounts) String() string {
	return fmt.Sprintf("%d asked, %d granted, %d denied, %d expired", c.Asked, c.Granted, c.Denied, c.Expired)
}

func (c ApprovalCounts) zero() bool { return c == ApprovalCounts{} }

func (l LockEvent) by() string {
	if l.Auto {
		return "auto-lock"
	}
	return "by the owner"
}

func (l LockEvent) when() string { return l.At.UTC().Format("Mon 2 Jan 15:04Z") }

func (d *WeekDigest) unreadableWords() string {
	if d.Unreadable == 1 {
		return "1 audit record about agents could not be read"
	}
	return fmt.Sprintf("%d audit records about agents could not be read", d.Unreadable)
}

// Text is the digest as plain lines a person reads in a terminal.
func (d *WeekDigest) Text() string {
	var b strings.Builder
	b.WriteString(d.title() + "\n\n")
	if d.Empty() {
		b.WriteString("nothing happened\n")
		return b.String()
	}
	width := len("agent")
	for _, a := range d.Agents {
		width = max(width, len(a.Name))
	}
	cols := make([]int, 8)
	for i := range cols {
		cols[i] = 3
	}
	for _, a := range d.Agents {
		for i, n := range a.Calls {
			cols[i] = max(cols[i], len(strconv.FormatUint(n, 10)))
		}
		cols[7] = max(cols[7], len(strconv.FormatUint(a.Total(), 10)), len("total"))
	}
	cols[7] = max(cols[7], len("total"))
	row := func(name string, cells []string) {
		fmt.Fprintf(&b, "%-*s", width, name)
		for i, c := range cells {
			fmt.Fprintf(&b, "  %*s", cols[i], c)
		}
		b.WriteString("\n")
	}
	b.WriteString("Calls\n")
	row("agent", append(dayNames[:], "total"))
	for _, a := range d.Agents {
		cells := make([]string, 0, 8)
		for _, n := range a.Calls {
			cells = append(cells, strconv.FormatUint(n, 10))
		}
		row(a.Name, append(cells, strconv.FormatUint(a.Total(), 10)))
	}
	fmt.Fprintf(&b, "\nApprovals: %s\n", d.Approvals)
	for _, a := range d.Agents {
		if !a.Approvals.zero() {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, a.Name, a.Approvals)
		}
	}
	fmt.Fprintf(&b, "\nRefusals: %s\n", refusalWords(d.Refusals))
	for _, a := range d.Agents {
		if len(reasons(a.Refusals)) > 0 {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, a.Name, refusalWords(a.Refusals))
		}
	}
	if len(d.Locks) == 0 {
		b.WriteString("\nLocks: none\n")
	} else {
		fmt.Fprintf(&b, "\nLocks: %d\n", len(d.Locks))
		for _, l := range d.Locks {
			fmt.Fprintf(&b, "  %s  %-*s  %s: %s\n", l.when(), width, l.Agent, l.by(), l.Reason)
		}
	}
	if d.Unreadable > 0 {
		fmt.Fprintf(&b, "\n%s\n", d.unreadableWords())
	}
	return b.String()
}

// mdEscape makes text safe in a Markdown table cell or list item, never
// at the start of a line: the characters Markdown reads as markup there
// (emphasis, code, links, HTML, cell breaks, entities) are escaped.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Markdown is the digest as Markdown, the calls and counts in tables.
func (d *WeekDigest) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", mdEscape(d.title()))
	if d.Empty() {
		b.WriteString("Nothing happened.\n")
		return b.String()
	}
	b.WriteString("## Calls\n\n| agent | Mon | Tue | Wed | Thu | Fri | Sat | Sun | total |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, a := range d.Agents {
		fmt.Fprintf(&b, "| %s |", mdEscape(a.Name))
		for _, n := range a.Calls {
			fmt.Fprintf(&b, " %d |", n)
		}
		fmt.Fprintf(&b, " %d |\n", a.Total())
	}
	b.WriteString("\n## Approvals\n\n| agent | asked | granted | denied | expired |\n|---|--:|--:|--:|--:|\n")
	for _, a := range d.Agents {
		if !a.Approvals.zero() {
			c := a.Approvals
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", mdEscape(a.Name), c.Asked, c.Granted, c.Denied, c.Expired)
		}
	}
	c := d.Approvals
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d |\n", c.Asked, c.Granted, c.Denied, c.Expired)
	b.WriteString("\n## Refusals\n\n")
	if rs := reasons(d.Refusals); len(rs) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| agent |")
		for _, r := range rs {
			fmt.Fprintf(&b, " %s |", mdEscape(string(r)))
		}
		b.WriteString("\n|---|" + strings.Repeat("--:|", len(rs)) + "\n")
		for _, a := range d.Agents {
			if len(reasons(a.Refusals)) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s |", mdEscape(a.Name))
			for _, r := range rs {
				fmt.Fprintf(&b, " %d |", a.Refusals[r])
			}
			b.WriteString("\n")
		}
		b.WriteString("| **total** |")
		for _, r := range rs {
			fmt.Fprintf(&b, " %d |", d.Refusals[r])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Locks\n\n")
	if len(d.Locks) == 0 {
		b.WriteString("None.\n")
	}
	for _, l := range d.Locks {
		fmt.Fprintf(&b, "- %s, %s, %s: %s\n", mdEscape(l.when()), mdEscape(l.Agent), l.by(), mdEscape(l.Reason))
	}
	if d.Unreadable > 0 {
		fmt.Fprintf(&b, "\n%s.\n", d.unreadableWords())
	}
	return b.String()
}

// Bar geometry of the HTML digest's charts, in pixels.
const (
	barWidth  = 18
	barGap    = 4
	barHeight = 40
	labelRoom = 12
)

type htmlBar struct {
	X, Y, W, H int
	LabelX     int
	Day        string
	Title      string
}

type htmlAgent struct {
	AgentWeek
	Bars      []htmlBar
	Refusals  string
	Approvals string
}

type htmlLock struct {
	When, Agent, By, Reason string
}

type htmlPage struct {
	Title      string
	Empty      bool
	Agents     []htmlAgent
	Approvals  string
	Refusals   string
	Locks      []htmlLock
	Unreadable string
	Width      int
	Height     int
}

var digestPage = template.Must(template.New("digest").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
td, th { padding: 0.2em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
rect { fill: #4a7ab5; }
text { font-size: 9px; fill: #555; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Empty}}<p>Nothing happened.</p>
{{else}}<h2>Calls</h2>
<table>
<tr><th>agent</th><th>Mon</th><th>Tue</th><th>Wed</th><th>Thu</th><th>Fri</th><th>Sat</th><th>Sun</th><th>total</th><th></th></tr>
{{range .Agents}}<tr><td>{{.Name}}</td>{{range .Calls}}<td>{{.}}</td>{{end}}<td>{{.Total}}</td>
<td><svg width="{{$.Width}}" height="{{$.Height}}" role="img" aria-label="calls of {{.Name}} per day">{{range .Bars}}<g><title>{{.Title}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"></rect><text x="{{.LabelX}}" y="{{$.Height}}" text-anchor="middle">{{.Day}}</text></g>{{end}}</svg></td></tr>
{{end}}</table>
<h2>Approvals</h2>
<p>{{.Approvals}}</p>
<ul>{{range .Agents}}{{if .Approvals}}<li>{{.Name}}: {{.Approvals}}</li>{{end}}{{end}}</ul>
<h2>Refusals</h2>
<p>{{.Refusals}}</p>
<ul>{{range .Agents}}{{if .Refusals}}<li>{{.Name}}: {{.Refusals}}</li>{{end}}{{end}}</ul>
<h2>Locks</h2>
{{if .Locks}}<ul>{{range .Locks}}<li>{{.When}}, {{.Agent}}, {{.By}}: {{.Reason}}</li>
{{end}}</ul>{{else}}<p>None.</p>{{end}}
{{if .Unreadable}}<p>{{.Unreadable}}.</p>{{end}}
{{end}}</body>
</html>
`))

// HTML is the digest as a whole self-contained page: every text escaped,
// no external asset, no script; per agent a bar chart of calls per day as
// inline SVG, each bar titled with its day and count.
func (d *WeekDigest) HTML() string {
	p := htmlPage{Title: d.title(), Empty: d.Empty(), Approvals: d.Approvals.String(), Refusals: refusalWords(d.Refusals),
		Width: 7*(barWidth+barGap) - barGap, Height: barHeight + labelRoom}
	start := d.Week.Start()
	for _, a := range d.Agents {
		h := htmlAgent{AgentWeek: a}
		if !a.Approvals.zero() {
			h.Approvals = a.Approvals.String()
		}
		if len(reasons(a.Refusals)) > 0 {
			h.Refusals = refusalWords(a.Refusals)
		}
		var top uint64
		for _, n := range a.Calls {
			top = max(top, n)
		}
		for i, n := range a.Calls {
			ht := 0
			if top > 0 {
				ht = int(float64(n) / float64(top) * barHeight)
				if n > 0 && ht == 0 {
					ht = 1
				}
			}
			x := i * (barWidth + barGap)
			h.Bars = append(h.Bars, htmlBar{X: x, Y: barHeight - ht, W: barWidth, H: ht, LabelX: x + barWidth/2,
				Day: dayNames[i], Title: fmt.Sprintf("%s: %d calls", start.AddDate(0, 0, i).Format("Mon 2 Jan"), n)})
		}
		p.Agents = append(p.Agents, h)
	}
	for _, l := range d.Locks {
		p.Locks = append(p.Locks, htmlLock{When: l.when(), Agent: l.Agent, By: l.by(), Reason: l.Reason})
	}
	if d.Unreadable > 0 {
		p.Unreadable = d.unreadableWords()
	}
	var b bytes.Buffer
	if err := digestPage.Execute(&b, p); err != nil {
		panic(err) // fixed template and types; cannot fail
	}
	return b.String()
}
