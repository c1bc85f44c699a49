package main_test

import (
	"context"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestAReadOnlyWindowHoldsTheHoldExpiryBack: serve wires the maintenance
// schedule into the ledger, so that during a read-only window a hold that
// falls due keeps its money reserved (the expiry pass, a write of the
// ledger, waits), and once the window is cancelled the next pass releases
// it. Until 2026-11-29 the expiry ran through read-only windows.
func TestAReadOnlyWindowHoldsTheHoldExpiryBack(t *testing.T) {
	s := startServer(t, "--data", t.TempDir())
	ctx := context.Background()
	bank, err := s.client.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := s.client.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 100, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateHold(ctx, pw.HoldCreate{FromAccount: user.ID, ToAccount: bank.ID, Amount: 40, Currency: "EUR", ExpiresInSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	w, err := s.client.ScheduleMaintenance(ctx, pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the hold is due, and passes have come
	if a, err := s.client.Account(ctx, user.ID); err != nil || a.Balance.PendingOut != 40 {
		t.Fatalf("the payer in a read-only window: %+v, %v; want the due hold's 40 still reserved", a, err)
	}
	if err := s.client.CancelMaintenance(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := s.client.Account(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Balance.PendingOut == 0 && a.Balance.Available == 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the payer after the window: %+v; want the hold released", a.Balance)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
