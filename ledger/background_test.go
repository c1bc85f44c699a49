package ledger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestHoldExpiryWaitsWhileWritesArePaused: during a read-only maintenance
// window (WritesPaused) the background expiry releases no hold, though one
// is due; once the window ends, the next pass releases it. Until
// 2026-11-29 holds were released in read-only windows, the one write of
// money a window let through.
func TestHoldExpiryWaitsWhileWritesArePaused(t *testing.T) {
	var paused atomic.Bool
	_, l, bank, user := hookedLedger(t, ledger.Options{WritesPaused: func() error {
		if paused.Load() {
			return pw.Errorf(pw.EMAINTENANCE, "read-only maintenance")
		}
		return nil
	}})
	ctx := context.Background()
	if _, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 100, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	h, err := l.CreateHold(ctx, pw.HoldCreate{FromAccount: user.ID, ToAccount: bank.ID, Amount: 40, Currency: "EUR", ExpiresInSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	paused.Store(true)
	run, stop := context.WithCancel(ctx)
	defer stop()
	go l.Run(run)

	time.Sleep(time.Second + 2*ledger.ExpiryInterval) // due, and two passes have come
	// A hold past its expiry reads as expired at once; what the expiry
	// pass writes is its release, the money it reserved.
	if a, err := l.Account(ctx, user.ID); err != nil || a.Balance.PendingOut != 40 {
		t.Fatalf("the payer while writes are paused: %+v, %v; want the due hold's 40 still reserved", a, err)
	}
	paused.Store(false)
	deadline := time.Now().Add(5 * ledger.ExpiryInterval)
	for {
		a, err := l.Account(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Balance.PendingOut == 0 && a.Balance.Available == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the payer after the pause: %+v; want the hold released, 100 available", a.Balance)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := l.Hold(ctx, h.ID); err != nil || got.Status != pw.HoldExpired {
		t.Fatalf("the hold after the pause: %+v, %v; want expired", got, err)
	}
}
