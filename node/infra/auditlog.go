package infra

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// The infrastructure roles' audit logs.
//
// Each role appends metadata-only records, one JSON object per line, to a
// file (DIR/audit.log unless configured elsewhere). The line is the
// record's own fields followed by three chain fields:
//
//	{...,"seq":N,"prev":"<hex MAC of record N-1>","mac":"<hex MAC>"}
//
// mac is HMAC-SHA256(K, every byte of the line before `,"mac":"`), so it
// covers the record, its sequence number and its predecessor's MAC; the
// first record's prev is 64 zeros. K is derived from the role's peer key
// (its only secret) with HKDF-SHA256: ikm the Ed25519 seed, salt the role
// name ("relay", "bootstrap"), info LabelInfraAudit. Someone who can edit
// the file but not read identity.key can therefore neither change, insert,
// reorder nor delete a record without the chain breaking at that place.
//
// Deleting records from the end leaves a valid chain, so the head is kept
// beside the log, in FILE.head, rewritten after every append:
//
//	ocmt-audit-head/v1 SEQ(20 digits) MAC(hex) HEADMAC(hex)
//
// where MAC is the last record's and HEADMAC = HMAC-SHA256(K, "head" 0x00
// SEQ(8 bytes, big endian) MAC). A log whose last record is older than the
// head's is a deleted tail; a missing or edited head file is reported as
// such. And whoever appends next (the role, or an operator's command)
// checks the head first and, if the log was cut, writes an "audit-break"
// record saying so before its own, so the evidence survives the head
// being rewritten. What cannot be noticed is a rollback of both files to a
// copy taken earlier, or deleting both (a new log then starts at record 1):
// copy the log off the machine for that.
//
// Several processes append to one log: the running role and the
// operator's commands (mesh relay grant and revoke, with the relay running
// or not). Each append takes an exclusive flock on the log, re-reads the
// chain's end if the file changed since this process last wrote, writes
// the whole line with one O_APPEND write, rewrites the head and unlocks.

// LabelInfraAudit is the HKDF info of the key that chains an
// infrastructure role's audit log; no other key is derived with it.
const LabelInfraAudit = "ocmt-mesh/infra-audit/v1"

// Roles, the HKDF salt of their audit keys.
const (
	RoleRelay      = "relay"
	RoleBootstrap  = "bootstrap"
	RoleSupervisor = "supervisor"
)

// EventAuditBreak is the record an appender writes when it finds the log
// cut (tail deleted, head missing or edited) before appending its own.
const EventAuditBreak = "audit-break"

// maxAuditLine bounds one record line; records are a few hundred bytes.
const maxAuditLine = 16 << 10

const (
	macField   = `,"mac":"`
	headPrefix = "ocmt-audit-head/v1 "
	// headLen is the head file's fixed length (rewritten in place).
	headLen = len(headPrefix) + 20 + 1 + 64 + 1 + 64 + 1
)

// DefaultAuditFile is a role's audit log when none is configured.
func DefaultAuditFile(h home.Home) string { return filepath.Join(string(h), "audit.log") }

// AuditHeadFile is the head file kept beside the log at path.
func AuditHeadFile(path string) string { return path + ".head" }

// auditKey derives role's audit MAC key from its peer key.
func auditKey(k *keys.PeerKey, role string) [32]byte {
	seed := k.Seed()
	defer clear(seed)
	return xcrypto.Expand(seed, []byte(role), LabelInfraAudit)
}

// chainLog appends chained records to one log file. Safe for concurrent
// use; other processes may append to the same file (see above).
type chainLog struct {
	path    string
	now     func() time.Time
	durable bool // fsync each append (the operator's commands)

	mu   sync.Mutex
	f    *os.File // the log, O_APPEND
	head *os.File // FILE.head, rewritten in place
	key  [32]byte
	seq  uint64   // the last record written, as this process knows it
	prev [32]byte // its MAC
	size int64    // the log's size after this process's last append; -1 unknown
}

// openChain opens (creating, mode 0600) the log at path and its head.
func openChain(path string, key [32]byte, now func() time.Time, durable bool) (*chainLog, error) {
	if now == nil {
		now = time.Now
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	hf, err := os.OpenFile(AuditHeadFile(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the audit log's head: %w", err)
	}
	return &chainLog{path: path, now: now, durable: durable, f: f, head: hf, key: key, size: -1}, nil
}

// Write appends p, one JSON object (a trailing newline is allowed), as a
// chained record: chainLog is the io.Writer the bootstrap service writes
// its audit lines to.
func (l *chainLog) Write(p []byte) (int, error) {
	if err := l.appendObject(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Append marshals v, which must encode as a JSON object, and appends it.
func (l *chainLog) Append(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding an audit record: %w", err)
	}
	return l.appendObject(b)
}

// Sync flushes the log and its head to disk.
func (l *chainLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	return errors.Join(l.f.Sync(), l.head.Sync())
}

// Close syncs and closes the files and wipes the key.
func (l *chainLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := errors.Join(l.f.Sync(), l.head.Sync(), l.f.Close(), l.head.Close())
	l.f, l.head = nil, nil
	clear(l.key[:])
	return err
}

func (l *chainLog) appendObject(obj []byte) error {
	obj = bytes.TrimRight(obj, "\n")
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' || bytes.IndexByte(obj, '\n') >= 0 || !json.Valid(obj) {
		return errors.New("audit: a record must be one JSON object")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	fd := int(l.f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("audit: locking the log: %w", err)
	}
	defer syscall.Flock(fd, syscall.LOCK_UN)
	st, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	size := st.Size()
	var pre []byte
	if size != l.size {
		torn, note, err := l.reload(size)
		if err != nil {
			return err
		}
		if torn {
			pre = []byte{'\n'} // end the cut line: the verifier reports it
		}
		if note != "" {
			mark, _ := json.Marshal(struct {
				Time   time.Time `json:"time"`
				Event  string    `json:"event"`
				Detail string    `json:"detail"`
			}{l.now().UTC(), EventAuditBreak, note})
			line, seq, mac := l.compose(mark, pre)
			if err := l.write(line, seq, mac, size); err != nil {
				return err
			}
			size += int64(len(line))
			pre = nil
		}
	}
	line, seq, mac := l.compose(obj, pre)
	if len(line) > maxAuditLine {
		return errors.New("audit: record too large")
	}
	return l.write(line, seq, mac, size)
}

// compose builds the line of the next record from obj.
func (l *chainLog) compose(obj, pre []byte) (line []byte, seq uint64, mac [32]byte) {
	seq = l.seq + 1
	body := make([]byte, 0, len(pre)+len(obj)+200)
	body = append(body, obj[:len(obj)-1]...)
	if len(bytes.TrimSpace(obj[1:len(obj)-1])) > 0 {
		body = append(body, ',')
	}
	body = append(body, `"seq":`...)
	body = strconv.AppendUint(body, seq, 10)
	body = append(body, `,"prev":"`...)
	body = hex.AppendEncode(body, l.prev[:])
	body = append(body, '"')
	mac = recordMAC(&l.key, body)
	line = append(append([]byte(nil), pre...), body...)
	line = append(line, macField...)
	line = hex.AppendEncode(line, mac[:])
	line = append(line, '"', '}', '\n')
	return line, seq, mac
}

// write appends line (one write on an O_APPEND file) and rewrites the head.
func (l *chainLog) write(line []byte, seq uint64, mac [32]byte, size int64) error {
	if _, err := l.f.Write(line); err != nil {
		l.size = -1 // part of it may have landed: read the end again
		return fmt.Errorf("audit: writing the log: %w", err)
	}
	l.seq, l.prev, l.size = seq, mac, size+int64(len(line))
	if _, err := l.head.WriteAt(headLine(&l.key, seq, mac), 0); err != nil {
		return fmt.Errorf("audit: writing the head: %w", err)
	}
	if err := l.head.Truncate(int64(headLen)); err != nil { // whatever was longer before
		return fmt.Errorf("audit: writing the head: %w", err)
	}
	if l.durable {
		if err := errors.Join(l.f.Sync(), l.head.Sync()); err != nil {
			return fmt.Errorf("audit: syncing the log: %w", err)
		}
	}
	return nil
}

// reload learns where the chain ends from the log (someone else appended,
// or this is the first append) and checks it against the head file and
// what this process wrote itself. note, when set, describes a cut the
// appender records before its own record; torn says the file ends in a
// partial line.
func (l *chainLog) reload(size int64) (torn bool, note string, err error) {
	tail, torn, err := lastRecord(l.f, size)
	if err != nil {
		return false, "", err
	}
	head, headOK, headThere := readHead(l.head, &l.key)
	// The furthest point the log is known to have reached: the head file,
	// or this process's own last record.
	known := head
	if l.size >= 0 && l.seq > known.seq {
		known = chainPoint{l.seq, l.prev}
	}
	switch {
	case tail.seq > 0 && headThere && !headOK:
		note = fmt.Sprintf("the head file was edited or damaged; the log ends at record %d", tail.seq)
	case tail.seq > 0 && !headThere && known.seq == 0:
		note = fmt.Sprintf("the head file is missing; the log ends at record %d", tail.seq)
	case known.seq > tail.seq:
		note = fmt.Sprintf("records %d to %d were removed from the end of the log", tail.seq+1, known.seq)
	case known.seq > 0 && known.seq == tail.seq && known.mac != tail.mac:
		note = fmt.Sprintf("record %d is not the one last written (the end of the log was rewritten)", tail.seq)
	}
	// Continue after whichever is further, so a cut shows as a gap.
	next := tail
	if known.seq > tail.seq {
		next = known
	}
	l.seq, l.prev = next.seq, next.mac
	return torn, note, nil
}

type chainPoint struct {
	seq uint64
	mac [32]byte
}

// lastRecord finds the last chained record in the final maxAuditLine×4
// bytes of f (its MAC is not checked: the verifier reports a bad one).
func lastRecord(f *os.File, size int64) (last chainPoint, torn bool, err error) {
	if size == 0 {
		return last, false, nil
	}
	n := min(size, 4*maxAuditLine)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return last, false, fmt.Errorf("audit: reading the log's end: %w", err)
	}
	torn = buf[len(buf)-1] != '\n'
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte{'\n'})
	for i := len(lines) - 1; i >= 0; i-- {
		if r, ok := parseChained(lines[i]); ok {
			return chainPoint{r.seq, r.mac}, torn, nil
		}
	}
	return last, torn, nil
}

// chained is one parsed line.
type chained struct {
	seq   uint64
	prev  [32]byte
	mac   [32]byte
	body  []byte // what mac covers
	event string
	note  string
}

// parseChained splits a line into its record and chain fields.
func parseChained(line []byte) (chained, bool) {
	var c chained
	end := len(line) - len(macField) - 64 - 2
	if len(line) > maxAuditLine || end < 1 || string(line[end:end+len(macField)]) != macField || string(line[len(line)-2:]) != `"}` {
		return c, false
	}
	if _, err := hex.Decode(c.mac[:], line[end+len(macField):len(line)-2]); err != nil {
		return c, false
	}
	var f struct {
		Seq    *uint64 `json:"seq"`
		Prev   string  `json:"prev"`
		Event  string  `json:"event"`
		Detail string  `json:"detail"`
	}
	if json.Unmarshal(line, &f) != nil || f.Seq == nil || len(f.Prev) != 64 {
		return c, false
	}
	if _, err := hex.Decode(c.prev[:], []byte(f.Prev)); err != nil {
		return c, false
	}
	c.seq, c.body, c.event, c.note = *f.Seq, line[:end], f.Event, f.Detail
	return c, true
}

func recordMAC(key *[32]byte, body []byte) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(body)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

func headMAC(key *[32]byte, seq uint64, mac [32]byte) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("head\x00"))
	m.Write(binary.BigEndian.AppendUint64(nil, seq))
	m.Write(mac[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

func headLine(key *[32]byte, seq uint64, mac [32]byte) []byte {
	hm := headMAC(key, seq, mac)
	return fmt.Appendf(nil, "%s%020d %x %x\n", headPrefix, seq, mac, hm)
}

// readHead reads a head file: its point, whether its MAC verifies, and
// whether it holds anything at all.
func readHead(f io.ReaderAt, key *[32]byte) (p chainPoint, ok, there bool) {
	buf := make([]byte, headLen+1)
	n, _ := f.ReadAt(buf, 0)
	if n == 0 {
		return p, false, false
	}
	b := buf[:n]
	// prefix, 20 digits, space, 64 hex, space, 64 hex, newline
	const digits, macAt = len(headPrefix), len(headPrefix) + 21
	if n != headLen || !bytes.HasPrefix(b, []byte(headPrefix)) || b[digits+20] != ' ' || b[macAt+64] != ' ' || b[n-1] != '\n' {
		return p, false, true
	}
	seq, err := strconv.ParseUint(string(b[digits:digits+20]), 10, 64)
	if err != nil {
		return p, false, true
	}
	p.seq = seq
	var hm [32]byte
	if _, err := hex.Decode(p.mac[:], b[macAt:macAt+64]); err != nil {
		return p, false, true
	}
	if _, err := hex.Decode(hm[:], b[macAt+65:macAt+129]); err != nil {
		return p, false, true
	}
	want := headMAC(key, p.seq, p.mac)
	if !hmac.Equal(hm[:], want[:]) {
		return chainPoint{}, false, true
	}
	return p, true, true
}

// AuditLine is one record of a verified log.
type AuditLine struct {
	// Line is the record's line number in the file (from 1); Seq its
	// sequence number.
	Line int
	Seq  uint64
	// OK says the record's MAC verifies and it follows its predecessor.
	OK bool
	// JSON is the whole line, chain fields included.
	JSON json.RawMessage
}

// AuditReport is what verifying a log found.
type AuditReport struct {
	Path    string
	Records []AuditLine
	// Breaks lists every place the chain does not verify, in file order,
	// then what the head says. Empty: the log is whole.
	Breaks []string
	// Head is the record the head file names (0: none); AfterHead counts
	// the records after it (a crash between an append and its head
	// update leaves one; nobody without the key can add any).
	Head      uint64
	AfterHead int
}

// VerifyAuditLog reads the role's log at path with the key in h and
// verifies its chain and head. A missing log is an empty report (or a
// break if its head is there).
func VerifyAuditLog(h home.Home, role, path string) (*AuditReport, error) {
	k, err := home.LoadIdentity(h)
	if err != nil {
		return nil, err
	}
	key := auditKey(&k, role)
	k.Wipe()
	defer clear(key[:])
	return verifyChain(path, &key)
}

func verifyChain(path string, key *[32]byte) (*AuditReport, error) {
	rep := &AuditReport{Path: path}
	var head chainPoint
	var headOK, headThere bool
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, herr := os.Stat(AuditHeadFile(path)); herr == nil {
			rep.Breaks = append(rep.Breaks, "the log is missing but its head file is there: the log was deleted")
		}
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The log's size and its head, read together under a shared lock
	// (appenders hold it exclusively while they write both), are a
	// consistent point; the scan stops there, without holding the lock,
	// so a long log does not stall the running role.
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		return nil, fmt.Errorf("audit: locking the log: %w", err)
	}
	st, err := f.Stat()
	if hf, herr := os.Open(AuditHeadFile(path)); herr == nil {
		head, headOK, headThere = readHead(hf, key)
		hf.Close()
	} else {
		head, headOK, headThere = chainPoint{}, false, false
	}
	syscall.Flock(fd, syscall.LOCK_UN)
	if err != nil {
		return nil, err
	}
	brk := func(format string, args ...any) { rep.Breaks = append(rep.Breaks, fmt.Sprintf(format, args...)) }
	var (
		seq     uint64
		prev    [32]byte
		headMac *[32]byte
		r       = bufio.NewReaderSize(io.LimitReader(f, st.Size()), 64<<10)
	)
	for n := 1; ; n++ {
		line, complete, tooLong, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if line == nil && !tooLong {
			break
		}
		switch {
		case tooLong:
			brk("line %d: longer than any record (inserted)", n)
			continue
		case !complete:
			brk("line %d: cut short (a write interrupted by a crash, or an edit)", n)
			continue
		}
		c, ok := parseChained(line)
		if !ok {
			brk("line %d: not a chained record (damaged or inserted)", n)
			continue
		}
		mac := recordMAC(key, c.body)
		good := hmac.Equal(mac[:], c.mac[:])
		follows := c.seq == seq+1 && c.prev == prev
		switch {
		case !good:
			brk("record %d (line %d): its MAC does not verify (edited, or not written with this role's key)", c.seq, n)
		case c.seq > seq+1 && c.prev != prev:
			brk("record %d (line %d): records %d to %d are missing", c.seq, n, seq+1, c.seq-1)
		case !follows:
			brk("record %d (line %d): does not follow record %d (reordered, repeated or spliced)", c.seq, n, seq)
		}
		if good && c.event == EventAuditBreak {
			brk("record %d (line %d): an appender found the log cut: %s", c.seq, n, c.note)
		}
		rep.Records = append(rep.Records, AuditLine{Line: n, Seq: c.seq, OK: good && follows, JSON: append(json.RawMessage(nil), line...)})
		if headOK && c.seq == head.seq {
			m := c.mac
			headMac = &m
		}
		seq, prev = c.seq, c.mac // resynchronise on what the line claims
	}
	switch {
	case !headThere && seq > 0:
		brk("the head file %s is missing: records removed from the end could not be noticed", AuditHeadFile(path))
	case headThere && !headOK:
		brk("the head file %s was edited or damaged", AuditHeadFile(path))
	case headOK && head.seq > seq:
		brk("the head names record %d but the log ends at record %d: records %d to %d were removed from the end", head.seq, seq, seq+1, head.seq)
	case headOK && (headMac == nil || *headMac != head.mac):
		brk("the head names record %d, which is not in the log as written (the log was rewritten)", head.seq)
	}
	if headOK {
		rep.Head = head.seq
		for _, rec := range rep.Records {
			if rec.Seq > head.seq {
				rep.AfterHead++
			}
		}
	}
	return rep, nil
}

// readLine reads one line without its newline. complete is false for a
// last line with no newline; tooLong when the line exceeds maxAuditLine
// (it is skipped). A nil line (and !tooLong) is the end of the file.
func readLine(r *bufio.Reader) (line []byte, complete, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > maxAuditLine+1 {
				tooLong, line = true, nil
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, true, true, nil
			}
			return line[:len(line)-1], true, false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if tooLong {
				return nil, false, true, nil
			}
			if len(line) == 0 {
				return nil, false, false, nil
			}
			return line, false, false, nil
		default:
			return nil, false, false, err
		}
	}
}
