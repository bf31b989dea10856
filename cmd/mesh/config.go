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
	Verbose   bool          `yaml:"verbose"`
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
	// AllowPrivateAddrs lets reservations carry private/loopback addresses.
	AllowPrivateAddrs     bool `yaml:"allow_private_addrs"`
	MaxReservations       int  `yaml:"max_reservations"`
	MaxCircuits           int  `yaml:"max_circuits"`
	ReservationsPerMinute int  `yaml:"reservations_per_minute"`
	CircuitsPerMinute     int  `yaml:"circuits_per_minute"`
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
