package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// cancelWaitFirst and cancelWaitMax bound the waits of a cancellation for
// a key held by a request in flight (the settler paying the intent now, or the client's own
// retry): such a hold lasts one ledger commit, so the cancellation waits
// for it and answers with what happened, rather than 409 in use.
const (
	cancelWaitFirst = 5 * time.Millisecond
	cancelWaitMax   = 50 * time.Millisecond
	// cancelMargin is the part of the request's deadline kept for the
	// answer once the key is still held: then 409 idempotency_key_in_use,
	// with Retry-After.
	cancelMargin = 100 * time.Millisecond
)

// errIntentCancelled is a payer's cancelled intent's error and its key's
// answer from then on (a retry of the payment under its key replays it);
// errIntentStopped is an intent cancelled by an operator on the payer's
// behalf. Both are intent_cancelled: nothing was paid, and the client does
// the same either way (send it again with a new key, if it is still
// wanted). Both say who cancelled (cancelled_by), so that the payer's app
// can say "stopped by support" and not "you cancelled"
// (docs/overload.md, "Cancelling a queued payment").
var (
	errIntentCancelled = &pw.Error{Code: pw.EINTENTCANCELLED, Err: cancelledBy(pw.CancelledByPayer),
		Message: "this payment was cancelled by its payer before it was made: nothing was paid; send it again with a new Idempotency-Key to pay"}
	errIntentStopped = &pw.Error{Code: pw.EINTENTCANCELLED, Err: cancelledBy(pw.CancelledByOperator),
		Message: "this payment was stopped by peakwallet support on the payer's behalf before it was made: nothing was paid; contact support, or send it again with a new Idempotency-Key to pay"}
)

// cancelledBy is who cancelled an intent: the member cancelled_by of its
// key's answer, as on the intent's error.
type cancelledBy string

func (c cancelledBy) Error() string { return "cancelled by " + string(c) }

// ProblemExtra implements the problem's extra members (ProblemFor).
func (c cancelledBy) ProblemExtra() map[string]any { return map[string]any{"cancelled_by": string(c)} }

func serveCancelIntent(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := s.ownIntent(r.Context(), r)
		if err != nil {
			Error(w, r, err)
			return
		}
		body, err := ReadBody(w, r, rt.BodyMax)
		if err != nil {
			Error(w, r, err)
			return
		}
		var req pw.IntentCancel
		if len(body) > 0 {
			if err := DecodeJSON(body, &req); err != nil {
				Error(w, r, err)
				return
			}
		}
		by, rec := pw.CancelledByPayer, (*pw.CommitRecord)(nil)
		if a, ok := s.ledger.(cancelAuthorizer); ok {
			// Who may cancel, and the audit record of an operator's
			// cancellation, which commits with it.
			by, rec, err = a.AuthorizeCancel(r.Context(), in, req)
		} else if p, _ := pw.PrincipalFromContext(r.Context()); p.String() != in.Principal {
			// Without the Guard there is no audit log to record a
			// cancellation on someone's behalf in, and a security event
			// that cannot be recorded fails the action: only the payer
			// cancels.
			err = pw.Errorf(pw.EFORBIDDEN, "only the payer who queued a payment may cancel it on this server")
		} else {
			err = req.Validate(false)
		}
		if err != nil {
			Error(w, r, err)
			return
		}
		if in, err = s.cancelIntent(r.Context(), in, by, rec); err != nil {
			Error(w, r, err)
			return
		}
		writeJSON(w, rt.Status, in)
	})
}

// cancelIntent cancels pending intent in, for its payer or (by is
// pw.CancelledByOperator) by an operator on the payer's behalf, and
// returns it failed intent_cancelled; rec, an operator's audit record, is
// committed with the cancellation, and only if it takes effect. Cancelling
// a cancelled intent returns it again; one paid or failed otherwise is
// intent_not_pending.
//
// The cancellation claims the intent's idempotency key, as a payment under
// it does, and in one transaction marks the key done with the answer
// intent_cancelled and fails the intent (IntentStore.CancelIntent): the
// settler, here or in another process, and a client's retry under the key
// can then never pay it, and a payment that committed first is found there
// and is the intent's outcome. So exactly one of "paid" and "cancelled"
// happens, whatever runs at once (TestACancelAndTheSettlerNeverBothWin).
//
// The key claimed is the payer's (the intent's principal and key), whoever
// cancels: an operator's cancellation races the settler on the same key
// and the same record as the payer's.
func (s *Server) cancelIntent(ctx context.Context, in *pw.Intent, by string, rec *pw.CommitRecord) (*pw.Intent, error) {
	key := pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}
	wait := cancelWaitFirst
	for {
		switch {
		case in.Cancelled():
			return in, nil
		case in.Status == pw.IntentPosted:
			return nil, &pw.Error{Code: pw.EINTENTNOTPENDING, Err: intentState{in},
				Message: fmt.Sprintf("this payment was already made (transfer %s): it cannot be cancelled; refund it instead", in.TransferID)}
		case in.Status != pw.IntentPending:
			code := ""
			if in.Error != nil {
				code = in.Error.Code
			}
			return nil, &pw.Error{Code: pw.EINTENTNOTPENDING, Err: intentState{in},
				Message: fmt.Sprintf("this payment already failed (%s): nothing was paid, and there is nothing to cancel", code)}
		}
		claim, replay, err := s.ledger.BeginIdempotent(ctx, key, in.Fingerprint)
		switch {
		case pw.ErrorCode(err) == pw.EIDEMINUSE, errors.Is(err, pw.ErrKeyInFlight):
			// The settler, or the client's retry, is paying it now: wait
			// for that commit and look again. So for a request with
			// another body under the key, in flight: it is refused
			// idempotency_key_reused while the intent is pending, and gives
			// the key back (or, paid, spends it, and the next look fails
			// the intent below). Until 2026-11-28 the cancellation failed
			// the intent idempotency_key_reused on the spot and answered
			// that it had already failed, the key stayed free, and the
			// client's retry of the payment cancelled was paid
			// (TestACancelWaitsForAnotherBodyInFlightUnderTheKey).
			if d, ok := ctx.Deadline(); ok && time.Until(d) < wait+cancelMargin {
				return nil, &pw.Error{Code: pw.EIDEMINUSE, Retry: time.Second,
					Message: "a request under this payment's Idempotency-Key is being run at this moment; ask again in a second to learn whether it was cancelled or paid"}
			}
			time.Sleep(wait)
			wait = min(2*wait, cancelWaitMax)
		case pw.ErrorCode(err) == pw.EIDEMREUSED:
			// Another payment finished under the key: this intent can never
			// be paid, and fails as its settlement would.
			if err := s.finishIntent(ctx, in, nil, err); err != nil {
				return nil, notRecorded(err)
			}
		case err != nil:
			return nil, err
		case replay != nil:
			// A request under the key finished: its answer is the intent's
			// outcome (paid, or an earlier cancellation's).
			if err := s.finishFromReplay(ctx, in, replay); err != nil {
				return nil, notRecorded(err)
			}
		default:
			out, err := s.cancelClaimed(ctx, in, claim, by, rec)
			if err != nil || out != nil {
				return out, err
			}
		}
		if in, err = s.intents.Intent(ctx, in.ID); err != nil {
			return nil, err
		}
	}
}

// cancelClaimed cancels in under claim, its key's: the intent cancelled,
// or nil when it was not pending or its key was found finished (the caller
// reads it again), or the store's error.
func (s *Server) cancelClaimed(ctx context.Context, in *pw.Intent, claim *pw.IdempotencyRecord, by string, audit *pw.CommitRecord) (*pw.Intent, error) {
	defer s.release(ctx, claim) // a no-op once the claim is marked done
	cause := errIntentCancelled
	if by == pw.CancelledByOperator {
		cause = errIntentStopped
	}
	p := ProblemFor(cause)
	rec := *claim
	rec.Status, rec.Body = p.Status, renderProblem(p)
	out, done, err := s.intents.CancelIntent(ctx, in.ID, &rec, &pw.IntentError{Code: p.Code, Message: p.Detail, CancelledBy: by},
		s.now().UTC().Truncate(time.Microsecond), audit)
	switch {
	case err != nil:
		return nil, err
	case done != nil && done.Fingerprint != in.Fingerprint:
		// Another request, with other content, finished the key after the
		// claim (another process's, during a handover: each has its own
		// leases). Its answer is not this intent's: recorded as it was, the
		// intent read posted with another payment's transfer, and its payer
		// was told to refund that one
		// (TestACancelDoesNotTakeAnotherPaymentsAnswerAsTheIntents). The
		// intent can never be paid under its key, and fails as the ledger's
		// batch would fail its settlement.
		if err := s.finishIntent(ctx, in, nil, pw.KeyReusedError()); err != nil {
			return nil, notRecorded(err)
		}
		return nil, nil
	case done != nil:
		if err := s.finishFromReplay(ctx, in, done); err != nil {
			return nil, notRecorded(err)
		}
		return nil, nil
	case out.Cancelled():
		s.settled.settled(in.ID) // its event streams end with it
		return out, nil
	}
	return nil, nil
}

// notRecorded is the answer when an intent's outcome, found under its key,
// could not be recorded on it (finishIntent's errNotNow): busy, and the
// next look finds it again.
func notRecorded(err error) error {
	return &pw.Error{Code: pw.EBUSY, Op: "http.cancelIntent", Err: err,
		Message: "the payment's state could not be recorded now; ask again"}
}

// intentState is the intent an intent_not_pending refusal is about: its
// problem carries it as the member "intent", so that the client learns how
// it settled (its transfer_id, or its error) without reading it again.
type intentState struct{ in *pw.Intent }

func (e intentState) Error() string { return "intent " + e.in.ID + " is " + e.in.Status }

// ProblemExtra implements the problem's extra members (ProblemFor).
func (e intentState) ProblemExtra() map[string]any { return map[string]any{"intent": e.in} }
