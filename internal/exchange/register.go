package exchange

import (
	"log/slog"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Registration is a protocol served on a host by Serve, one exchange per
// stream, until Close: Close removes the handler, resets the streams that
// arrive after it, and waits for the exchanges under way.
type Registration struct {
	h  host.Host
	id protocol.ID

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Register serves protocol id on h with handler f, within lim.
func Register(h host.Host, id protocol.ID, lim Limits, log *slog.Logger, f HandlerFunc) *Registration {
	r := &Registration{h: h, id: id}
	h.SetStreamHandler(id, func(st network.Stream) {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			st.Reset()
			return
		}
		r.wg.Add(1)
		r.mu.Unlock()
		defer r.wg.Done()
		Serve(st, lim, log, f)
	})
	return r
}

// Close stops taking streams and waits for those being served.
func (r *Registration) Close() error {
	r.h.RemoveStreamHandler(r.id)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}
