package p2phost

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/keys"
)

func TestAPortInUseIsRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	addr := "/ip4/127.0.0.1/tcp/" + strconv.Itoa(port)
	if err := PortsFree([]string{addr}); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("PortsFree(%s) = %v", addr, err)
	}
	if err := PortsFree(DefaultListen()); err != nil {
		t.Fatalf("port 0: %v", err)
	}
}

func TestHostAddrsParseBack(t *testing.T) {
	k := keys.GeneratePeerKey()
	h, err := New(k.Libp2pPrivKey(), []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	infos, err := ParseAddrInfos("test", Addrs(h))
	if err != nil || len(infos) == 0 || infos[0].ID != h.ID() {
		t.Fatalf("%v, %v", infos, err)
	}
	if m := Merge(infos); m.ID != h.ID() || len(m.Addrs) != len(h.Addrs()) {
		t.Fatalf("merged %v", m)
	}
	if _, err := ParseAddrInfos("relay", []string{"/ip4/127.0.0.1/tcp/1"}); err == nil || !strings.Contains(err.Error(), "relay") {
		t.Fatalf("an address without /p2p: %v", err)
	}
}
