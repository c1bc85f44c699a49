package storetest

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

func (e *env) mustHold(from, to *pw.Account, amount, seconds int64) *pw.Hold {
	e.t.Helper()
	h, err := e.l.CreateHold(e.ctx, pw.HoldCreate{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: from.Currency, ExpiresInSeconds: seconds})
	if err != nil {
		e.t.Fatalf("CreateHold: %v", err)
	}
	return h
}

func testHolds(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	guest := e.MustAccount(pw.AccountUser, "EUR", 0)
	hotel := e.MustAccount(pw.AccountMerchant, "EUR", 0)
	e.MustTransfer(bank, guest, 1000)

	h := e.mustHold(guest, hotel, 600, 3600)
	if h.Status != pw.HoldPending || !h.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) || !pw.IDHasPrefix(h.ID, pw.PrefixHold) {
		t.Fatalf("hold = %+v", h)
	}
	e.MustBalance(guest, 1000, 600, 0)
	e.MustBalance(hotel, 0, 0, 600)
	// The reservation counts against available funds.
	_, err := e.l.CreateTransfer(e.ctx, pw.TransferCreate{FromAccount: guest.ID, ToAccount: hotel.ID, Amount: 401, Currency: "EUR"})
	MustCode(t, err, pw.EINSUFFICIENT)
	_, err = e.l.CreateHold(e.ctx, pw.HoldCreate{FromAccount: guest.ID, ToAccount: hotel.ID, Amount: 401, Currency: "EUR", ExpiresInSeconds: 60})
	MustCode(t, err, pw.EINSUFFICIENT)
	_, err = e.l.CaptureHold(e.ctx, h.ID, pw.HoldCapture{Amount: 601})
	MustCode(t, err, pw.EINVALID)

	tr, err := e.l.CaptureHold(e.ctx, h.ID, pw.HoldCapture{Amount: 450})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Kind != pw.TransferCapture || tr.HoldID != h.ID || tr.Amount != 450 || tr.FromAccount != guest.ID {
		t.Fatalf("capture transfer = %+v", tr)
	}
	e.MustBalance(guest, 550, 0, 0) // the other 150 were released
	e.MustBalance(hotel, 450, 0, 0)
	got, err := e.l.Hold(e.ctx, h.ID)
	if err != nil || got.Status != pw.HoldCaptured || got.CapturedAmount != 450 || got.CaptureTransferID != tr.ID {
		t.Fatalf("captured hold = %+v, %v", got, err)
	}
	_, err = e.l.CaptureHold(e.ctx, h.ID, pw.HoldCapture{})
	MustCode(t, err, pw.EHOLDNOTPENDING)
	_, err = e.l.VoidHold(e.ctx, h.ID)
	MustCode(t, err, pw.EHOLDNOTPENDING)

	h2 := e.mustHold(guest, hotel, 500, 60)
	v, err := e.l.VoidHold(e.ctx, h2.ID)
	if err != nil || v.Status != pw.HoldVoided {
		t.Fatalf("void = %+v, %v", v, err)
	}
	e.MustBalance(guest, 550, 0, 0)
	_, err = e.l.CaptureHold(e.ctx, h2.ID, pw.HoldCapture{})
	MustCode(t, err, pw.EHOLDNOTPENDING)

	full := e.mustHold(guest, hotel, 550, 60)
	if tr, err := e.l.CaptureHold(e.ctx, full.ID, pw.HoldCapture{}); err != nil || tr.Amount != 550 {
		t.Fatalf("full capture = %+v, %v", tr, err)
	}
	e.MustBalance(guest, 0, 0, 0)
	_, err = e.l.VoidHold(e.ctx, "hold_missing")
	MustCode(t, err, pw.ENOTFOUND)
	for _, bad := range []int64{0, -1, pw.HoldExpiresInSecondsMax + 1} {
		_, err = e.l.CreateHold(e.ctx, pw.HoldCreate{FromAccount: guest.ID, ToAccount: hotel.ID, Amount: 1, Currency: "EUR", ExpiresInSeconds: bad})
		MustCode(t, err, pw.EINVALID)
	}
	e.MustVerify()

	// Store.Holds lists every hold, whatever its status, in ID order:
	// Verify reads captured and released holds through it.
	status := map[string]string{h.ID: pw.HoldCaptured, h2.ID: pw.HoldVoided, full.ID: pw.HoldCaptured}
	var listed []string
	for after := ""; ; {
		page, err := e.store.Holds(e.ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range page {
			if got.Status != status[got.ID] {
				t.Fatalf("Holds lists %s as %s, want %s", got.ID, got.Status, status[got.ID])
			}
			listed = append(listed, got.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if want := slices.Sorted(maps.Keys(status)); !slices.Equal(listed, want) {
		t.Fatalf("Holds listed %v, want %v", listed, want)
	}
}

func testHoldExpiry(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	guest := e.MustAccount(pw.AccountUser, "EUR", 0)
	hotel := e.MustAccount(pw.AccountMerchant, "EUR", 0)
	e.MustTransfer(bank, guest, 1000)
	h := e.mustHold(guest, hotel, 1000, 60)
	h2 := e.mustHold(bank, hotel, 5, 120)

	e.clock.Advance(60 * time.Second)
	// Due but not yet swept: reads say expired, and the reservation no
	// longer blocks a payment from the account.
	if got, err := e.l.Hold(e.ctx, h.ID); err != nil || got.Status != pw.HoldExpired {
		t.Fatalf("hold read at expiry = %+v, %v", got, err)
	}
	e.MustTransfer(guest, hotel, 10)
	_, err := e.l.CaptureHold(e.ctx, h.ID, pw.HoldCapture{})
	MustCode(t, err, pw.EHOLDEXPIRED)
	// A void finds the hold released already: it answers it as it is.
	if got, err := e.l.VoidHold(e.ctx, h.ID); err != nil || got.Status != pw.HoldExpired || got.ID != h.ID {
		t.Fatalf("void of an expired hold = %+v, %v; want it read expired", got, err)
	}
	e.MustBalance(guest, 990, 0, 0)
	e.MustBalance(hotel, 10, 0, 5) // h2 still pending

	e.clock.Advance(60 * time.Second)
	n, err := e.l.ExpireDueHolds(e.ctx)
	if err != nil || n != 1 {
		t.Fatalf("ExpireDueHolds = %d, %v; want 1", n, err)
	}
	if got, _ := e.store.Hold(e.ctx, h2.ID); got.Status != pw.HoldExpired {
		t.Fatalf("stored hold after expiry = %+v", got)
	}
	if got, err := e.l.VoidHold(e.ctx, h2.ID); err != nil || got.Status != pw.HoldExpired {
		t.Fatalf("void of a hold expired by the pass = %+v, %v; want it read expired", got, err)
	}
	e.MustBalance(hotel, 10, 0, 0)
	if n, err := e.l.ExpireDueHolds(e.ctx); err != nil || n != 0 {
		t.Fatalf("second pass = %d, %v", n, err)
	}
	e.MustVerify()
}

// testHoldExpiresWithoutBeingAsked runs the ledger's background loop on the
// real clock: a hold is released at its expiry with no request at all.
func testHoldExpiresWithoutBeingAsked(t *testing.T, open Opener) {
	e := newEnvOn(t, open(t), nil)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	hotel := e.MustAccount(pw.AccountMerchant, "EUR", 0)
	h := e.mustHold(bank, hotel, 42, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go e.l.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.store.Hold(e.ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == pw.HoldExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hold still %s 10 s after its expiry", got.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.MustBalance(hotel, 0, 0, 0)
	e.MustVerify()
}

// testHoldsRace has captures, voids and expiry race on the same holds:
// each hold ends in exactly one final state and the balances add up.
func testHoldsRace(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	payer := e.MustAccount(pw.AccountUser, "EUR", 0)
	shop := e.MustAccount(pw.AccountMerchant, "EUR", 0)
	const holds = 60
	e.MustTransfer(bank, payer, holds*100)
	ids := make([]string, holds)
	for i := range ids {
		ids[i] = e.mustHold(payer, shop, 100, int64(1+i%3)).ID
	}
	e.clock.Advance(2 * time.Second) // those of 1 and 2 s are now due, those of 3 s not
	var captured, voided sync.Map
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for _, i := range rng.Perm(holds) {
				switch rng.IntN(3) {
				case 0:
					if tr, err := e.l.CaptureHold(e.ctx, ids[i], pw.HoldCapture{Amount: 60}); err == nil {
						if _, dup := captured.LoadOrStore(ids[i], tr.ID); dup {
							t.Errorf("hold %s captured twice", ids[i])
						}
					} else if c := pw.ErrorCode(err); c != pw.EHOLDNOTPENDING && c != pw.EHOLDEXPIRED {
						t.Errorf("capture: %v", err)
					}
				case 1:
					if h, err := e.l.VoidHold(e.ctx, ids[i]); err == nil && h.Status == pw.HoldVoided {
						voided.Store(ids[i], true)
					} else if err == nil && h.Status != pw.HoldExpired {
						t.Errorf("void answered a hold %s", h.Status)
					} else if c := pw.ErrorCode(err); err != nil && c != pw.EHOLDNOTPENDING {
						t.Errorf("void: %v", err)
					}
				default:
					if _, err := e.l.ExpireDueHolds(e.ctx); err != nil {
						t.Errorf("expire: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	e.clock.Advance(time.Hour)
	if _, err := e.l.ExpireDueHolds(e.ctx); err != nil {
		t.Fatal(err)
	}
	var nCaptured int64
	for _, id := range ids {
		h, err := e.store.Hold(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		_, c := captured.Load(id)
		_, v := voided.Load(id)
		switch {
		case c && (v || h.Status != pw.HoldCaptured):
			t.Errorf("hold %s: captured by a caller but %s (voided too: %v)", id, h.Status, v)
		case v && h.Status != pw.HoldVoided:
			t.Errorf("hold %s: voided by a caller but %s", id, h.Status)
		case !c && !v && h.Status != pw.HoldExpired:
			t.Errorf("hold %s: neither captured nor voided, but %s", id, h.Status)
		}
		if c {
			nCaptured++
		}
	}
	e.MustBalance(shop, nCaptured*60, 0, 0)
	e.MustBalance(payer, holds*100-nCaptured*60, 0, 0)
	e.MustVerify()
}

// testACaptureThatWouldOverflowThePayeeMovesNothing captures a hold into a
// payee whose balance it would take past the int64 limit: limit_exceeded,
// and the hold stays pending with its reservation, so that a smaller
// capture (or a void) can still end it.
func testACaptureThatWouldOverflowThePayeeMovesNothing(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "USD", 0)
	bank2 := e.MustAccount(pw.AccountSystem, "USD", 0)
	payer := e.MustAccount(pw.AccountUser, "USD", 0)
	payee := e.MustAccount(pw.AccountMerchant, "USD", 0)
	e.MustTransfer(bank, payee, math.MaxInt64-10)
	e.MustTransfer(bank2, payer, 100)
	h := e.mustHold(payer, payee, 100, 3600)

	_, err := e.l.CaptureHold(e.ctx, h.ID, pw.HoldCapture{})
	MustCode(t, err, pw.ELIMIT)
	if got, err := e.store.Hold(e.ctx, h.ID); err != nil || got.Status != pw.HoldPending || got.CaptureTransferID != "" {
		t.Fatalf("hold after the refused capture = %+v, %v; want it pending", got, err)
	}
	e.MustBalance(payer, 100, 100, 0)
	e.MustBalance(payee, math.MaxInt64-10, 0, 100)
	e.MustVerify()

	tr, err := e.l.CaptureHold(e.ctx, h.ID, pw.HoldCapture{Amount: 10})
	if err != nil || tr.Amount != 10 {
		t.Fatalf("capture within the limit = %+v, %v", tr, err)
	}
	e.MustBalance(payer, 90, 0, 0)
	e.MustBalance(payee, math.MaxInt64, 0, 0)
	e.MustVerify()
}

// testAvailableNeverWraps reserves and spends from a system account (no
// lower bound) until its available balance, posted - pending_out, would
// pass the int64 limit: limit_exceeded, never a wrapped balance.
func testAvailableNeverWraps(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "USD", 0)
	shop := e.MustAccount(pw.AccountMerchant, "USD", 0)
	e.mustHold(bank, shop, math.MaxInt64, 3600) // available -MaxInt64
	e.MustTransfer(bank, shop, 1)               // available MinInt64: still representable

	_, err := e.l.CreateTransfer(e.ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: shop.ID, Amount: 1, Currency: "USD"})
	MustCode(t, err, pw.ELIMIT)
	bank2 := e.MustAccount(pw.AccountSystem, "USD", 0)
	shop2 := e.MustAccount(pw.AccountMerchant, "USD", 0)
	e.mustHold(bank2, shop2, 2, 3600)
	_, err = e.l.CreateHold(e.ctx, pw.HoldCreate{FromAccount: bank2.ID, ToAccount: bank.ID, Amount: math.MaxInt64, Currency: "USD", ExpiresInSeconds: 60})
	MustCode(t, err, pw.ELIMIT)
	e.MustBalance(bank, -1, math.MaxInt64, 0)
	e.MustBalance(bank2, 0, 2, 0)
	e.MustBalance(shop, 1, 0, math.MaxInt64)
	e.MustVerify()
}
