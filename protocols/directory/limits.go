package directory

import "time"

// ID is the protocol ID.
const ID = "/ocmt/directory/1"

// Caps, each with the reason for its size.
const (
	// MaxHandleLen bounds a handle: short enough to type, long enough to be unique.
	MaxHandleLen = 32
	// MinHandleLen keeps one-letter handles out (typos, squatting value).
	MinHandleLen = 2
	// MaxNameBytes bounds the display name: a person's name, not a biography.
	MaxNameBytes = 64
	// MaxRelays bounds the relay list: a node keeps 1–3 reservations; 8 leaves room.
	MaxRelays = 8
	// MaxAddrBytes bounds one binary multiaddr; real relay circuits are < 120 bytes.
	MaxAddrBytes = 256
	// MaxDNSNameBytes bounds a DNS name in a relay address, as DNS does.
	MaxDNSNameBytes = 253
	// MaxPayloadBytes bounds a record payload: all fields at their caps fit.
	MaxPayloadBytes = 2560
	// MaxRecordBytes bounds a signed envelope: payload + 64-byte signature + framing.
	MaxRecordBytes = MaxPayloadBytes + 128
	// MaxSealedBytes bounds one mailbox blob: invites and grant envelopes are a few KiB.
	MaxSealedBytes = 32 << 10
	// MaxMailTokens bounds the capability IDs one mail names: a grant
	// names every token of its chain, at most capability.MaxDepth.
	MaxMailTokens = 4
	// MaxFetchItems bounds one fetch reply so it fits MaxResponse.
	MaxFetchItems = 16
	// MaxRequest bounds a request frame: the largest is a mailbox put (the
	// blob, a peer ID and MaxMailTokens 32-byte IDs, with framing).
	MaxRequest = MaxSealedBytes + 512
	// MaxResponse bounds a reply frame: a full fetch batch plus per-item framing.
	MaxResponse = MaxFetchItems*(MaxSealedBytes+128) + 256
	// Timeout bounds one exchange; every op is one small round trip.
	Timeout = 10 * time.Second
	// MaxClockSkew is how far in the future a record's issued time may be.
	MaxClockSkew = 5 * time.Minute
	// MaxFetchRounds bounds the client's fetch/ack loop in one MailboxFetch call.
	MaxFetchRounds = 8
)

// Server defaults (ServerConfig fields override them).
const (
	// DefaultRate is the per-peer sustained request rate: a node publishes
	// every half hour, checks its mailbox every half minute and resolves a
	// handful of handles; 5/s is generous.
	DefaultRate = 5.0
	// DefaultBurst lets a node start up (publish, fetch, a few lookups) at once.
	DefaultBurst = 20
	// DefaultMaxTrackedPeers bounds the rate limiter's memory.
	DefaultMaxTrackedPeers = 10000
	// DefaultInfraRate is the sustained rate all infrastructure peers (the
	// relays, asking whether a reserving peer is registered) share: a
	// relay asks only about peers that present no registration
	// (protocols/relayaccess), and itself spends at most 20 a second by
	// default, so 200/s serves ten relays.
	DefaultInfraRate = 200.0
	// DefaultInfraBurst lets relays that restart at once catch up.
	DefaultInfraBurst = 1000
)
