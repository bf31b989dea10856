package uigateway

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// recordHeaderLen is a TLS record's header: type, version, length
	// (RFC 8446 §5.1).
	recordHeaderLen = 5
	// maxRecordLen is the largest plaintext record a peer may send, 2^14
	// bytes (RFC 8446 §5.1); a ClientHello is sent in the clear.
	maxRecordLen = 16384
	// MaxHello bounds what the gateway reads before it knows where a
	// connection goes: one whole record, header included. A browser's
	// ClientHello, post-quantum key share included, is about 2 KiB.
	MaxHello = recordHeaderLen + maxRecordLen
	// maxHostLen bounds a server name: a DNS name's length (RFC 1035).
	maxHostLen = 253
	// maxLabelLen bounds one label of a server name (RFC 1035).
	maxLabelLen = 63

	// DefaultHandshakeTimeout is how long a client has, from the accept,
	// to send its whole ClientHello: a browser sends it at once, so ten
	// seconds cover a slow mobile link and close a slow-loris early.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultOpenTimeout bounds looking the handle up and opening the
	// stream to its node: both are one round trip on a live connection.
	DefaultOpenTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a spliced connection after this long with
	// no byte in either direction: long enough for a page left open with
	// a keep-alive or an event stream that pings, short enough that a
	// forgotten tab does not hold a slot for hours.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxLifetime closes any spliced connection this long after it
	// was accepted, busy or not: a browser opens a new one without the
	// user noticing, and no single connection holds a slot for ever.
	DefaultMaxLifetime = time.Hour
	// halfCloseGrace is how long the other direction may keep going once
	// one side has finished sending, before both are closed: a browser
	// or a server answers a close in well under that.
	halfCloseGrace = 30 * time.Second

	// DefaultMaxConns bounds the connections the gateway holds at once,
	// waiting for a ClientHello or spliced: each costs two splice buffers
	// (64 KiB) and a stream on the relay's connection to a node.
	DefaultMaxConns = 1024
	// DefaultMaxConnsPerIP bounds one source's connections at once (an
	// IPv6 source is its /64): a browser opens about six per name, a
	// household behind one NAT a few tabs of a few handles.
	DefaultMaxConnsPerIP = 32
	// DefaultMaxConnsPerNode bounds the connections spliced to one node
	// at once, whatever their sources: a node serves its owner and a few
	// guests, and below DefaultListenerMaxConns its Listener holds.
	DefaultMaxConnsPerNode = 128
	// DefaultRatePerIP is the new connections a second one source may
	// open in the long run, and DefaultBurstPerIP how many at once: a
	// page load opens a handful, a reload storm a few more.
	DefaultRatePerIP  = 2
	DefaultBurstPerIP = 20
	// DefaultMaxTrackedIPs bounds the sources whose rate is remembered;
	// when full the gateway forgets them all, which at worst hands a
	// flood of new sources a fresh burst (MaxConns still holds).
	DefaultMaxTrackedIPs = 4096
	// ipv6Prefix is the part of an IPv6 source the per-source bounds key
	// on: one subscriber's network, which its owner can fill with
	// addresses at will.
	ipv6Prefix = 64
	// spliceBuffer is each direction's copy buffer: two TLS records.
	spliceBuffer = 32 * 1024
	// acceptBackoffMax bounds the pause after an accept error (out of
	// file descriptors), which starts at acceptBackoffMin and doubles.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second

	// DefaultListenerMaxConns bounds the streams a node's Listener holds
	// at once, queued or accepted: the gateway's bound per source is
	// DefaultMaxConnsPerIP, and a node has few users.
	DefaultListenerMaxConns = 256
	// DefaultBacklog bounds the streams waiting for Accept; one that
	// arrives when it is full is reset.
	DefaultBacklog = 64
)
