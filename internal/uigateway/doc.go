// Package uigateway lets a browser reach the web UI of a home node that
// runs behind NAT, through the relay the node holds a reservation on,
// without the relay ever seeing the page: TLS stays end to end, from the
// browser to the node, and the gateway sees ciphertext and metadata only.
//
// The relay runs a Gateway (`mesh relay --ui-gateway :8443`). It accepts
// TCP, reads the first TLS record of each connection, the ClientHello,
// sent in the clear, and takes the server name (SNI) from it. A name
// HANDLE.DOMAIN, DOMAIN being the configured domain and HANDLE a valid
// handle (protocols/directory), goes to that handle's node: the gateway
// asks Config.Resolve for the node, opens a stream ProtocolID
// ("/ocmt/ui/1") to it over the node's own connection to the relay
// (Opener never dials), writes the ClientHello it read to the stream and
// then copies bytes both ways, unchanged, until either side closes. The
// gateway holds no certificate and no key, and imports no TLS library:
// it reads the ClientHello with its own parser (ParseSNI) and never
// answers it.
//
// The node serves a Listener: a net.Listener whose connections are the
// streams the gateway opens, from the peers Allow admits (its relays)
// only. The node wraps it with tls.NewListener, its certificate for
// HANDLE.DOMAIN, and serves the same handler as on loopback.
//
// # The ClientHello
//
// The gateway reads a connection's first record exactly: the 5-byte
// header, then the length it announces, at most MaxHello (16389) bytes in
// all. A header that is not a handshake record of version 3.1 to 3.3
// closes the connection after those 5 bytes. The record must hold one
// whole ClientHello and nothing else; a ClientHello fragmented over
// several records, which browsers do not send, is refused. The
// server_name extension must hold exactly one host_name, a DNS name of at
// most maxHostLen (253) bytes in labels of at most maxLabelLen (63)
// bytes; it is lowercased. ParseSNI lists every rule.
//
// # Refusals
//
// A refused connection is closed without an answer (no TLS alert: the
// gateway speaks no TLS) and without a byte reaching a node. In the order
// they are checked:
//
//	outcome            when
//	rate-limited       the source opened more than BurstPerIP, RatePerIP a second in the long run
//	source-limit       the source holds MaxConnsPerIP connections already
//	busy               the gateway holds MaxConns connections already
//	handshake-timeout  no whole ClientHello within HandshakeTimeout of the accept
//	not-tls            the first record is not a TLS handshake
//	malformed          not one whole, well-formed ClientHello, or the client left mid-hello
//	no-sni             a ClientHello without a server name
//	bad-name           the name is not HANDLE.DOMAIN with HANDLE a valid handle
//	unknown-handle     Resolve refused the handle (unknown, or no reservation here)
//	node-limit         the handle's node has MaxConnsPerNode connections already
//	unreachable        the stream to the node could not be opened within OpenTimeout
//
// A source is an IPv4 address, or the /64 (ipv6Prefix (64) bits) of an
// IPv6 address. At most MaxTrackedIPs sources' rates are remembered;
// when full, all are forgotten (MaxConns holds whatever comes).
//
// # Splicing
//
// Each direction copies through its own buffer of spliceBuffer (32768)
// bytes. When one side ends its direction cleanly, the other side is
// closed for writing and has halfCloseGrace (30) seconds to finish; an
// error on either side closes both (the stream is reset). A spliced
// connection is also closed after IdleTimeout with no byte in either
// direction, and MaxLifetime after it was accepted, busy or not.
// Timeouts are real time (the network's deadlines and timers); the
// injected clock Now stamps events and drives the rate limit.
//
// # Audit
//
// Every connection accepted, refused or spliced, gives one Event when it
// ends: its time, source address, the handle and node when they were
// known, the bytes in each direction, its duration and its Outcome.
// Nothing a client or a node sent is in it: not a payload byte, not a
// server name that is not a valid handle.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds, the accept
// backoff in milliseconds.
//
//	name                     value  unit     what it bounds
//	recordHeaderLen          5      bytes    a TLS record's header
//	maxRecordLen             16384  bytes    a TLS record's body
//	MaxHello                 16389  bytes    what is read before a connection's node is known
//	maxHostLen               253    bytes    a server name
//	maxLabelLen              63     bytes    one label of a server name
//	DefaultHandshakeTimeout  10     seconds  from the accept to the whole ClientHello
//	DefaultOpenTimeout       10     seconds  resolving the handle and opening the stream
//	DefaultIdleTimeout       300    seconds  a spliced connection with no byte either way
//	DefaultMaxLifetime       3600   seconds  any spliced connection
//	halfCloseGrace           30     seconds  the other direction, once one has ended
//	DefaultMaxConns          1024   conns    connections held at once
//	DefaultMaxConnsPerIP     32     conns    one source's connections at once
//	DefaultMaxConnsPerNode   128    conns    connections to one node at once
//	DefaultRatePerIP         2      /second  one source's new connections in the long run
//	DefaultBurstPerIP        20     conns    one source's new connections at once
//	DefaultMaxTrackedIPs     4096   sources  sources whose rate is remembered
//	ipv6Prefix               64     bits     the part of an IPv6 source that counts
//	spliceBuffer             32768  bytes    each direction's copy buffer
//	acceptBackoffMin         5      ms       the first pause after an accept error
//	acceptBackoffMax         1000   ms       the longest
//	DefaultListenerMaxConns  256    streams  streams a node's Listener holds at once
//	DefaultBacklog           64     streams  streams waiting for the node's Accept
package uigateway
