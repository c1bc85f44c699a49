package ledger_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestAPaymentQueuedBeforeWritesArePausedIsNotCommittedInThePause: a
// payment that entered the ledger before a read-only window began, and
// waited in the sequencer's queue behind a batch still committing, is not
// committed once the window is in force: it is answered with the window's
// error (503 maintenance, Retry-After at its end) and moves nothing. The
// batch that began before the window commits. Until 2026-11-29 the routes
// and the settler looked at the window only before they entered the
// ledger, and a payment queued there (behind a slow batch, up to its
// deadline) was paid in the window.
func TestAPaymentQueuedBeforeWritesArePausedIsNotCommittedInThePause(t *testing.T) {
	var paused atomic.Bool
	window := &pw.Error{Code: pw.EMAINTENANCE, Retry: time.Hour, Message: "read-only maintenance"}
	s, l, bank, user := hookedLedger(t, ledger.Options{WritesPaused: func() error {
		if paused.Load() {
			return window
		}
		return nil
	}})
	gate, held := make(chan struct{}), make(chan struct{})
	s.hooks = append(s.hooks, func(context.Context) { close(held); <-gate })
	pay := func(amount int64) chan error {
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: amount, Currency: "EUR"})
			done <- err
		}()
		return done
	}
	first := pay(5)
	<-held // its batch commits, slowly
	second := pay(7)
	time.Sleep(100 * time.Millisecond) // queued behind it
	paused.Store(true)
	close(gate)
	if err := <-first; err != nil {
		t.Fatalf("the payment whose batch began before the pause: %v; want it committed", err)
	}
	err := <-second
	var e *pw.Error
	if pw.ErrorCode(err) != pw.EMAINTENANCE || !errors.As(err, &e) || e.RetryAfter() != time.Hour {
		t.Fatalf("the payment queued before the pause and taken in it: %v; want the window's maintenance error", err)
	}
	mustHold(t, l, user, 5)
}
