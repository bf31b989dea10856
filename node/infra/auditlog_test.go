package infra

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

type testRecord struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	N     int       `json:"n"`
}

// writeLog appends n records to a fresh log and returns its path and key.
func writeLog(t *testing.T, n int) (string, [32]byte) {
	t.Helper()
	key := auditKey(testkit.Key(t, "relay"), RoleRelay)
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := openChain(path, key, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Append(testRecord{Time: time.Now().UTC(), Event: "test", N: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func verify(t *testing.T, path string, key [32]byte) *AuditReport {
	t.Helper()
	rep, err := verifyChain(path, &key)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte{'\n'})[:bytes.Count(b, []byte{'\n'})]
}

func writeLines(t *testing.T, path string, ls [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(ls, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantBreak(t *testing.T, rep *AuditReport, want string) {
	t.Helper()
	for _, b := range rep.Breaks {
		if strings.Contains(b, want) {
			return
		}
	}
	t.Fatalf("breaks %q, want one containing %q", rep.Breaks, want)
}

// TestAnUntouchedLogVerifies: records are chained, keyed and the head
// names the last one.
func TestAnUntouchedLogVerifies(t *testing.T) {
	path, key := writeLog(t, 5)
	rep := verify(t, path, key)
	if len(rep.Breaks) != 0 || len(rep.Records) != 5 || rep.Head != 5 || rep.AfterHead != 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, r := range rep.Records {
		if !r.OK || r.Seq != uint64(i+1) || !bytes.Contains(r.JSON, []byte(fmt.Sprintf(`"n":%d,"seq":%d,"prev":"`, i+1, i+1))) {
			t.Fatalf("record %d: %+v %s", i, r, r.JSON)
		}
	}
}

// TestEveryEditBreaksTheChain: whoever can edit the files but not read
// the key cannot change, insert, remove, reorder or cut records, nor
// hide it by removing or editing the head, without the verifier saying
// where.
func TestEveryEditBreaksTheChain(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, path string)
		want string
	}{
		{"a changed byte", func(t *testing.T, path string) {
			ls := lines(t, path)
			ls[2] = bytes.Replace(ls[2], []byte(`"n":3`), []byte(`"n":9`), 1)
			writeLines(t, path, ls)
		}, "record 3 (line 3): its MAC does not verify"},
		{"a removed record", func(t *testing.T, path string) {
			ls := lines(t, path)
			writeLines(t, path, append(ls[:2:2], ls[3:]...))
		}, "records 3 to 3 are missing"},
		{"two records swapped", func(t *testing.T, path string) {
			ls := lines(t, path)
			ls[1], ls[2] = ls[2], ls[1]
			writeLines(t, path, ls)
		}, "does not follow record"},
		{"an inserted line", func(t *testing.T, path string) {
			ls := lines(t, path)
			writeLines(t, path, append(ls[:2:2], append([][]byte{[]byte(`{"event":"grant"}` + "\n")}, ls[2:]...)...))
		}, "line 3: not a chained record"},
		{"a record copied from another relay's log", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "other.log")
			l, _ := openChain(other, auditKey(testkit.Key(t, "another relay"), RoleRelay), nil, false)
			for i := range 5 {
				l.Append(testRecord{Event: "test", N: i + 1})
			}
			l.Close()
			ls := lines(t, path)
			ls[4] = lines(t, other)[4]
			writeLines(t, path, ls)
		}, "record 5 (line 5): its MAC does not verify"},
		{"a record of the same log repeated", func(t *testing.T, path string) {
			ls := lines(t, path)
			writeLines(t, path, append(ls[:3:3], ls[2:]...))
		}, "record 3 (line 4): does not follow record 3"},
		{"the tail cut", func(t *testing.T, path string) {
			writeLines(t, path, lines(t, path)[:3])
		}, "the head names record 5 but the log ends at record 3: records 4 to 5 were removed from the end"},
		{"the tail and the head removed", func(t *testing.T, path string) {
			writeLines(t, path, lines(t, path)[:3])
			os.Remove(AuditHeadFile(path))
		}, "is missing: records removed from the end could not be noticed"},
		{"the head edited to match a cut tail", func(t *testing.T, path string) {
			writeLines(t, path, lines(t, path)[:3])
			h, _ := os.ReadFile(AuditHeadFile(path))
			h = bytes.Replace(h, []byte("00000000000000000005"), []byte("00000000000000000003"), 1)
			os.WriteFile(AuditHeadFile(path), h, 0o600)
		}, "was edited or damaged"},
		{"a half-written last line", func(t *testing.T, path string) {
			ls := lines(t, path)
			ls[4] = ls[4][:40]
			writeLines(t, path, ls)
		}, "line 5: cut short"},
		{"the log deleted", func(t *testing.T, path string) {
			os.Remove(path)
		}, "the log was deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, key := writeLog(t, 5)
			tc.edit(t, path)
			wantBreak(t, verify(t, path, key), tc.want)
		})
	}
	t.Run("another role's key", func(t *testing.T) {
		path, _ := writeLog(t, 2)
		other := auditKey(testkit.Key(t, "relay"), RoleBootstrap)
		rep := verify(t, path, other)
		wantBreak(t, rep, "record 1 (line 1): its MAC does not verify")
		wantBreak(t, rep, "head file")
	})
}

// TestTheNextAppenderRecordsACut: a tail cut and a head removed or
// rolled back are noticed by whoever appends next, who writes an
// audit-break record before its own, so rewriting the head afterwards
// does not hide the cut.
func TestTheNextAppenderRecordsACut(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, path string)
		want string
	}{
		{"tail cut", func(t *testing.T, path string) { writeLines(t, path, lines(t, path)[:3]) }, "records 4 to 5 were removed from the end"},
		{"tail cut and head removed", func(t *testing.T, path string) {
			writeLines(t, path, lines(t, path)[:3])
			os.Remove(AuditHeadFile(path))
		}, "the head file is missing; the log ends at record 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, key := writeLog(t, 5)
			tc.edit(t, path)
			l, err := openChain(path, key, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Append(testRecord{Event: "after"}); err != nil {
				t.Fatal(err)
			}
			l.Close()
			rep := verify(t, path, key)
			wantBreak(t, rep, "an appender found the log cut: "+tc.want)
			if last := rep.Records[len(rep.Records)-1]; !bytes.Contains(last.JSON, []byte(`"event":"after"`)) {
				t.Fatalf("the last record is %s", last.JSON)
			}
		})
	}
	t.Run("a head padded with garbage is noticed once", func(t *testing.T) {
		path, key := writeLog(t, 2)
		h, _ := os.ReadFile(AuditHeadFile(path))
		os.WriteFile(AuditHeadFile(path), append(h, "garbage"...), 0o600)
		for range 3 {
			l, _ := openChain(path, key, nil, false)
			if err := l.Append(testRecord{Event: "after"}); err != nil {
				t.Fatal(err)
			}
			l.Close()
		}
		rep := verify(t, path, key)
		if len(rep.Breaks) != 1 || !strings.Contains(rep.Breaks[0], "the head file was edited or damaged; the log ends at record 2") || rep.Head != 6 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("a crash before the head update is no break", func(t *testing.T) {
		path, key := writeLog(t, 3)
		h, _ := os.ReadFile(AuditHeadFile(path))
		// One more record, then the head as it was before it: what a crash
		// between the two writes leaves.
		l, _ := openChain(path, key, nil, false)
		l.Append(testRecord{Event: "late"})
		l.Close()
		os.WriteFile(AuditHeadFile(path), h, 0o600)
		rep := verify(t, path, key)
		if len(rep.Breaks) != 0 || rep.Head != 3 || rep.AfterHead != 1 {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestConcurrentAppendersShareOneChain: the running role and operator
// commands append to one file through separate descriptors; the flock
// and the re-read of the chain's end keep one unbroken chain.
func TestConcurrentAppendersShareOneChain(t *testing.T) {
	path, key := writeLog(t, 0)
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		l, err := openChain(path, key, nil, w == 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer l.Close()
			for i := range each {
				if err := l.Append(testRecord{Event: fmt.Sprintf("w%d", w), N: i}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rep := verify(t, path, key)
	if len(rep.Breaks) != 0 || len(rep.Records) != writers*each || rep.Head != writers*each {
		t.Fatalf("%d records, head %d, breaks %q", len(rep.Records), rep.Head, rep.Breaks)
	}
}

// TestARecordMustBeOneObject: the log refuses what would not be one line.
func TestARecordMustBeOneObject(t *testing.T) {
	path, key := writeLog(t, 0)
	l, err := openChain(path, key, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, bad := range []string{"", "[]", `{"a":1}` + "\n" + `{"b":2}`, `{"a":`, `"x"`} {
		if _, err := l.Write([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := l.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, path, key); len(rep.Breaks) != 0 || len(rep.Records) != 1 {
		t.Fatalf("%+v", rep)
	}
}
