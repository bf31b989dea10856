package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/ocmt/mesh/internal/uigateway"
	"github.com/ocmt/mesh/node/localapi"
)

// DefaultAddr is where a node serves its UI unless told otherwise: on
// loopback; when the port is taken (another node on the machine), a free
// port on loopback.
const DefaultAddr = "127.0.0.1:7777"

// Options are the node's UI settings (mesh node --ui, --ui-cert,
// --ui-key).
type Options struct {
	// Addr is host:port, "" for DefaultAddr, or "off".
	Addr string
	// CertFile and KeyFile, when set, are the TLS certificate; off
	// loopback without them, a self-signed one is made in Dir.
	CertFile, KeyFile string
	// Dir is the home folder, where a self-signed certificate is kept.
	Dir string
	// Drive, when its ClientID is set, offers "Connect Google Drive";
	// the node then refreshes the tokens before they expire.
	Drive Drive
	// Domain, when set, serves the UI to browsers elsewhere through the
	// relays' UI gateway (mesh relay --ui-gateway) as HTTPS for
	// HANDLE.DOMAIN: streams /ocmt/ui/1 from Relays() on Host, TLS end to
	// end with CertFile/KeyFile, or else a self-signed certificate for
	// that name kept in Dir.
	Domain string
	Host   host.Host
	Relays func() []peer.ID
	Handle func(context.Context) (string, error)
}

// Running is a UI being served.
type Running struct {
	URL         string // http://127.0.0.1:7777 or https://...
	Fingerprint string // the certificate's SHA-256, when served over TLS
	// Remote is https://HANDLE.DOMAIN when the UI is served through the
	// relays' gateway, and RemoteFingerprint its certificate's SHA-256.
	Remote, RemoteFingerprint string
	cancel                    context.CancelFunc
	done                      chan error
	once                      sync.Once
	err                       error
}

// Start serves the UI for b as o says; nil, nil when o.Addr is "off".
func Start(o Options, b localapi.Backend, now func() time.Time, log *slog.Logger) (*Running, error) {
	if o.Addr == "off" {
		return nil, nil
	}
	addr := o.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	cfg := Config{Backend: b, Now: now, Logger: log}
	r := &Running{done: make(chan error, 1)}
	var err error
	switch {
	case o.CertFile != "":
		cfg.TLS, r.Fingerprint, err = LoadTLS(o.CertFile, o.KeyFile)
	case !IsLoopback(addr):
		host, _, _ := net.SplitHostPort(addr)
		cfg.TLS, r.Fingerprint, err = SelfSigned(filepath.Join(o.Dir, "ui-cert.pem"), filepath.Join(o.Dir, "ui-key.pem"), []string{host, "localhost"}, time.Now())
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && o.Addr == "" && errors.Is(err, syscall.EADDRINUSE) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("web UI: %w (mesh node --ui ADDR, or --ui off)", err)
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	r.URL = scheme + "://" + ln.Addr().String()
	var drive *driveConnections
	if o.Drive.ClientID != "" {
		if drive, err = newDrive(o.Drive, r.URL+"/connections/callback", b, cfg); err != nil {
			ln.Close()
			return nil, err
		}
		cfg.Connections = drive
	}
	srv, err := New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		if drive != nil {
			drive.f.Run(ctx) // refreshes before expiry; stops with the UI
		}
	}()
	remote, err := r.serveRemote(ctx, o, srv)
	if err != nil {
		cancel()
		ln.Close()
		return nil, err
	}
	go func() {
		err := srv.Serve(ctx, ln)
		<-refreshed
		<-remote
		r.done <- err
	}()
	return r, nil
}

// Close stops the UI; closing again returns the first Close's error (a
// node is closed twice when it hibernates).
func (r *Running) Close() error {
	if r == nil {
		return nil
	}
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// serveRemote serves the UI on the relays' streams when o.Domain is set;
// the channel is closed once that server has stopped.
func (r *Running) serveRemote(ctx context.Context, o Options, srv *Server) (<-chan struct{}, error) {
	done := make(chan struct{})
	if o.Domain == "" || o.Host == nil {
		close(done)
		return done, nil
	}
	handle, err := o.Handle(ctx)
	if err != nil || handle == "" {
		close(done)
		return done, fmt.Errorf("web UI: serving it through the relays (--ui-domain) needs a handle: set one with mesh handle NAME")
	}
	name := handle + "." + strings.TrimSuffix(o.Domain, ".")
	var tc *tls.Config
	if o.CertFile != "" {
		tc, r.RemoteFingerprint, err = LoadTLS(o.CertFile, o.KeyFile)
	} else {
		tc, r.RemoteFingerprint, err = SelfSigned(filepath.Join(o.Dir, "ui-remote-cert.pem"), filepath.Join(o.Dir, "ui-remote-key.pem"), []string{name}, time.Now())
	}
	if err != nil {
		close(done)
		return done, err
	}
	ln, err := uigateway.Listen(o.Host, uigateway.ListenerConfig{Allow: func(p peer.ID) bool { return slices.Contains(o.Relays(), p) }})
	if err != nil {
		close(done)
		return done, err
	}
	r.Remote = "https://" + name
	only := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h, _, err := net.SplitHostPort(req.Host); (err == nil && h != name) || (err != nil && req.Host != name) {
			http.Error(w, "this node serves "+name+" only", http.StatusMisdirectedRequest)
			return
		}
		srv.ServeHTTP(w, req)
	})
	go func() {
		defer close(done)
		hs := &http.Server{Handler: only, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(srv.log.Handler(), slog.LevelDebug), MaxHeaderBytes: 64 << 10}
		go func() {
			<-ctx.Done()
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			hs.Shutdown(c)
		}()
		hs.Serve(tls.NewListener(ln, tc))
	}()
	return done, nil
}
