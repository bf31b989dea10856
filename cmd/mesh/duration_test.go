package main

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestConfigDurationsTakeDaysAndWeeks: a config file's durations are read
// as the flags' are (duration.Parse).
func TestConfigDurationsTakeDaysAndWeeks(t *testing.T) {
	const day = 24 * time.Hour
	var fc struct {
		A yamlDuration `yaml:"a"`
		B yamlDuration `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 7d\nb: 0\n"), &fc); err != nil || time.Duration(fc.A) != 7*day || fc.B != 0 {
		t.Fatalf("yaml durations: %+v, %v", fc, err)
	}
	if err := yaml.Unmarshal([]byte("a: soon\n"), &fc); err == nil {
		t.Fatal("a config duration that is not one was accepted")
	}
}
