package groupwire

import (
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxAdmins": MaxAdmins, "MaxCommitmentsBytes": MaxCommitmentsBytes, "MaxSealedShareBytes": MaxSealedShareBytes,
		"MaxApprovalBytes": MaxApprovalBytes, "MaxChangeBytes": MaxChangeBytes, "MaxValueBytes": MaxValueBytes,
		"MaxNameLen": MaxNameLen, "MaxScheduleLen": MaxScheduleLen, "MaxRecordBytes": MaxRecordBytes,
		"MaxAuditPage": MaxAuditPage, "MaxListNames": MaxListNames, "MaxLabelLen": MaxLabelLen, "MaxMembers": MaxMembers,
		"MaxMembership": testkit.Seconds(MaxMembership), "MaxWindow": testkit.Seconds(MaxWindow),
		"MaxGroupNameLen": group.MaxGroupNameLen, "PeerIDLen": int64(keys.PeerIDLen),
		"MaxTokenBytes": capability.MaxTokenBytes, "maxUnix": maxUnix,
		"MaxRequest": MaxRequest, "MaxResponse": MaxResponse, "Timeout": testkit.Seconds(Timeout),
		"peerRate": peerRate, "peerBurst": peerBurst, "maxLimited": maxLimited, "maxInFlight": maxInFlight,
	})
	testkit.DocSays(t, doc, "/ocmt/group/1", "(MaxValueBytes + MaxTokenBytes + 4096)", "(MaxNameLen × MaxListNames + 8192)",
		"(366 days)", "9999-12-31T23:59:59Z", "/ocmt/group/1/audit/VAULT/GROUP",
		"that you belong to", "a put request needs a value", "a get request takes no value")
	if MaxRequest != MaxValueBytes+capability.MaxTokenBytes+4096 || MaxResponse != MaxNameLen*MaxListNames+8192 || MaxMembership != 366*24*time.Hour {
		t.Fatal("the sums doc.go writes out no longer hold")
	}
	if time.Unix(maxUnix, 0).UTC().Format(time.RFC3339) != "9999-12-31T23:59:59Z" {
		t.Fatal("maxUnix is not the time doc.go names")
	}
	if ID != "/ocmt/group/1" {
		t.Fatal(ID)
	}
}

// The numbers this protocol takes from package group must stay group's.
func TestLimitsFollowPackageGroup(t *testing.T) {
	for _, c := range []struct {
		name         string
		ours, theirs int64
	}{
		{"MaxAdmins", MaxAdmins, group.MaxAdmins},
		{"MaxValueBytes", MaxValueBytes, group.MaxSecretBytes},
		{"MaxNameLen", MaxNameLen, group.MaxSecretNameLen},
		{"MaxWindow", int64(MaxWindow), int64(group.MaxWindow)},
	} {
		if c.ours != c.theirs {
			t.Errorf("%s is %d here and %d in package group", c.name, c.ours, c.theirs)
		}
	}
}

// Every op of the field table has a row in doc.go's table, with the same
// letters, and the table names every op with its number.
func TestDocFieldTableMatchesTheCode(t *testing.T) {
	doc := testkit.SpecDoc(t)
	for op, row := range fieldTable {
		want := ""
		for _, c := range row {
			switch c {
			case 'R':
				want += "  R"
			case 'O':
				want += "  O"
			default:
				want += "  -"
			}
		}
		testkit.DocSays(t, doc, padOp(op)+want[2:])
	}
	if len(fieldTable) != 16 {
		t.Fatalf("the field table has %d ops; doc.go names 16", len(fieldTable))
	}
}

// padOp is an op's cell as doc.go's field table writes it: the number,
// the name, padded to the first column.
func padOp(op Op) string {
	var s string
	if op < 10 {
		s = string(rune('0'+op)) + "  "
	} else {
		s = string(rune('0'+op/10)) + string(rune('0'+op%10)) + " "
	}
	s += op.String()
	for len(s) < 13 {
		s += " "
	}
	return s
}
