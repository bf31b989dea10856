package relay

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Defaults for Config. Each is written next to its field as well.
const (
	DefaultMaxReservations       = 4096
	DefaultMaxCircuits           = 256
	DefaultMaxReservationsPerIP  = 1024
	DefaultMaxReservationsPerASN = 4096
	DefaultReservationTTL        = time.Hour
	DefaultBufferSize            = 64 << 10
	DefaultReservationsPerMinute = 10
	DefaultCircuitsPerMinute     = 120
	DefaultRateLimitPeers        = 16384
	DefaultMaxRelayMemory        = 1 << 30

	DefaultMaxStrangerCircuits          = 32
	DefaultCircuitIdleTimeout           = time.Minute
	DefaultCircuitIdleBytes             = 1 << 10
	DefaultDestinationCircuitsPerMinute = 600
	DefaultRelayCircuitsPerMinute       = 3000
)

// ErrConfig is returned (wrapped) by New and ResourceManager for a Config
// field that is out of range.
var ErrConfig = errors.New("relay: invalid config")

// Config configures a Service. The zero value works: it runs a relay with the
// defaults below that refuses every peer until an Authorizer is set.
type Config struct {
	// Authorizer decides who may reserve a slot and who may open circuits
	// (see Authorizer for the policy). Default nil: nobody is authorized,
	// the relay refuses every reservation and circuit (fail closed).
	Authorizer Authorizer

	// MaxReservations is the number of reservation slots on this relay.
	// Default 4096.
	MaxReservations int
	// MaxCircuits is the number of relayed connections one peer may have
	// open at a time, as source or destination. Default 256.
	MaxCircuits int
	// MaxReservationsPerIP bounds reservations from one IP address. Home
	// nodes behind one CGNAT share an address, so the library's 8 is far too
	// low. Default 1024.
	MaxReservationsPerIP int
	// MaxReservationsPerASN bounds reservations from one autonomous system.
	// Default 4096.
	MaxReservationsPerASN int
	// ReservationTTL is how long a reservation lasts before the home node
	// must refresh it. Default 1h.
	ReservationTTL time.Duration
	// BufferSize is the relay's copy buffer per direction per circuit; each
	// circuit reserves 2×BufferSize of resource-manager memory. Default 64 KiB
	// (the library's 2 KiB costs about 25% of throughput on relayed streams).
	BufferSize int

	// CircuitDataLimit and CircuitDurationLimit cap each relayed connection
	// (bytes per direction, lifetime). Default 0 and 0: no cap, and the
	// relay sends no Limit, so peers see relayed connections as ordinary
	// (not "limited") connections and gossipsub and the DHT run over them.
	// Setting either makes every relayed connection limited; the unset one
	// then takes the library default (128 KiB or 2 min).
	CircuitDataLimit     int64
	CircuitDurationLimit time.Duration

	// AllowPrivateAddrs makes reservations vouch for private and loopback
	// relay addresses too, for private deployments and tests. Default false:
	// public addresses only (the library default).
	AllowPrivateAddrs bool
	// AddressFilter, when set, replaces the public/private choice above and
	// picks which of the relay's addresses reservations carry. Default nil.
	AddressFilter func(ma.Multiaddr) bool

	// ReservationsPerMinute is each peer's reservation budget (token bucket,
	// burst = the same number). Negative disables the limit. Default 10.
	ReservationsPerMinute int
	// CircuitsPerMinute is each source peer's budget of circuit opens (token
	// bucket, burst = the same number). Negative disables. Default 120.
	CircuitsPerMinute int
	// DestinationCircuitsPerMinute is each destination's budget of circuit
	// opens, from all sources together, and RelayCircuitsPerMinute the
	// relay's, from everyone to everyone: token buckets holding ten
	// seconds' worth (N/6, at least 1), so that a flood of many identities,
	// each within CircuitsPerMinute, cannot spend a minute's budget at
	// once. Strangers (sources neither registered nor granted) may not take
	// the lower half of either bucket: it is kept for authorized sources
	// (contacts are registered home nodes). Negative disables. Defaults
	// 600 (10/s, burst 100) and 3000 (50/s, burst 500).
	DestinationCircuitsPerMinute int
	RelayCircuitsPerMinute       int
	// RateLimitPeers bounds how many peers' buckets are kept per limit
	// (per source, per destination); the least recently seen is evicted
	// first. Default 16384.
	RateLimitPeers int

	// MaxStrangerCircuits bounds the circuits one destination may have open
	// at once from strangers: sources that are neither registered in the
	// directory nor granted relay access (see Authorizer). Counted from the
	// request until the circuit closes; the next is refused with
	// RESOURCE_LIMIT_EXCEEDED and audited as "stranger-limit". Registered
	// and granted sources are not counted (MaxCircuits bounds them).
	// Negative disables. Default 32.
	MaxStrangerCircuits int
	// CircuitIdleTimeout and CircuitIdleBytes close idle circuits from
	// strangers: a stranger's circuit is idle when no more than
	// CircuitIdleBytes crossed it, both directions together, in a window
	// of CircuitIdleTimeout (windows start when it opens), and the relay
	// then resets it (audited with reason "idle"). The allowance exists
	// because both ends' yamux keepalives (a ping and its pong, ~60 bytes
	// on the wire, every 30 s) cross every otherwise silent libp2p
	// connection; CircuitIdleBytes = -1 demands no byte at all, which such
	// keepalives defeat. A negative timeout disables. Defaults 1 min and
	// 1 KiB.
	CircuitIdleTimeout time.Duration
	CircuitIdleBytes   int64

	// MaxRelayMemory is the resource-manager memory given to the relay
	// service by ResourceManager; it caps the number of concurrent circuits
	// at MaxRelayMemory / (2×BufferSize) (8192 with the defaults). Default 1 GiB.
	MaxRelayMemory int64

	// OnReserve, when set, is called (on its own goroutine) each time a
	// peer is granted or refreshes a reservation: a wake waiting for that
	// peer can be answered (protocols/wake). Default none.
	OnReserve func(peer.ID)

	// Audit receives the metadata-only audit log, one JSON object per line,
	// or, when it implements AuditRecorder, one AuditRecord per call.
	// Writes are serialized. Default nil: audit records are discarded (mesh
	// relay always sets it: the role's chained log, DIR/audit.log by
	// default, see node/infra).
	Audit io.Writer
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock for audit times, durations and rate limits.
	// Default time.Now.
	Now func() time.Time
}

// withDefaults returns cfg with zero fields replaced by their defaults, or an
// error naming the first field that is out of range.
func (cfg Config) withDefaults() (Config, error) {
	setInt := func(v *int, def int, name string) error {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			return fmt.Errorf("%w: %s = %d", ErrConfig, name, *v)
		}
		return nil
	}
	for _, f := range []struct {
		v    *int
		def  int
		name string
	}{
		{&cfg.MaxReservations, DefaultMaxReservations, "MaxReservations"},
		{&cfg.MaxCircuits, DefaultMaxCircuits, "MaxCircuits"},
		{&cfg.MaxReservationsPerIP, DefaultMaxReservationsPerIP, "MaxReservationsPerIP"},
		{&cfg.MaxReservationsPerASN, DefaultMaxReservationsPerASN, "MaxReservationsPerASN"},
		{&cfg.BufferSize, DefaultBufferSize, "BufferSize"},
		{&cfg.RateLimitPeers, DefaultRateLimitPeers, "RateLimitPeers"},
	} {
		if err := setInt(f.v, f.def, f.name); err != nil {
			return cfg, err
		}
	}
	if cfg.ReservationsPerMinute == 0 {
		cfg.ReservationsPerMinute = DefaultReservationsPerMinute
	}
	if cfg.CircuitsPerMinute == 0 {
		cfg.CircuitsPerMinute = DefaultCircuitsPerMinute
	}
	if cfg.DestinationCircuitsPerMinute == 0 {
		cfg.DestinationCircuitsPerMinute = DefaultDestinationCircuitsPerMinute
	}
	if cfg.RelayCircuitsPerMinute == 0 {
		cfg.RelayCircuitsPerMinute = DefaultRelayCircuitsPerMinute
	}
	if cfg.MaxStrangerCircuits == 0 {
		cfg.MaxStrangerCircuits = DefaultMaxStrangerCircuits
	}
	if cfg.CircuitIdleTimeout == 0 {
		cfg.CircuitIdleTimeout = DefaultCircuitIdleTimeout
	}
	switch {
	case cfg.CircuitIdleBytes == 0:
		cfg.CircuitIdleBytes = DefaultCircuitIdleBytes
	case cfg.CircuitIdleBytes < -1:
		return cfg, fmt.Errorf("%w: CircuitIdleBytes = %d", ErrConfig, cfg.CircuitIdleBytes)
	}
	switch {
	case cfg.ReservationTTL == 0:
		cfg.ReservationTTL = DefaultReservationTTL
	case cfg.ReservationTTL < time.Second:
		return cfg, fmt.Errorf("%w: ReservationTTL = %v", ErrConfig, cfg.ReservationTTL)
	}
	switch {
	case cfg.MaxRelayMemory == 0:
		cfg.MaxRelayMemory = DefaultMaxRelayMemory
	case cfg.MaxRelayMemory < 2*int64(cfg.BufferSize):
		return cfg, fmt.Errorf("%w: MaxRelayMemory = %d holds no circuit", ErrConfig, cfg.MaxRelayMemory)
	}
	if cfg.CircuitDataLimit < 0 || cfg.CircuitDurationLimit < 0 {
		return cfg, fmt.Errorf("%w: negative circuit limit", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// resources converts a defaulted Config into the relay library's Resources.
func (cfg Config) resources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	rc.Limit = nil // see CircuitDataLimit: unlimited, relayed conns are not "limited"
	if cfg.CircuitDataLimit > 0 || cfg.CircuitDurationLimit > 0 {
		rc.Limit = relayv2.DefaultLimit()
		if cfg.CircuitDataLimit > 0 {
			rc.Limit.Data = cfg.CircuitDataLimit
		}
		if cfg.CircuitDurationLimit > 0 {
			rc.Limit.Duration = cfg.CircuitDurationLimit
		}
	}
	rc.ReservationTTL = cfg.ReservationTTL
	rc.MaxReservations = cfg.MaxReservations
	rc.MaxCircuits = cfg.MaxCircuits
	rc.BufferSize = cfg.BufferSize
	rc.MaxReservationsPerIP = cfg.MaxReservationsPerIP
	rc.MaxReservationsPerASN = cfg.MaxReservationsPerASN
	return rc
}

// addressFilter returns the reservation address filter the Config asks for.
func (cfg Config) addressFilter() relayv2.ReservationAddressFilterFunc {
	switch {
	case cfg.AddressFilter != nil:
		return cfg.AddressFilter
	case cfg.AllowPrivateAddrs:
		return func(ma.Multiaddr) bool { return true }
	default:
		return manet.IsPublicAddr
	}
}
