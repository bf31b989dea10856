package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ocmt/mesh/relay"
)

// TestEveryRelayLimitIsConfigurable: every limit of relay.Config has a
// field in infraFile that relayConfig passes on, a key in
// configs/relay.yaml set to its default under a comment that says
// "Default", and a line in docs/scaling.md.
func TestEveryRelayLimitIsConfigurable(t *testing.T) {
	notLimits := map[string]bool{"Authorizer": true, "AddressFilter": true, "Audit": true, "Logger": true, "Now": true, "OnReserve": true}
	file := reflect.TypeOf(infraFile{})
	yaml, err := os.ReadFile("../../configs/relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scaling, err := os.ReadFile("../../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := loadInfraConfig("../../configs/relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := reflect.ValueOf(fc.relayConfig())
	cfg := reflect.TypeOf(relay.Config{})
	for i := range cfg.NumField() {
		name := cfg.Field(i).Name
		if notLimits[name] {
			continue
		}
		f, ok := file.FieldByName(name)
		if !ok {
			t.Errorf("relay.Config.%s has no field in infraFile", name)
			continue
		}
		key := f.Tag.Get("yaml")
		doc := string(yaml)
		at := strings.Index(doc, "\n"+key+":")
		if at < 0 {
			t.Errorf("configs/relay.yaml has no %s:", key)
			continue
		}
		comment := doc[:at]
		if j := strings.LastIndex(comment, "\n\n"); j >= 0 {
			comment = comment[j:]
		}
		if !strings.Contains(comment, "Default") {
			t.Errorf("configs/relay.yaml: the comment above %s: gives no default:%s", key, comment)
		}
		if !strings.Contains(string(scaling), "`"+key+"`") {
			t.Errorf("docs/scaling.md does not list `%s`", key)
		}
		if got.Field(i).IsZero() && name != "AllowPrivateAddrs" && name != "CircuitDataLimit" && name != "CircuitDurationLimit" {
			t.Errorf("relayConfig does not pass %s (%s) on, or configs/relay.yaml leaves it 0", name, key)
		}
	}
	want := relay.Config{
		MaxReservations:              relay.DefaultMaxReservations,
		MaxReservationsPerIP:         relay.DefaultMaxReservationsPerIP,
		MaxReservationsPerASN:        relay.DefaultMaxReservationsPerASN,
		ReservationTTL:               relay.DefaultReservationTTL,
		MaxCircuits:                  relay.DefaultMaxCircuits,
		MaxStrangerCircuits:          relay.DefaultMaxStrangerCircuits,
		CircuitIdleTimeout:           relay.DefaultCircuitIdleTimeout,
		CircuitIdleBytes:             relay.DefaultCircuitIdleBytes,
		BufferSize:                   relay.DefaultBufferSize,
		MaxRelayMemory:               relay.DefaultMaxRelayMemory,
		ReservationsPerMinute:        relay.DefaultReservationsPerMinute,
		CircuitsPerMinute:            relay.DefaultCircuitsPerMinute,
		DestinationCircuitsPerMinute: relay.DefaultDestinationCircuitsPerMinute,
		RelayCircuitsPerMinute:       relay.DefaultRelayCircuitsPerMinute,
		RateLimitPeers:               relay.DefaultRateLimitPeers,
	}
	if c := fc.relayConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("configs/relay.yaml does not set every limit to its default:\n got %+v\nwant %+v", c, want)
	}
}
