package ledger

import (
	"context"
	"encoding/json"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// verifyIntents reads every intent of the surge queue, a page at a time,
// and checks each against the transfers (6): requestKeys is every
// transfer's ID by its request key (verifyTransfers). The transfers the
// page's intents name are read back by ID, one read a page. Beyond
// requestKeys it keeps one entry per posted intent (the transfer it
// names), to find two naming one.
//
// What is not checked, because it is not invariant:
//   - a failed intent's key may have paid a transfer: another body under
//     the key, run by a process that did not see the intent during a
//     handover (the intent then fails idempotency_key_reused), or the
//     intent's own payment, made by its owner once its failure released
//     the key;
//   - a pending intent's key may have paid a transfer already: the
//     client's synchronous retry (the settler will find its answer), or
//     another body, as above;
//   - a cancelled intent's key may have paid a transfer before the intent
//     was accepted (a key forgotten after pw.IdempotencyRetention is free
//     again), or after its cancellation once its key's record is forgotten
//     (whose age verify cannot read). Between its acceptance and its
//     cancellation it cannot: the cancellation marks the key done only if
//     no request under it has finished, and no batch pays a key done.
//     This compares the ledger's clock (the transfer's created_at) with
//     the server's (the intent's), one clock in one process; processes
//     whose clocks disagree by more than the time between a cancellation
//     and the forgetting of its key could see a false report;
//   - a posted intent's transfer may be older than the intent: a
//     synchronous request under the key in flight when the intent was
//     accepted, whose answer the intent took.
func verifyIntents(ctx context.Context, s pw.Store, is pw.IntentStore, r *Report, requestKeys map[string]string) error {
	named := map[string]string{} // transfer ID → the posted intent that names it
	for after := ""; ; {
		page, err := is.Intents(ctx, after, verifyPageMax)
		if err != nil {
			return err
		}
		var ids []string
		for _, in := range page {
			if id := verifyIntentAlone(r, in, requestKeys); id != "" {
				ids = append(ids, id)
			}
		}
		transfers, err := s.TransfersByID(ctx, ids)
		if err != nil {
			return err
		}
		for _, in := range page {
			switch {
			case in.Status == pw.IntentPosted && in.TransferID != "":
				if other, dup := named[in.TransferID]; dup {
					r.violate("intents %s and %s both name transfer %s", other, in.ID, in.TransferID)
				} else {
					named[in.TransferID] = in.ID
				}
				verifyIntentTransfer(r, in, transfers[in.TransferID])
			case in.Cancelled():
				if tr := transfers[requestKeys[requestKeyOf(in.Principal, in.IdempotencyKey)]]; tr != nil {
					verifyCancelledIntent(r, in, tr)
				}
			}
		}
		if len(page) < verifyPageMax {
			break
		}
		after = page[len(page)-1].ID
	}
	return nil
}

// verifyIntentAlone checks what one intent says of itself: its status,
// and the transfer and error that status allows (6). It returns the ID of
// the transfer to read for it: a posted intent's, or the one posted under
// a cancelled intent's key.
func verifyIntentAlone(r *Report, in *pw.Intent, requestKeys map[string]string) string {
	r.Intents++
	switch in.Status {
	case pw.IntentPosted:
		if in.Error != nil {
			r.violate("intent %s: posted, yet with error %q", in.ID, in.Error.Code)
		}
		if in.TransferID == "" {
			r.violate("intent %s: posted, yet names no transfer", in.ID)
		}
		return in.TransferID
	case pw.IntentPending, pw.IntentFailed:
		if in.Status == pw.IntentPending {
			r.PendingIntents++
		}
		if in.TransferID != "" {
			r.violate("intent %s: %s, yet names transfer %s", in.ID, in.Status, in.TransferID)
		}
		switch {
		case in.Status == pw.IntentPending && in.Error != nil:
			r.violate("intent %s: pending, yet with error %q", in.ID, in.Error.Code)
		case in.Status == pw.IntentFailed && (in.Error == nil || in.Error.Code == ""):
			r.violate("intent %s: failed without an error code", in.ID)
		case in.Cancelled():
			return requestKeys[requestKeyOf(in.Principal, in.IdempotencyKey)]
		}
	default:
		r.violate("intent %s: unknown status %q", in.ID, in.Status)
	}
	return ""
}

// verifyIntentTransfer checks a posted intent against the transfer it
// names (tr, nil when there is none): the payment its request asked for,
// posted under its key, as the settler pays it (6).
func verifyIntentTransfer(r *Report, in *pw.Intent, tr *pw.Transfer) {
	if tr == nil {
		r.violate("intent %s: names transfer %s, which does not exist", in.ID, in.TransferID)
		return
	}
	// The settler pays under the intent's own claim, and a replay it takes
	// is that key's answer: either way the transfer records the key.
	if tr.RequestKey != requestKeyOf(in.Principal, in.IdempotencyKey) {
		r.violate("intent %s: its transfer %s was not posted under its idempotency key", in.ID, tr.ID)
	}
	if tr.Kind != pw.TransferPayment {
		r.violate("intent %s: its transfer %s is a %s, not a payment", in.ID, tr.ID, tr.Kind)
	}
	var req pw.TransferCreate
	if err := json.Unmarshal(in.Body, &req); err != nil {
		r.violate("intent %s: posted, yet its request cannot be read: %v", in.ID, err)
		return
	}
	// A payee named by handle is resolved above the ledger, to the wallet
	// the handle had then: only a payee named by account is compared.
	payee, payeeDiffers := req.ToAccount, req.ToAccount != "" && req.ToAccount != tr.ToAccount
	if req.ToAccount == "" {
		payee = req.ToHandle
	}
	if tr.FromAccount != req.FromAccount || tr.Amount != req.Amount || tr.Currency != req.Currency || payeeDiffers {
		r.violate("intent %s: its transfer %s moves %d %s from %s to %s, its request %d %s from %s to %s",
			in.ID, tr.ID, tr.Amount, tr.Currency, tr.FromAccount, tr.ToAccount, req.Amount, req.Currency, req.FromAccount, payee)
	}
}

// verifyCancelledIntent checks that tr, posted under cancelled intent
// in's key, was not posted while the intent waited (6; verifyIntents says
// why only then).
func verifyCancelledIntent(r *Report, in *pw.Intent, tr *pw.Transfer) {
	const when = time.RFC3339Nano
	if !tr.CreatedAt.Before(in.CreatedAt) && !tr.CreatedAt.After(in.UpdatedAt) {
		r.violate("intent %s: cancelled, yet transfer %s was posted under its key at %s, between its acceptance (%s) and its cancellation (%s)",
			in.ID, tr.ID, tr.CreatedAt.Format(when), in.CreatedAt.Format(when), in.UpdatedAt.Format(when))
	}
}
