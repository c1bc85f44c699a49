package ledger

import (
	"context"
	"maps"
	"slices"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// captureSide is what a capture transfer says about its hold.
type captureSide struct {
	id, from, to string
	amount       int64
	currency     pw.Currency
	at           time.Time
}

// verifyHolds reads every hold: pending amounts are exactly the pending
// holds (2), and each hold agrees with its capture transfer, if any (3).
// It consumes captures.
func verifyHolds(ctx context.Context, s pw.Store, r *Report, accounts map[string]accountSummary, captures map[string]captureSide) error {
	out, in := map[string]int64{}, map[string]int64{}
	// The sums are checked: until 2026-11-29 they could wrap, and holds
	// summing to 2^64 more than an account's pending amounts matched them
	// (TestVerifyDetectsTampering/pending_holds_sum_wraps).
	overflowed := map[string]bool{}
	add := func(sums map[string]int64, id string, amount int64) {
		sum, ok := pw.AddInt64(sums[id], amount)
		if !ok && !overflowed[id] {
			overflowed[id] = true
			r.violate("account %s: its pending holds overflow an int64", id)
		}
		sums[id] = sum
	}
	for after := ""; ; {
		page, err := s.Holds(ctx, after, verifyPageMax)
		if err != nil {
			return err
		}
		for _, h := range page {
			r.Holds++
			if h.Status == pw.HoldPending {
				r.PendingHolds++
				add(out, h.FromAccount, h.Amount)
				add(in, h.ToAccount, h.Amount)
			}
			if h.FromAccount == h.ToAccount || h.Amount <= 0 {
				r.violate("hold %s: a malformed hold (same account or non-positive amount)", h.ID)
			}
			if accounts[h.FromAccount].currency != h.Currency || accounts[h.ToAccount].currency != h.Currency {
				r.violate("hold %s: currency %s differs from its accounts'", h.ID, h.Currency)
			}
			c, captured := captures[h.ID]
			delete(captures, h.ID)
			verifyHold(r, h, c, captured)
		}
		if len(page) < verifyPageMax {
			break
		}
		after = page[len(page)-1].ID
	}
	for _, id := range slices.Sorted(maps.Keys(accounts)) {
		a := accounts[id]
		if a.pendingOut != out[id] || a.pendingIn != in[id] {
			r.violate("account %s: pending_out/in %d/%d, pending holds give %d/%d", id, a.pendingOut, a.pendingIn, out[id], in[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(captures)) {
		r.violate("transfer %s: captures hold %s, which does not exist", captures[id].id, id)
	}
	return nil
}

// verifyHold checks one hold against the capture transfer that names it
// (c, when captured): the rules of capture, void and expiry (3).
func verifyHold(r *Report, h *pw.Hold, c captureSide, captured bool) {
	const when = "2006-01-02T15:04:05.999999Z07:00"
	if d := h.ExpiresAt.Sub(h.CreatedAt); d < time.Second || d > pw.HoldExpiresInSecondsMax*time.Second {
		r.violate("hold %s: expires %s after it was made, not 1s to %s", h.ID, d, pw.HoldExpiresInSecondsMax*time.Second)
	}
	switch h.Status {
	case pw.HoldCaptured:
		if !captured {
			r.violate("hold %s: captured by %s, but no capture transfer names it", h.ID, h.CaptureTransferID)
			return
		}
		if c.id != h.CaptureTransferID {
			r.violate("hold %s: names capture transfer %q, but transfer %s captures it", h.ID, h.CaptureTransferID, c.id)
		}
		if c.amount > h.Amount {
			r.violate("transfer %s: captures %d of hold %s, which exceeds the held %d", c.id, c.amount, h.ID, h.Amount)
		}
		if c.from != h.FromAccount || c.to != h.ToAccount || c.currency != h.Currency {
			r.violate("transfer %s: does not move its hold's %s from %s to %s", c.id, h.Currency, h.FromAccount, h.ToAccount)
		}
		if h.CapturedAmount != c.amount {
			r.violate("hold %s: captured_amount %d, but its capture transfer %s moved %d", h.ID, h.CapturedAmount, c.id, c.amount)
		}
		// The ledger expires a due hold before any command of the batch
		// runs, with the same clock, so a capture is always before expiry.
		if !c.at.Before(h.ExpiresAt) {
			r.violate("hold %s: captured at %s, at or after its expiry %s", h.ID, c.at.Format(when), h.ExpiresAt.Format(when))
		}
	case pw.HoldPending, pw.HoldVoided, pw.HoldExpired:
		if captured {
			r.violate("hold %s: %s, but transfer %s captures it", h.ID, h.Status, c.id)
		}
		if h.CapturedAmount != 0 || h.CaptureTransferID != "" {
			r.violate("hold %s: %s, yet captured_amount %d and capture_transfer_id %q", h.ID, h.Status, h.CapturedAmount, h.CaptureTransferID)
		}
		if h.Status == pw.HoldExpired && h.UpdatedAt.Before(h.ExpiresAt) {
			r.violate("hold %s: expired before it was due (at %s, due %s)", h.ID, h.UpdatedAt.Format(when), h.ExpiresAt.Format(when))
		}
	default:
		r.violate("hold %s: unknown status %q", h.ID, h.Status)
	}
}
