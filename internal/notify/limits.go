package notify

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// MaxTitle bounds a title, in bytes of UTF-8: a phone shows one line
	// of it, and it travels in a header, which servers cap (a few KiB).
	MaxTitle = 256
	// MaxBody bounds a body, in bytes of UTF-8: ntfy.sh keeps a message
	// of up to 4096 bytes as text and turns a longer one into an
	// attachment, which a phone does not show.
	MaxBody = 4096
	// MaxTags bounds the tags of a message: ntfy shows a few emoji and
	// words next to the title; more only crowd it.
	MaxTags = 8
	// MaxTagLen bounds one tag: ntfy's emoji short codes
	// ("rotating_light") and short words fit.
	MaxTagLen = 32
	// MaxURL bounds the webhook URL and a Click URL: 2048 bytes is what
	// servers and browsers commonly accept, far above a topic URL.
	MaxURL = 2048

	// MinPriority, DefaultPriority and MaxPriority are ntfy's priorities:
	// 1 min, 2 low, 3 default, 4 high, 5 urgent. A Message's 0 is
	// DefaultPriority; other numbers out of range are clamped.
	MinPriority     = 1
	DefaultPriority = 3
	MaxPriority     = 5

	// MaxAttempts bounds the POSTs of one message: a server restarting
	// or a phone's push relay briefly overloaded recovers within a few
	// seconds; one that does not is not helped by more.
	MaxAttempts = 4
	// backoffFirst is the wait after the first failed attempt; each
	// further wait doubles it (1, 2, 4 seconds), so a message is given
	// up after 7 seconds of waiting plus its attempts.
	backoffFirst = time.Second
	// DefaultTimeout bounds one POST, the answer included, and the time
	// Close gives the messages still queued, in total.
	DefaultTimeout = 10 * time.Second

	// DefaultMaxQueue bounds the messages waiting to be sent: an alert
	// source that outruns four attempts a message is a flood, and what
	// is beyond the queue is dropped and counted.
	DefaultMaxQueue = 64
	// MaxQueueCap bounds Config.MaxQueue: a queue is allocated whole,
	// and more alerts than this waiting is no longer a phone's business.
	MaxQueueCap = 4096

	// maxAnswerBytes is how much of an answer's body is read (and
	// dropped) so the connection can be reused.
	maxAnswerBytes = 4096
	// dropLogInterval is how often, at most, dropped messages are
	// logged (as one count): a flood must not flood the log as well.
	dropLogInterval = time.Minute
)
