package infra

import (
	"fmt"
	"net"
	"net/http"
)

// serveMetrics serves h at http://addr/metrics until the Peer closes. Both
// roles serve their service's private registry this way.
func (p *Peer) serveMetrics(addr string, h http.Handler) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: metricsHeaderTimeout}
	go srv.Serve(ln)
	p.metrics = ln.Addr().String()
	p.onClose(srv.Close)
	return nil
}
