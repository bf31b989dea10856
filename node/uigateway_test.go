package node

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/web"
)

// testCA is a certificate authority for tests, and a leaf it signed.
type testCA struct {
	pool              *x509.CertPool
	certPEM           []byte
	certFile, keyFile string // the leaf's
}

// newTestCA makes a CA and a leaf for names, written to dir.
func newTestCA(t testing.TB, dir string, names ...string) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mesh test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	c := &testCA{pool: x509.NewCertPool(), certFile: filepath.Join(dir, "leaf.pem"), keyFile: filepath.Join(dir, "leaf-key.pem"),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	c.pool.AddCert(ca)
	os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return c
}

// TestTheUIThroughTheRelaysGateway: a browser elsewhere reaches alice's UI
// as https://alice.ui.test through the relay's UI gateway; TLS runs from
// the browser to alice's node (the client trusts only the test CA that
// signed alice's certificate), and the relay's audit holds metadata only.
func TestTheUIThroughTheRelaysGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("a mesh with a UI gateway; skipped with -short")
	}
	m := startInfra(t)
	// A second relay with the gateway (the mesh's relay stays as it is).
	var audit lockedLog
	gwHome := shortDir(t, "gw")
	gw, err := infra.StartRelay(context.Background(), infra.RelayConfig{
		Config: infra.Config{Home: gwHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("gateway"), Revocations: testTimings.Revocations,
			WrapHost: func(h host.Host) host.Host { return testmesh.NewTapHost(h) }},
		Bootstrap: m.bootAddrs, Relay: relay.Config{AllowPrivateAddrs: true, Audit: &audit},
		UIGateway: "127.0.0.1:0", UIDomain: "ui.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	ca := newTestCA(t, t.TempDir(), "alice.ui.test")
	m.relayAddr = gw.Addrs()[0]
	alice := m.startNodeWith(t, "alice", "pw-alice", func(c *Config) {
		c.UI = web.Options{Addr: "127.0.0.1:0", CertFile: ca.certFile, KeyFile: ca.keyFile, Domain: "ui.test"}
	})
	st, err := alice.Status(context.Background())
	if err != nil || st.UI == "" {
		t.Fatalf("status: %v %+v", err, st)
	}

	const canary = "CANARY-in-the-request-body-4471"
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: "alice.ui.test"},
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := tls.Dialer{Config: &tls.Config{RootCAs: ca.pool, ServerName: "alice.ui.test"}}
			return d.DialContext(ctx, "tcp", gw.UIGatewayAddr())
		}}}
	var resp *http.Response
	waitFor(t, "the gateway reaches alice's UI", func() bool {
		resp, err = client.Get("https://alice.ui.test/unlock")
		return err == nil
	})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Unlock your vault") || resp.TLS == nil {
		t.Fatalf("through the gateway: %s %v\n%s", resp.Status, err, body)
	}
	if got := resp.TLS.PeerCertificates[0].Subject.CommonName; got != "alice.ui.test" {
		t.Fatalf("the browser saw the certificate of %q", got)
	}
	// A request carrying a canary: the relay logs and audits metadata
	// only.
	resp, err = client.Post("https://alice.ui.test/login", "application/x-www-form-urlencoded", strings.NewReader("ticket="+canary))
	if err == nil {
		resp.Body.Close()
	}
	// Another handle, or no such name, gets nothing from alice.
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := tls.Dialer{Config: &tls.Config{RootCAs: ca.pool, ServerName: "bob.ui.test"}}
			return d.DialContext(ctx, "tcp", gw.UIGatewayAddr())
		}}}
	if _, err := other.Get("https://bob.ui.test/unlock"); err == nil {
		t.Fatal("a handle with no node here was served")
	}
	gw.Close()
	sc := bufio.NewScanner(strings.NewReader(string(audit.bytes())))
	var served bool
	for sc.Scan() {
		if strings.Contains(sc.Text(), canary) || strings.Contains(sc.Text(), "Unlock your vault") {
			t.Fatalf("the relay's audit holds content: %s", sc.Text())
		}
		served = served || strings.Contains(sc.Text(), `"event":"ui-connection"`)
	}
	if !served {
		t.Fatalf("no ui-connection record in the relay's audit:\n%s", audit.bytes())
	}
	if strings.Contains(string(m.logs.bytes()), canary) {
		t.Fatal("the canary is in a log")
	}
}
