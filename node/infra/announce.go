package infra

import (
	"context"
	"log/slog"
	"time"

	"github.com/ocmt/mesh/dht"
)

// announceRelay provides the relay CID at start (retrying until it works)
// and every announceEvery after.
func announceRelay(ctx context.Context, d *dht.DHT, log *slog.Logger) {
	wait := announceRetryFirst
	for {
		bctx, cancel := context.WithTimeout(ctx, announceTimeout)
		err := d.Bootstrap(bctx)
		if err == nil {
			err = d.AnnounceRelay(bctx)
		}
		cancel()
		if err == nil {
			log.Info("relay announced in the DHT")
			wait = announceEvery
		} else {
			log.Debug("announcing the relay failed; retrying", "err", err)
			wait = min(2*wait, announceRetryMax)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
