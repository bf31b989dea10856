package presence

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/protocols/directory"
)

// Timings are the keeper's waits; node.Timings documents each and its
// default.
type Timings struct {
	Mailbox, Republish, SelfCheck, PublishRetryMax time.Duration
}

// Default timings (node.Timings documents each).
const (
	DefaultMailbox         = 30 * time.Second
	DefaultRepublish       = 30 * time.Minute
	DefaultSelfCheck       = 5 * time.Minute
	DefaultPublishRetryMax = 30 * time.Second
)

// Filled returns t with each zero or negative wait at its default.
func (t Timings) Filled() Timings {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.Mailbox, DefaultMailbox)
	def(&t.Republish, DefaultRepublish)
	def(&t.SelfCheck, DefaultSelfCheck)
	def(&t.PublishRetryMax, DefaultPublishRetryMax)
	return t
}

// Timeouts of single steps.
const (
	// publishRetryFirst is the first pause after a failed publish.
	publishRetryFirst = time.Second
	// mailRound bounds one mailbox check plus redelivery round.
	mailRound = 20 * time.Second
	// selfLookup bounds the lookup of the node's own handle (SelfCheck).
	selfLookup = 10 * time.Second
)

// Config is what a Keeper uses of its node.
type Config struct {
	Net *meshnet.Net
	// State holds the node's handle.
	State *meshstate.State
	// Self is the node's peer ID.
	Self peer.ID
	// Sign signs the node's directory record, locked or not
	// (Signer.SignRecordWhileLocked).
	Sign func(directory.Record) (*directory.SignedRecord, error)
	// Collect checks the mailbox and retries undelivered shares
	// (delivery.Service.Collect).
	Collect func(context.Context)
	// ReserveAtOnce says the node holds relay-access capabilities, which
	// admit it at its relays before its record is published.
	ReserveAtOnce bool
	Timings       Timings
	// Now is the node's clock, which dates the record. Default time.Now.
	Now func() time.Time
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
}

// Keeper keeps one node findable.
type Keeper struct {
	cfg Config

	mu      sync.Mutex
	problem string
}

// New returns a Keeper; Run starts it.
func New(cfg Config) *Keeper {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Collect == nil {
		cfg.Collect = func(context.Context) {}
	}
	return &Keeper{cfg: cfg}
}

// Run keeps the node in the mesh until ctx ends. It looks for relays in
// the DHT in the background when none is configured (LookForRelays), and
// publishes the directory record until the bootstrap takes it, then holds
// relay reservations (the relay admits peers in the directory; with a
// relay-access capability they start at once). Every Timings.Mailbox it
// checks the mailbox and retries undelivered shares. It publishes the
// record again every Timings.Republish, as soon as a connection to the
// bootstrap comes back (a restarted bootstrap may have lost its store),
// when relays are found (the record names them), and when a lookup of its
// own handle, every Timings.SelfCheck, finds the bootstrap without it;
// mesh status says what is wrong meanwhile.
func (k *Keeper) Run(ctx context.Context) {
	t := k.cfg.Timings
	reserving := false
	reserve := func() {
		k.cfg.Net.KeepReservations()
		k.cfg.Net.RetryReservations() // what the relay checks has just changed
		reserving = true
	}
	if k.cfg.ReserveAtOnce {
		// A relay-access capability admits us without the directory. Without
		// one, reserving before the record is published would only teach
		// the relay that we are not registered (it remembers a no briefly).
		reserve()
	}
	if !k.cfg.Net.HasBootstrap() {
		k.cfg.Net.KeepReservations()
		return
	}
	relaysUp := k.cfg.Net.LookForRelays()
	if len(k.cfg.Net.Relays()) > 0 {
		relaysUp = nil // configured: nothing to wait for
	}
	var (
		publish   = true              // the record is to be published
		published bool                // the bootstrap took it once in this run
		missing   bool                // the last self-check found it missing
		pubWait   = publishRetryFirst // the pause after a failed publish
		pubAt     time.Time           // no publish before this (after a failure)
		round     time.Time           // the next mailbox round
		now       = time.Now()
		republish = now.Add(t.Republish)
		selfCheck = now.Add(t.SelfCheck)
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now = time.Now()
		if !now.Before(selfCheck) {
			selfCheck = now.Add(t.SelfCheck)
			if again, lost := k.checkOwnRecord(ctx); again {
				publish, missing = true, lost
				if lost {
					pubAt = time.Time{}
				}
			}
		}
		if !now.Before(republish) {
			publish, republish = true, now.Add(t.Republish)
		}
		if publish && !now.Before(pubAt) {
			drain(k.cfg.Net.RepublishWanted()) // this attempt answers any request made before it
			switch err := k.Publish(ctx); {
			case err == nil, errors.Is(err, ErrNoHandle):
				publish, published, missing, pubWait = false, err == nil || published, false, publishRetryFirst
				republish = time.Now().Add(t.Republish)
				reserve()
			default:
				k.cfg.Logger.Warn("publishing the directory record failed", "err", err)
				switch {
				case errors.Is(err, directory.ErrHandleTaken): // Publish says so
				case missing:
					k.setProblem("missing from the bootstrap's directory (it may have lost its store), and publishing it again failed: " + bootstrapProblem(err))
				case published:
					k.setProblem("not confirmed at the bootstrap: publishing it again failed: " + bootstrapProblem(err))
				}
				pubAt = time.Now().Add(pubWait)
				pubWait = min(2*pubWait, t.PublishRetryMax)
			}
		}
		if !now.Before(round) {
			rctx, cancel := context.WithTimeout(ctx, mailRound)
			k.cfg.Collect(rctx)
			cancel()
			round = time.Now().Add(t.Mailbox)
		}
		wake := earliest(round, earliest(republish, selfCheck))
		if publish {
			wake = earliest(wake, pubAt)
		}
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-k.cfg.Net.RepublishWanted():
			// The bootstrap is back (or lost our record): publish, and
			// collect the mail and retry the shares that waited for it.
			publish, pubAt, round = true, time.Time{}, time.Time{}
		case <-relaysUp:
			relaysUp = nil
			publish, pubAt = true, time.Time{} // the record now names the relays
			if reserving {
				k.cfg.Net.KeepReservations()
			}
		}
	}
}

// checkOwnRecord looks the node's own handle up at the bootstrap,
// bypassing the cache. again says the record should be published again:
// the bootstrap does not hold it (lost), holds another key's (publishing
// says it is taken), or did not answer (publishing retries, and says why
// in mesh status while it fails).
func (k *Keeper) checkOwnRecord(ctx context.Context) (again, lost bool) {
	handle, err := k.cfg.State.Handle(ctx)
	if err != nil || handle == "" {
		return false, false
	}
	cctx, cancel := context.WithTimeout(ctx, selfLookup)
	defer cancel()
	rec, err := k.cfg.Net.LookupNow(cctx, handle)
	switch {
	case errors.Is(err, wire.NotFound):
		k.cfg.Logger.Warn("the bootstrap does not hold our directory record; publishing it again", "handle", handle)
		k.setProblem("missing from the bootstrap's directory (it may have lost its store); publishing it again")
		return true, true
	case err != nil:
		k.cfg.Logger.Info("checking our directory record failed", "handle", handle, "err", err)
		return true, false
	case rec.Peer != k.cfg.Self:
		// The directory answers a handle nobody holds with a decoy
		// (protocols/directory, "Decoys"), so a lost record looks like
		// another key's: publishing tells them apart (it is refused as
		// taken, or takes the handle back).
		k.cfg.Logger.Warn("the bootstrap's directory does not name this node for its handle; publishing it again", "handle", handle)
		k.setProblem("not named by the bootstrap's directory (it may have lost its store); publishing it again")
		return true, true
	}
	return false, false
}

// bootstrapProblem says why the bootstrap did not take the record.
func bootstrapProblem(err error) string {
	if errors.Is(err, wire.Unavailable) {
		return "the bootstrap cannot take it right now"
	}
	return words.ReachProblem(err)
}

func (k *Keeper) setProblem(p string) {
	k.mu.Lock()
	k.problem = p
	k.mu.Unlock()
}

// Problem says why the last attempt to claim the node's handle at the
// bootstrap failed, or "" once it worked (mesh status).
func (k *Keeper) Problem() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.problem
}

func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// ErrNoHandle means the node has no handle to publish.
var ErrNoHandle = errors.New("no handle set: this node is not in the directory (set one with `mesh handle NAME`)")

// Publish signs (Config.Sign) and publishes the directory record for the
// node's handle, and keeps why it failed for mesh status (Problem).
func (k *Keeper) Publish(ctx context.Context) error {
	handle, err := k.cfg.State.Handle(ctx)
	if err != nil {
		return err
	}
	if handle == "" {
		k.cfg.Logger.Warn(ErrNoHandle.Error())
		return ErrNoHandle
	}
	now := k.cfg.Now()
	sr, err := k.cfg.Sign(directory.Record{Handle: directory.Handle(handle), Relays: k.cfg.Net.RelayAddrs(),
		Name: handle, Seq: directory.SeqAt(now), Issued: now})
	if err != nil {
		return err
	}
	err = k.cfg.Net.Publish(ctx, sr)
	problem := ""
	switch {
	case errors.Is(err, directory.ErrHandleTaken):
		problem = "taken by another key at the bootstrap; choose another with `mesh handle NAME`"
	case err != nil:
		problem = "not claimed at the bootstrap yet: " + words.ReachProblem(err)
	}
	k.setProblem(problem)
	return err
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
