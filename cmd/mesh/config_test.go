package main

import "testing"

func TestExampleNodeConfigParses(t *testing.T) {
	fc, err := loadNodeConfig("../../configs/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Listen) != 2 {
		t.Fatalf("listen = %v, want the two documented defaults", fc.Listen)
	}
}
