package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"syscall"
	"time"

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
}

// Running is a UI being served.
type Running struct {
	URL         string // http://127.0.0.1:7777 or https://...
	Fingerprint string // the certificate's SHA-256, when served over TLS
	cancel      context.CancelFunc
	done        chan error
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
	go func() {
		err := srv.Serve(ctx, ln)
		<-refreshed
		r.done <- err
	}()
	return r, nil
}

// Close stops the UI.
func (r *Running) Close() error {
	if r == nil {
		return nil
	}
	r.cancel()
	return <-r.done
}
