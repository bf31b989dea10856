package agenthost

import (
	"context"
	"fmt"
	"sync"

	"github.com/ocmt/mesh/node/localapi"
)

// hub fans agent events out to the owner's event streams. Publishing
// never waits: a subscriber whose backlog is full misses the event.
type hub struct {
	mu     sync.Mutex
	subs   map[chan localapi.Event]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan localapi.Event]struct{}{}} }

func (h *hub) subscribe(ctx context.Context) (<-chan localapi.Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, localapi.ErrNeedsNode
	}
	if len(h.subs) >= MaxEventSubscribers {
		return nil, fmt.Errorf("%d event streams are open already; close one", MaxEventSubscribers)
	}
	ch := make(chan localapi.Event, eventBuffer)
	h.subs[ch] = struct{}{}
	go func() {
		<-ctx.Done()
		h.drop(ch)
	}()
	return ch, nil
}

func (h *hub) drop(ch chan localapi.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) publish(ev localapi.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// close ends every stream; later subscriptions are refused.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}
