package ledger

import (
	"context"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/faillog"
)

// Background work limits.
const (
	ExpiryInterval        = time.Second
	ExpiryHoldsMax        = 1000 // holds released per pass
	CleanupInterval       = 10 * time.Minute
	backgroundPassTimeout = 30 * time.Second
)

// Run does the ledger's background work until ctx ends: it releases holds
// when they expire, even if nobody asks, and forgets idempotency keys past
// their retention. Each pass is a deterministic method that tests call directly.
// While Options.WritesPaused says so (a read-only maintenance window), the
// hold expiry, a write of the ledger, waits: until 2026-11-29 it released
// holds in read-only windows, the one write of money the window let
// through. (A pass that began just before the window has its releases
// refused by the sequencer, as every command not yet committing: commit.)
// Forgetting old idempotency keys goes on: it moves no money.
func (l *Ledger) Run(ctx context.Context) error {
	expiry := time.NewTicker(ExpiryInterval)
	defer expiry.Stop()
	cleanup := time.NewTicker(CleanupInterval)
	defer cleanup.Stop()
	expiryFails, cleanupFails := faillog.New(l.log, "hold expiry pass"), faillog.New(l.log, "idempotency clean-up")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-expiry.C:
			if l.paused() != nil {
				continue
			}
			pass, cancel := context.WithTimeout(ctx, backgroundPassTimeout)
			n, err := l.ExpireDueHolds(pass)
			expiryFails.Observe(time.Now(), err)
			if n > 0 {
				l.log.Debug("holds expired", "count", n)
			}
			cancel()
		case <-cleanup.C:
			pass, cancel := context.WithTimeout(ctx, backgroundPassTimeout)
			n, err := l.CleanupIdempotency(pass)
			cleanupFails.Observe(time.Now(), err)
			if n > 0 {
				l.log.Debug("idempotency keys forgotten", "count", n)
			}
			cancel()
		}
	}
}

// ExpireDueHolds releases up to ExpiryHoldsMax holds whose expiry has
// passed, through the sequencer like any other write, and returns how many
// were due.
func (l *Ledger) ExpireDueHolds(ctx context.Context) (int, error) {
	due, err := l.store.DueHolds(ctx, l.clock(), ExpiryHoldsMax)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	cmds := make([]*command, len(due))
	for i, h := range due {
		cmds[i] = newCommand(opExpire, nil)
		cmds[i].targetID = h.ID
	}
	errs := make(chan error, len(cmds))
	for _, c := range cmds {
		go func() { _, err := l.submit(ctx, c); errs <- err }()
	}
	for range cmds {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return len(due), err
}

// CleanupIdempotency forgets idempotency keys older than their retention.
func (l *Ledger) CleanupIdempotency(ctx context.Context) (int64, error) {
	return l.store.DeleteIdempotencyBefore(ctx, l.clock().Add(-pw.IdempotencyRetention))
}

// paused is the error that writes answer while Options.WritesPaused says
// the ledger must not be written (a read-only maintenance window), nil
// otherwise.
func (l *Ledger) paused() error {
	if l.writesPaused == nil {
		return nil
	}
	return l.writesPaused()
}
