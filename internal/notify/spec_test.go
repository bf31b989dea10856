package notify

import (
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	s := testkit.Seconds
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxTitle": MaxTitle, "MaxBody": MaxBody, "MaxTags": MaxTags, "MaxTagLen": MaxTagLen, "MaxURL": MaxURL,
		"MinPriority": MinPriority, "DefaultPriority": DefaultPriority, "MaxPriority": MaxPriority,
		"MaxAttempts": MaxAttempts, "backoffFirst": s(backoffFirst), "DefaultTimeout": s(DefaultTimeout),
		"DefaultMaxQueue": DefaultMaxQueue, "MaxQueueCap": MaxQueueCap, "maxAnswerBytes": maxAnswerBytes,
		"dropLogInterval": s(dropLogInterval),
	})
	testkit.DocSays(t, doc, "Content-Type: text/plain; charset=utf-8", "Title:", "Priority:", "Tags:", "Click:",
		"1 min, 2 low, 3 default, 4 high, 5 urgent", `"\r\n" becomes "\n"`, "ending in \"…\"")
	if ellipsis != "…" {
		t.Fatal("the clip mark doc.go gives changed")
	}
	r := build(Message{Title: "t", Body: "b", Tags: []string{"x"}, Click: "https://a.example/"})
	if got := headerOf(r, "Content-Type"); got != "text/plain; charset=utf-8" {
		t.Fatalf("Content-Type %q", got)
	}
	for i, name := range []string{"min", "low", "default", "high", "urgent"} {
		if priority(i+1) != i+1 {
			t.Fatalf("priority %d (%s) is not sent as itself", i+1, name)
		}
	}
}

func headerOf(r request, name string) string {
	for _, h := range r.headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}
