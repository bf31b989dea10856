package main

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// nodeFile is configs/node.yaml: one field per mesh node flag (but
// --config), same meaning and default (TestEveryNodeFlagHasAConfigField).
type nodeFile struct {
	Listen      []string `yaml:"listen"`
	Bootstrap   []string `yaml:"bootstrap"`
	Relays      []string `yaml:"relays"`
	RelayTokens []string `yaml:"relay_tokens"`
	Handle      string   `yaml:"handle"`
	Firewall    bool     `yaml:"firewall"`
	Metrics     string   `yaml:"metrics"`
	// LockAfter is --lock-after; nil when the file does not set it.
	LockAfter *yamlDuration `yaml:"lock_after"`
	// HibernateAfter is --hibernate-after (0: never); ResumeWindow is
	// --resume-window (nil: the default).
	HibernateAfter yamlDuration  `yaml:"hibernate_after"`
	ResumeWindow   *yamlDuration `yaml:"resume_window"`
	// RecoveryMinWait is --recovery-min-wait (0: the default, a day).
	RecoveryMinWait yamlDuration `yaml:"recovery_min_wait"`
	Verbose         bool         `yaml:"verbose"`
	// The agent socket's mode (octal text) and group, and the alerts'
	// webhook (--agent-socket-mode, --agent-socket-group, --notify).
	AgentSocket      string `yaml:"agent_socket"`
	AgentSocketMode  string `yaml:"agent_socket_mode"`
	AgentSocketGroup string `yaml:"agent_socket_group"`
	Notify           string `yaml:"notify"`
	// The web UI's address ("off": none) and certificate (--ui,
	// --ui-cert, --ui-key).
	UI     string `yaml:"ui"`
	UICert string `yaml:"ui_cert"`
	UIKey  string `yaml:"ui_key"`
	// Connect Google Drive: the OAuth client and, for another server or
	// tests, its endpoints (--drive-client-id, --drive-client-secret-file,
	// --drive-auth-url, --drive-token-url).
	DriveClientID         string `yaml:"drive_client_id"`
	DriveClientSecretFile string `yaml:"drive_client_secret_file"`
	DriveAuthURL          string `yaml:"drive_auth_url"`
	DriveTokenURL         string `yaml:"drive_token_url"`
	// UIDomain serves the UI as HTTPS at HANDLE.DOMAIN through the
	// relays' gateway (--ui-domain).
	UIDomain string `yaml:"ui_domain"`
}

// wakeFile is relay.yaml's wake section (infra.WakeConfig).
type wakeFile struct {
	Exec       string            `yaml:"exec"`
	ExecFor    map[string]string `yaml:"exec_for"`
	Webhook    string            `yaml:"webhook"`
	Supervisor string            `yaml:"supervisor"`
	TTL        yamlDuration      `yaml:"ttl"`
}

// infraFile is configs/bootstrap.yaml and configs/relay.yaml.
type infraFile struct {
	Listen    []string `yaml:"listen"`
	Bootstrap []string `yaml:"bootstrap"`
	Metrics   string   `yaml:"metrics"`
	// Audit is the audit log's path, relative to the home folder unless
	// absolute; "" is DIR/audit.log.
	Audit string `yaml:"audit"`
	// AuditWindow and AuditMaxRecords bound the records peers can cause
	// (infra.Config); zero takes the defaults, 1m and 64.
	AuditWindow     yamlDuration `yaml:"audit_window"`
	AuditMaxRecords int          `yaml:"audit_max_records"`
	// Infrastructure (bootstrap) are the peer IDs of the relays it serves:
	// they share one directory request bucket of InfrastructureRate a
	// second (0: directory.DefaultInfraRate) instead of each having its
	// own (infra.Config).
	Infrastructure     []string `yaml:"infrastructure"`
	InfrastructureRate float64  `yaml:"infrastructure_rate"`
	// DirectoryLookupRate (relay) bounds the relay's questions to the
	// bootstrap's directory a second (infra.RelayConfig; 0: the default,
	// negative: no bound).
	DirectoryLookupRate float64 `yaml:"directory_lookup_rate"`
	// AllowPrivateAddrs lets reservations carry private/loopback addresses.
	AllowPrivateAddrs bool `yaml:"allow_private_addrs"`
	// CacheMaxBytes (relay) caps the relay's snapshot cache; unset takes
	// the default (1 GiB), 0 or less keeps no cache (infra.RelayConfig).
	CacheMaxBytes *int64 `yaml:"cache_max_bytes"`
	// Wake (relay) says how the relay wakes hibernating homes.
	Wake wakeFile `yaml:"wake"`
	// UIGateway and UIDomain (relay): route TLS connections for
	// HANDLE.UIDomain to that home's web UI (--ui-gateway, --ui-domain).
	UIGateway string `yaml:"ui_gateway"`
	UIDomain  string `yaml:"ui_domain"`
	// The relay's limits: one field per relay.Config limit, same meaning,
	// zero takes its default (configs/relay.yaml and docs/scaling.md list
	// them; TestEveryRelayLimitIsConfigurable holds the three together).
	MaxReservations              int          `yaml:"max_reservations"`
	MaxReservationsPerIP         int          `yaml:"max_reservations_per_ip"`
	MaxReservationsPerASN        int          `yaml:"max_reservations_per_asn"`
	ReservationTTL               yamlDuration `yaml:"reservation_ttl"`
	MaxCircuits                  int          `yaml:"max_circuits"`
	MaxStrangerCircuits          int          `yaml:"max_stranger_circuits"`
	CircuitIdleTimeout           yamlDuration `yaml:"circuit_idle_timeout"`
	CircuitIdleBytes             int64        `yaml:"circuit_idle_bytes"`
	CircuitDataLimit             int64        `yaml:"circuit_data_limit"`
	CircuitDurationLimit         yamlDuration `yaml:"circuit_duration_limit"`
	BufferSize                   int          `yaml:"buffer_size"`
	MaxRelayMemory               int64        `yaml:"max_relay_memory"`
	ReservationsPerMinute        int          `yaml:"reservations_per_minute"`
	CircuitsPerMinute            int          `yaml:"circuits_per_minute"`
	DestinationCircuitsPerMinute int          `yaml:"destination_circuits_per_minute"`
	RelayCircuitsPerMinute       int          `yaml:"relay_circuits_per_minute"`
	RateLimitPeers               int          `yaml:"rate_limit_peers"`
	// The bootstrap's host limits: one field per infra.BootstrapLimits
	// field, same meaning, zero takes its default (configs/bootstrap.yaml
	// and docs/scaling.md list them; TestEveryBootstrapLimitIsConfigurable).
	MaxConns          int   `yaml:"max_conns"`
	MaxConnsPerIP     int   `yaml:"max_conns_per_ip"`
	MaxHandshakes     int   `yaml:"max_handshakes"`
	MaxStreams        int   `yaml:"max_streams"`
	MaxStreamsPerPeer int   `yaml:"max_streams_per_peer"`
	MaxMemory         int64 `yaml:"max_memory"`
	FDMargin          int   `yaml:"fd_margin"`
}

func loadNodeConfig(path string) (nodeFile, error) {
	var fc nodeFile
	return fc, loadYAML(path, &fc)
}

func loadInfraConfig(path string) (infraFile, error) {
	var fc infraFile
	return fc, loadYAML(path, &fc)
}

func loadYAML(path string, fc any) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(fc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
