// Package notify sends alerts from a home node to its user's phone through
// a push service's webhook, in the form ntfy (https://ntfy.sh, or a
// self-hosted ntfy server) accepts: publishing by HTTP headers. Services
// that accept ntfy's form work too; Gotify's own API takes JSON instead,
// and needs an ntfy-compatible bridge in front of it.
//
// # The request
//
// Each message is one HTTP POST to the configured URL, an ntfy topic URL
// such as https://ntfy.sh/my-topic:
//
//	POST /my-topic HTTP/1.1
//	Content-Type: text/plain; charset=utf-8
//	Title: Disk almost full
//	Priority: 4
//	Tags: warning,floppy_disk
//	Click: https://home.example/status
//
//	The backup disk is 97% full.
//
// Each part is cleaned first:
//
//   - The body is the message as plain UTF-8 text: "\r\n" becomes "\n",
//     other control characters but "\n" become spaces, invalid UTF-8
//     becomes U+FFFD, and it is clipped to MaxBody (4096) bytes, a
//     clipped text ending in "…".
//   - Title is cleaned the same way, newlines too becoming spaces, and
//     clipped to MaxTitle (256) bytes. A title of printable ASCII without
//     "=?" is sent as is; any other is sent as RFC 2047 encoded words
//     ("=?utf-8?b?...?="), which ntfy decodes. It is left out when empty.
//   - Priority is ntfy's number: 1 min, 2 low, 3 default, 4 high,
//     5 urgent. A message's 0 is DefaultPriority (3); numbers outside
//     MinPriority (1) to MaxPriority (5) are clamped.
//   - Tags are words of a-z, 0-9, '_' and '-' (lower-cased first), at
//     most MaxTagLen (32) characters each, comma separated; others and
//     repeats are left out, and at most MaxTags (8) are sent. ntfy shows a
//     tag that names an emoji ("warning") as the emoji.
//   - Click, when the message has one, is an http(s) URL without user
//     info, at most MaxURL (2048) bytes, sent re-escaped; another is left
//     out.
//
// No header value ever holds a CR, an LF or another control character,
// so no text of a message can add a header or end the header block.
//
// # Delivery
//
// New starts one goroutine that sends the queued messages in order. Send
// never blocks: it queues the message, or drops and counts it when the
// queue (DefaultMaxQueue (64) messages unless configured, at most
// MaxQueueCap (4096)) is full, so a flood of alerts costs no memory
// beyond the queue. Each message is tried up to MaxAttempts (4) times,
// waiting backoffFirst (1) second after the first failure and twice as
// long after each next one. A 2xx answer is success. A 429 answer, a 5xx
// answer, no answer within DefaultTimeout (10) seconds, or no connection
// is tried again; any other answer (a 4xx, or a 3xx: no redirect is
// followed) fails the message at once. At most maxAnswerBytes (4096) of
// an answer's body is read, and dropped. Close gives the messages still
// queued DefaultTimeout in total, the POST under way included, then drops
// the rest. Stats counts messages Sent, Failed and Dropped.
//
// # The URL is a secret
//
// A topic URL is all it takes to send to, or read, the topic, so its path
// and query are as secret as a password. The URL must be http or https,
// with a host and no user info (a token goes in the path or the query, as
// ntfy topics do); plain http is refused unless the host is loopback
// ("localhost", 127.0.0.0/8, ::1) or the configuration allows insecure
// URLs. No log line and no error ever shows more of the URL than its host:
// refusals do not quote it, and errors from the network are stripped of
// it. Dropped messages are logged as one count at most once a
// dropLogInterval (60) seconds.
//
// # Limits
//
//	name             value  unit      what it bounds
//	MaxTitle         256    bytes     a title, as sent
//	MaxBody          4096   bytes     a body, as sent
//	MaxTags          8      tags      tags of a message
//	MaxTagLen        32     bytes     one tag
//	MaxURL           2048   bytes     the webhook URL, a Click URL
//	MinPriority      1      priority  the lowest (min)
//	DefaultPriority  3      priority  a message's priority 0
//	MaxPriority      5      priority  the highest (urgent)
//	MaxAttempts      4      POSTs     tries of one message
//	backoffFirst     1      seconds   the first wait; each next doubles
//	DefaultTimeout   10     seconds   one POST; Close's time for the queue
//	DefaultMaxQueue  64     messages  queued, by default
//	MaxQueueCap      4096   messages  queued, at most
//	maxAnswerBytes   4096   bytes     an answer's body read
//	dropLogInterval  60     seconds   between two logs of dropped messages
package notify
