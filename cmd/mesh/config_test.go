package main

import "testing"

func TestExampleConfigsParse(t *testing.T) {
	fc, err := loadNodeConfig("../../configs/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Listen) != 2 {
		t.Fatalf("listen = %v, want the two documented defaults", fc.Listen)
	}
	for _, f := range []string{"../../configs/bootstrap.yaml", "../../configs/relay.yaml"} {
		if _, err := loadInfraConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	rc, _ := loadInfraConfig("../../configs/relay.yaml")
	if rc.MaxReservations != 4096 || rc.Metrics == "" || len(rc.Bootstrap) != 1 {
		t.Fatalf("relay.yaml = %+v", rc)
	}
	if _, err := loadNodeConfig("../../configs/relay.yaml"); err == nil {
		t.Fatal("a relay file was accepted as a node config: unknown fields must be refused")
	}
}
