package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/internal/faillog"
)

// Surge-queue limits.
const (
	// IntentAcceptTimeout bounds the durable write of an accepted intent
	// (and so does the request's own deadline, whichever comes first).
	IntentAcceptTimeout = 2 * time.Second
	// IntentWritersMax bounds the intents being written at once. On
	// SQLite they share its one write connection with the ledger's
	// batches, in group commits of their own (sqlite.Store.CreateIntent):
	// unbounded, and one transaction each, a 3× surge of payments that
	// allowed respond-async made thousands of them wait for that
	// connection, the ledger committed nothing for 33 s and the clients
	// timed out (docs/overload-journal.md, "Evening"). Past the bound the
	// surge queue is taking all it can: the original 503 busy stands, at
	// once. The bound is two full group commits, one being written and the
	// next forming behind it: at 256, one batch took every slot, nothing
	// could queue for the next, and in mixed surges the surge queue turned
	// away as many payments as it took while it wrote
	// (peakwallet_surge_queue_offers_total{result="writers_busy"};
	// docs/overload-journal.md, "Morning of 2026-11-27").
	IntentWritersMax = 2 * pw.IntentBatchWritesMax
	// IntentReserveShare is the part of a respond-async payment's deadline
	// kept for writing its intent: it waits for a slot only until the rest
	// has passed, so that its 202 (or its 503) reaches the client in time.
	IntentReserveShare = 0.25
	// IntentBatchMax bounds the intents one settling pass reads.
	IntentBatchMax = 256
	// IntentWorkersMax bounds the intents settling at once; they start in
	// acceptance order and are batched together by the sequencer.
	IntentWorkersMax = 64
	// IntentPollInterval is how often the settler looks for pending
	// intents when nothing woke it (other processes accept intents too).
	IntentPollInterval = 250 * time.Millisecond
	// IntentSettleTimeout is the deadline of one settlement attempt.
	IntentSettleTimeout = 5 * time.Second
	// IntentEventsTimeout bounds an event stream; the client reconnects.
	// It stays under WriteTimeout, which would cut the stream anyway.
	IntentEventsTimeout = 50 * time.Second
	// IntentEventsPoll is how often a stream re-reads its intent, for
	// intents settled by another process: its first poll at a random
	// point within it, each next one this long after its last read ended
	// (firstPoll).
	IntentEventsPoll = time.Second
	// IntentEventsReadTimeout bounds each of an event stream's reads of
	// its intent (when it opens, and at each poll or wake), as
	// auth.AuthStoreTimeout bounds authentication's: a stream holds no
	// admission slot, so nothing else did. Until 2026-11-29 those reads
	// had none: in a PostgreSQL stall a stream opened by a principal that
	// was not stale waited as long as the stall lasted, and every open
	// stream's poll did too, each holding a pooled connection
	// (TestAnEventStreamOpenedInAStallIsAnsweredInTime,
	// TestOpenEventStreamsHoldNoConnectionInAStall).
	IntentEventsReadTimeout = time.Second
	// IntentEventsReadsMax bounds the event streams' reads of the store
	// in flight at once, whatever the number of streams (streamRead): a
	// poll that finds them all taken is skipped (the stream reads at its
	// next wake or poll, and tells its client after IntentEventsSkipsMax
	// in a row), an opening is answered busy. They are outside
	// admission, and each may hold a pooled connection for up to
	// IntentEventsReadTimeout when the store stalls, before the breaker
	// opens: two is half of pgxpool's default pool (four connections on
	// this 2-core machine), so the payments keep the other half, as
	// AccountKindLookups (2, each at most 50 ms) bounds the other reads
	// made before admission. A stream's read of one intent by its key
	// takes well under a millisecond when the store answers, so two
	// serve a few thousand reads a second: one poll a second of that many
	// open streams. A constant, not the pool's size: the server does not
	// know the store's pool, and SQLite's reads have no such pool. Until
	// the review of 2026-11-29 as many were in flight as streams were open
	// (TestEventStreamReadsInFlightAreBounded).
	IntentEventsReadsMax = 2
	// IntentEventsSkipsMax is how many of an event stream's wakes and
	// polls in a row may find IntentEventsReadsMax reads in flight, and
	// read nothing, before its client is told that the intent cannot be
	// read now (the "unavailable" event, once, as for a read that failed;
	// the intent event follows once it is read again). Two: a client
	// hears within about two polls (two seconds) that its stream is not
	// being read, about as soon as one whose read ran out hears it (a
	// second's read, after a poll); one would tell it at the first skip,
	// which, when the store answers, is a few milliseconds' crowding and
	// cleared at the next poll. Until the review of 2026-11-29 a skipped
	// stream told nothing, and in a stall with the breaker closed the
	// streams that never got a read said nothing for as long as it lasted
	// (TestEventStreamsSkippedInAStallAreToldTheyAreNotRead).
	IntentEventsSkipsMax = 2
)

// What the surge queue did with a busy payment that allowed respond-async
// (peakwallet_surge_queue_offers_total, /v1/ops/summary's surge_queue).
const (
	SurgeAccepted      = "accepted"       // written as a new intent: 202
	SurgeFound         = "found"          // its key's intent was there already: 202 with it
	SurgeRejected      = "rejected"       // the request itself was refused (invalid, not allowed, key reused)
	SurgeCheckFailed   = "check_failed"   // the payment's checks could not be made (the store failed or was slow)
	SurgeWritersBusy   = "writers_busy"   // IntentWritersMax intents were being written: the 503 stands
	SurgeFull          = "full"           // IntentsPendingMax intents are pending: the 503 stands
	SurgeWriteFailed   = "write_failed"   // the write failed or ran out of time: the 503 stands
	SurgeCommitUnknown = "commit_unknown" // the write's outcome is unknown: commit_unknown
	SurgeReplayed      = "replayed"       // the key's finished request answered it: nothing kept
	SurgeMaintenance   = "maintenance"    // a read-only window began while it waited: 503 maintenance
	SurgeStoreDown     = "store_down"     // the breaker keeps requests from the store: the 503 stands
)

// SurgeQueueResults lists the results above.
var SurgeQueueResults = []string{SurgeAccepted, SurgeFound, SurgeReplayed, SurgeRejected, SurgeCheckFailed, SurgeWritersBusy, SurgeFull, SurgeWriteFailed, SurgeCommitUnknown, SurgeMaintenance, SurgeStoreDown}

// paymentAuthorizer is the Guard's check of a payment without moving it
// (auth.Guard.AuthorizePayment).
type paymentAuthorizer interface {
	AuthorizePayment(ctx context.Context, req pw.TransferCreate) error
}

// cancelAuthorizer is the Guard's check that the principal may cancel a
// queued payment, its own or (an operator) on its payer's behalf, and the
// audit record of an operator's cancellation (auth.Guard.AuthorizeCancel).
type cancelAuthorizer interface {
	AuthorizeCancel(ctx context.Context, in *pw.Intent, req pw.IntentCancel) (by string, rec *pw.CommitRecord, err error)
}

// credentialChecker is the Guard's check that the session or key which
// accepted an intent has not been ended since (auth.Guard.CredentialLive).
type credentialChecker interface {
	CredentialLive(ctx context.Context, p pw.Principal) error
}

// errNotNow says an intent could not be settled now; it stays pending.
// errAccountWaits says so too, for a reason of that intent alone, which
// holds up its account's later intents but not the pass: errKeyInUse,
// another request holds its key (a client's synchronous retry, another
// process's settler, or a lease left by a process that died, until it is
// stale); errLedgerFailed, the ledger failed its payment with an internal
// error (settleInternalFailure).
var (
	errNotNow       = errors.New("not now")
	errAccountWaits = fmt.Errorf("%w: its account's later intents wait", errNotNow)
	errKeyInUse     = fmt.Errorf("%w: its idempotency key is in use", errAccountWaits)
	errLedgerFailed = fmt.Errorf("%w: the ledger failed it with an internal error", errAccountWaits)
)

// IntentInternalFailuresMax is how many times this process's settler lets
// the ledger fail one intent's payment with an internal error before it
// fails the intent with that error. An internal error is a defect, not the
// store down (that is unavailable) nor busy: it moved nothing (a commit
// whose outcome is unknown is outcome_unknown), and it keeps the payment's
// key for its lease (releasable), so the tries are a lease apart, about a
// minute. Until 2026-11-29 such an intent stayed pending for good: a
// payment the ledger always failed so (one to an account ID with a NUL
// byte, on PostgreSQL, until that day) held up its account's later intents
// for good, and stopped the settling pass each time its lease ended, the
// other accounts' intents behind it waiting for the next pass
// (TestAnIntentTheLedgerKeepsFailingIsFailedAndHoldsNobodyUp).
const IntentInternalFailuresMax = 3

// acceptIntent answers a busy POST /v1/transfers that allowed
// Prefer: respond-async: the request is validated, kept durably as an
// intent under its Idempotency-Key, and answered 202 with its Location.
func (s *Server) acceptIntent(w http.ResponseWriter, r *http.Request, rt *Route, busy error) {
	result := SurgeRejected // until it gets further: the request itself was refused
	defer func() { s.metrics.offers.WithLabelValues(result).Inc() }()
	if s.maintenance != nil {
		// A read-only window may have begun while the payment waited for
		// its slot: writing the intent would be a write in it, and its
		// 202 a promise the wallet says it takes none of. It is answered
		// as a payment arriving now is
		// (TestAnAsyncPaymentWhoseWaitEndsInAReadOnlyWindowIsNotQueued).
		// Counted apart: until 2026-11-29 it read as "rejected", the
		// request's own fault, which it is not.
		if err := s.maintenance.ReadOnly(); err != nil {
			result = SurgeMaintenance
			Error(w, r, err)
			return
		}
	}
	// While the breaker keeps requests from the store (an outage), the
	// intent could not be written either: the breaker's 503, with its
	// Retry-After, stands, and nothing is asked of the store. Until
	// 2026-11-29 every such payment read the store for its checks and
	// tried the write (TestAnAsyncPaymentInAnOutageAsksNothingOfTheStore).
	if s.admission != nil && !s.admission.BreakerClosed() {
		result = SurgeStoreDown
		Error(w, r, busy)
		return
	}
	// A principal answered stale from the cache is authenticated again
	// before its payment is written as an intent (admit).
	ctx, err := s.authenticateAgain(r.Context(), r, rt)
	if err != nil {
		Error(w, r, err)
		return
	}
	r = r.WithContext(ctx)
	key, err := idempotencyKey(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	body, err := ReadBody(w, r, rt.BodyMax)
	if err != nil {
		Error(w, r, err)
		return
	}
	var req pw.TransferCreate
	if err := DecodeJSON(body, &req); err != nil {
		Error(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		Error(w, r, err)
		return
	}
	select {
	case s.intentWriters <- struct{}{}:
		defer func() { <-s.intentWriters }()
	default:
		result = SurgeWritersBusy
		Error(w, r, busy) // the surge queue writes as fast as it can: the original refusal stands
		return
	}
	p, _ := pw.PrincipalFromContext(r.Context())
	fingerprint := Fingerprint(r.Method, r.URL.Path, body)
	// Nothing is accepted that could not be paid by this principal: the
	// checks a payment meets (who may move money, whose account, a
	// step-up) are made now, with the request's credentials and MFA code,
	// and their answer is the answer (TestTheSurgeQueueAuthorizesWhenItAccepts).
	// They come after the slot, so that a refusal costs no store reads.
	// A step-up's code comes with the retry that answers the challenge,
	// as on the synchronous path (moneyRoute); until 2026-11-27 it was not
	// passed on, and a payment above the step-up threshold could never be
	// queued: every retry was refused mfa_required and sent a new code.
	// Its message code is bound to the key, as on the synchronous path, so
	// that a code sent there is good here for the same payment, and the
	// reverse.
	r = r.WithContext(auth.NewContextWithPaymentKey(r.Context(), key))
	if code := r.Header.Get(HeaderMFACode); code != "" {
		r = r.WithContext(auth.NewContextWithMFACode(r.Context(), code))
	}
	// A payment that needs a step-up looks at its key's history first, as
	// the synchronous path does (it claims the key before the Guard runs):
	// a retry of a step-up payment already made is its replay, not a new
	// challenge. Until 2026-11-28 it was refused mfa_required (its code,
	// single-use, was spent), fed the user's MFA back-off and sent a new
	// one-time code (TestASurgeRetryOfAPaidStepUpPaymentIsReplayed). The
	// look costs a claim and its release, for step-up payments alone.
	ikey := pw.IdempotencyKey{Principal: p.String(), Key: key}
	r = r.WithContext(auth.NewContextBeforeStepUp(r.Context(), func(ctx context.Context) error {
		return s.keyAnswered(ctx, ikey, fingerprint)
	}))
	if a, ok := s.ledger.(paymentAuthorizer); ok {
		if err := a.AuthorizePayment(r.Context(), req); err != nil {
			if replayed := (*pw.Replayed)(nil); errors.As(err, &replayed) {
				result = SurgeReplayed
				s.writeReplay(w, r, rt, replayed.Record)
				return
			}
			if found := (*intentFound)(nil); errors.As(err, &found) {
				result = SurgeFound
				s.sawPendingIntents()
				s.writeAccepted(w, found.in)
				return
			}
			if StatusCode(pw.ErrorCode(err)) >= 500 {
				result = SurgeCheckFailed // the store did not answer the checks: not the client's doing
			}
			Error(w, r, err)
			return
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: p.String(), IdempotencyKey: key,
		Fingerprint: fingerprint, Body: body, Status: pw.IntentPending,
		CreatedAt: now, UpdatedAt: now, Authorized: true, Credential: p.Session}
	// The write goes on if the client leaves (it is the client's payment;
	// a retry with its key finds it), but not past the request's deadline:
	// a client told nothing in time must hear busy, not wait.
	deadline := now.Add(IntentAcceptTimeout)
	if d, ok := r.Context().Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), deadline)
	defer cancel()
	existing, err := s.intents.CreateIntent(ctx, in)
	replayed := (*pw.Replayed)(nil)
	switch {
	case errors.As(err, &replayed):
		// The key was used by a finished request (paid at once, or an
		// intent already settled and forgotten): its answer is this one's,
		// as for a synchronous retry. Until 2026-11-27 the retry was
		// queued again, answered 202, and settled as the replay
		// (TestASurgeRetryOfAFinishedKeyIsAnsweredAtOnce).
		result = SurgeReplayed
		s.writeReplay(w, r, rt, replayed.Record)
		return
	case pw.ErrorCode(err) == pw.EIDEMREUSED:
		// The key was used by a finished request with other content.
		result = SurgeRejected
		Error(w, r, err)
		return
	case errors.Is(err, pw.ErrCommitUnknown):
		// The intent may be stored and will then be paid: not "busy",
		// which promises nothing moved. The client's retry with its key
		// finds the intent (202) or is taken afresh.
		result = SurgeCommitUnknown
		Error(w, r, err)
		return
	case err != nil:
		result = SurgeWriteFailed
		if pw.ErrorCode(err) == pw.EBUSY {
			result = SurgeFull
		}
		Error(w, r, busy) // the surge queue cannot take it either: the original refusal stands
		return
	}
	result = SurgeAccepted
	s.sawPendingIntents()
	if existing != nil {
		if existing.Fingerprint != in.Fingerprint {
			result = SurgeRejected
			Error(w, r, pw.KeyReusedError())
			return
		}
		result = SurgeFound
		in = existing
	}
	s.writeAccepted(w, in)
}

// writeAccepted answers 202 with in, the payment's intent, and wakes the
// settler.
func (s *Server) writeAccepted(w http.ResponseWriter, in *pw.Intent) {
	select {
	case s.wakeSettler <- struct{}{}:
	default:
	}
	w.Header().Set("Location", "/v1/intents/"+in.ID)
	w.Header().Set("Preference-Applied", "respond-async")
	writeJSON(w, http.StatusAccepted, in)
}

// keyAnswered says whether key already has an answer for a payment
// offered at a surge: *pw.Replayed with the finished request's record,
// idempotency_key_reused when that request had other content, *intentFound
// with the intent the key has (as CreateIntent would find it: a retry of a
// payment queued already), idempotency_key_reused when that intent is of
// other content, idempotency_key_in_use when the key has no intent and
// its request is still in flight, nil when the key is free, or the
// store's error.
//
// A key in flight was nil until 2026-11-29 (the intent was then queued,
// and settled as that request's answer): a retry sent while its first
// attempt still ran (its answer lost) met the step-up again and was
// refused mfa_required, with a one-time code sent for nothing, or spent
// its code on a payment already under way. It is now answered as the
// synchronous path answers it, 409, and its retry a moment later finds
// that request's answer (TestASurgeRetryWhileItsFirstAttemptRunsIsToldToWait).
//
// Until 2026-11-29 it looked at the ledger's records alone: a step-up
// payment queued with its code (202) and retried while it waited (its 202
// lost) found its key free, met the step-up again with its spent code, and
// was refused mfa_required, fed the user's MFA back-off and sent a new
// one-time code, while a retry of any other queued payment is answered 202
// with its intent (TestASurgeRetryOfAQueuedStepUpPaymentFindsItsIntent).
func (s *Server) keyAnswered(ctx context.Context, key pw.IdempotencyKey, fingerprint string) error {
	claim, replay, err := s.ledger.BeginIdempotent(ctx, key, fingerprint)
	inFlight := err
	switch {
	case pw.ErrorCode(err) == pw.EIDEMINUSE:
	case err != nil:
		return err
	case replay != nil:
		return &pw.Replayed{Record: replay}
	default:
		s.release(ctx, claim)
	}
	// No finished request holds the key: an intent it has is its answer
	// (PlanIntents: found), whatever state it is in.
	in, err := s.intents.IntentByKey(ctx, key.Principal, key.Key)
	switch {
	case pw.ErrorCode(err) == pw.ENOTFOUND:
		return inFlight // nil, or the key in use
	case err != nil:
		return err
	case in.Fingerprint != fingerprint:
		return pw.KeyReusedError()
	}
	return &intentFound{in: in}
}

// intentFound is keyAnswered's answer for a key that has an intent of the
// same content: acceptIntent answers 202 with it.
type intentFound struct{ in *pw.Intent }

func (e *intentFound) Error() string { return "the key's intent " + e.in.ID + " was found" }

// RunIntents settles pending intents until ctx ends: a bounded loop that
// wakes when an intent is accepted, or every IntentPollInterval.
func (s *Server) RunIntents(ctx context.Context) {
	if s.intents == nil {
		return
	}
	t := time.NewTicker(IntentPollInterval)
	defer t.Stop()
	// A process that stops settling (a drain, when a new binary takes
	// over) no longer knows how long the queue has waited: the settling
	// process reports that. Left as it was, the oldest wait here went on
	// growing while /metrics was still served, and an alert on it (the
	// max over instances) fired for a queue the other process was
	// draining.
	defer s.oldestPending.Store(0)
	// Nor does it settle at the rate it measured: until the review of
	// 2026-11-29 that rate went on being told, fading over
	// IntentRateWindow, with an expected wait built on it
	// (TestAProcessThatStopsSettlingTellsNoSettlingRate).
	defer s.rate.reset()
	fails := faillog.New(s.log, "settling intents")
	for {
		_, busy, err := s.settlePass(ctx)
		if ctx.Err() == nil {
			fails.Observe(time.Now(), err)
		}
		// A pass that stopped for capacity waits for the next poll, not
		// for the next intent accepted: in a surge intents are accepted by
		// the thousand a second, and each pass reads a page of them only to
		// be refused again (21,000–39,000 refusals in a 30 s surge).
		wake := s.wakeSettler
		if busy {
			wake = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// SettleIntents makes one pass over the pending intents, oldest first,
// and returns how many it settled. Intents from one account settle one
// after another, in the order they were accepted; those of different
// accounts at once. It stops at the first intent that cannot be settled
// now (capacity, or a read-only maintenance window), so that later ones
// do not overtake it by much.
func (s *Server) SettleIntents(ctx context.Context) (int, error) {
	settled, _, err := s.settlePass(ctx)
	return settled, err
}

// settlePass is SettleIntents, and says whether the pass stopped at an
// intent that could not be settled now.
func (s *Server) settlePass(ctx context.Context) (settled int, busy bool, err error) {
	// A read-only window holds the settler, and so does the grace after
	// it, counted from the first pass that finds it over (a window ended
	// early, by its deletion, is over then too).
	if s.readOnly() {
		s.heldByWindow.Store(true)
	} else if s.heldByWindow.Swap(false) {
		s.settleFrom.Store(s.now().Add(IntentResumeGrace).UnixNano())
	}
	if _, held := s.settlingResumesAt(); held {
		s.rate.reset()        // nothing settles: no rate holds for after the window
		s.sawPendingIntents() // unread, they may be there
		if oldest, err := s.intents.PendingIntents(ctx, "", 1); err == nil {
			s.notePending(oldest)
		}
		return 0, true, nil
	}
	pending, err := s.intents.PendingIntents(ctx, "", IntentBatchMax)
	if err != nil {
		return 0, false, err
	}
	s.notePending(pending)
	s.rate.pass(s.now(), len(pending) > 0)
	if len(pending) > 0 {
		s.sawPendingIntents()
	}
	var stop atomic.Bool // capacity ran out: the pass ends
	var done atomic.Int64
	// No more settle at once than the store has room for: a settlement
	// refused for capacity stops the pass, and on a server holding few
	// requests at once sixteen workers were refused at once, pass after
	// pass (a one-slot server settled about 11 intents a second after a
	// surge). At least one goes, to find out.
	workers := IntentWorkersMax
	if s.admission != nil {
		workers = min(IntentWorkersMax, max(1, s.admission.Room(admission.ClassTopup)))
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, run := range bySource(pending) {
		if stop.Load() || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, in := range run {
				if stop.Load() {
					return
				}
				switch err := s.settle(ctx, in); {
				case err == nil:
					done.Add(1)
				case errors.Is(err, errAccountWaits):
					// Only this account's later intents wait (for the next
					// pass): one key held elsewhere, up to a lease, or one
					// payment the ledger failed, is no reason to hold up
					// every other account's.
					return
				default:
					stop.Store(true) // capacity: the pass ends, and the account's later intents wait
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), stop.Load(), nil
}

// notePending records when the oldest of pending (in acceptance order)
// was accepted, for peakwallet_surge_queue_oldest_pending_seconds and the
// ops summary: how long the surge queue keeps a payment waiting.
func (s *Server) notePending(pending []*pw.Intent) {
	var oldest int64
	if len(pending) > 0 {
		oldest = pending[0].CreatedAt.UnixNano()
	}
	s.oldestPending.Store(oldest)
}

// oldestPendingAge is how long the oldest pending intent has waited, as
// the settler last found it; 0 when none was pending.
func (s *Server) oldestPendingAge() time.Duration {
	oldest := s.oldestPending.Load()
	if oldest == 0 {
		return 0
	}
	return max(0, s.now().Sub(time.Unix(0, oldest)))
}

// bySource splits intents (in acceptance order) into runs by the account
// they pay from, each run in acceptance order, the runs in the order of
// their first intent. Only one account's own intents compete for its
// money: settled at once, as they were until 2026-11-27, a later payment
// could take the balance an earlier one needed (of forty intents of 10
// from an account holding 100, the newest was paid and the oldest refused
// insufficient_funds). An intent whose body cannot be read is a run of its
// own (settle fails it).
func bySource(intents []*pw.Intent) [][]*pw.Intent {
	var runs [][]*pw.Intent
	at := make(map[string]int, len(intents))
	for _, in := range intents {
		var req struct {
			FromAccount string `json:"from_account"`
		}
		if err := json.Unmarshal(in.Body, &req); err != nil || req.FromAccount == "" {
			runs = append(runs, []*pw.Intent{in})
			continue
		}
		i, ok := at[req.FromAccount]
		if !ok {
			i = len(runs)
			at[req.FromAccount] = i
			runs = append(runs, nil)
		}
		runs[i] = append(runs[i], in)
	}
	return runs
}

// IntentsSeenWindow is how long after intents were last known pending (one
// accepted here, or found by a settling pass, which runs at least every
// IntentPollInterval while they are) a payment run now still asks whether
// its key has one (pendingIntentRefuses).
const IntentsSeenWindow = 4 * IntentPollInterval

func (s *Server) sawPendingIntents() { s.intentsSeen.Store(s.now().UnixNano()) }

// intentsMayBePending says whether intents may be pending, in this process
// or another sharing the store: outside surges, payments pay no look-up.
func (s *Server) intentsMayBePending() bool {
	seen := s.intentsSeen.Load()
	return seen != 0 && s.now().UnixNano()-seen < int64(IntentsSeenWindow)
}

// pendingIntentRefuses is the check a payment run now makes, after it
// claimed its key, against an intent pending under the same key, which the
// ledger does not know of until it settles: another request under it is
// idempotency_key_reused, as it would be had the intent been paid first.
// The same request goes on: whichever runs first pays, and the other
// replays its answer. Until 2026-11-27 nothing looked, the payment run now
// was paid, and the intent its client had been told was accepted failed
// later. The look is made only while intents may be pending; one accepted
// by another process less than a settling pass ago is not seen.
func (s *Server) pendingIntentRefuses(ctx context.Context, key pw.IdempotencyKey, fingerprint string) error {
	if s.intents == nil || !s.intentsMayBePending() {
		return nil
	}
	in, err := s.intents.IntentByKey(ctx, key.Principal, key.Key)
	switch {
	case pw.ErrorCode(err) == pw.ENOTFOUND:
		return nil
	case err != nil:
		return err
	case in.Status == pw.IntentPending && in.Fingerprint != fingerprint:
		return pw.KeyReusedError()
	}
	return nil
}

// readOnly says whether a read-only maintenance window is on: then the
// settler moves no money either, as no money-moving route does (admit).
// Until 2026-11-27 only the routes looked, and intents accepted before a
// window were paid during it.
func (s *Server) readOnly() bool {
	return s.maintenance != nil && s.maintenance.ReadOnly() != nil
}

// IntentResumeGrace is how long after a read-only window the settler
// still waits. A payer who cancelled a queued payment during the window
// was refused (503 maintenance) and told to come back at its end
// (Retry-After); the settler, held by the same window, would otherwise
// resume at that same moment and might pay the payment first. The web app
// and the Go client come back within a second or so of Retry-After.
const IntentResumeGrace = 2 * time.Second

// settlingResumesAt says whether the settler is held now, by a read-only
// window (it resumes IntentResumeGrace after the window's planned end) or
// by the grace after one (after its end, and after the pass of this
// process's settler that found it over), and when it resumes: the later
// of the two, as the settler waits for both.
func (s *Server) settlingResumesAt() (time.Time, bool) {
	now := s.now()
	if s.maintenance != nil {
		if end, ok := s.maintenance.ReadOnlyUntil(); ok {
			return end.Add(IntentResumeGrace), true
		}
		// A window that ended moments ago holds the settler through the
		// grace after its end, in a process that never saw it in force
		// too (one started as it ended, in a handover). The grace is kept
		// in settleFrom, so that a step back of the clock counts it again,
		// as below, rather than ends it (the window's end is then ahead).
		if end, ok := s.maintenance.ReadOnlyEndedAt(); ok && now.Before(end.Add(IntentResumeGrace)) {
			until := end.Add(IntentResumeGrace).UnixNano()
			for from := s.settleFrom.Load(); from < until && !s.settleFrom.CompareAndSwap(from, until); {
				from = s.settleFrom.Load()
			}
		}
	}
	from := s.settleFrom.Load()
	if from == 0 {
		return time.Time{}, false
	}
	if from-now.UnixNano() > int64(IntentResumeGrace) {
		// The clock stepped back since the grace was set (an NTP
		// correction): the grace is counted from now, not from a time
		// that may be hours ahead, which would hold the queue as long.
		s.settleFrom.CompareAndSwap(from, now.UnixNano()+int64(IntentResumeGrace))
		from = now.UnixNano() + int64(IntentResumeGrace)
	}
	if until := time.Unix(0, from); now.Before(until) {
		return until, true
	}
	// The grace is over: forgotten, so that a later step back of the
	// clock does not bring it back (it would read as a grace set ahead).
	s.settleFrom.CompareAndSwap(from, 0)
	return time.Time{}, false
}

// settle settles one intent through the ledger under the request's own
// idempotency key, so that it posts at most once whoever else (a client
// retrying synchronously, another process's settler) runs the same key.
func (s *Server) settle(ctx context.Context, in *pw.Intent) error {
	if _, held := s.settlingResumesAt(); held {
		return errNotNow // a window began during the pass (or its grace holds)
	}
	ctx, cancel := context.WithTimeout(ctx, IntentSettleTimeout)
	defer cancel()
	if s.admission != nil {
		t, err := s.admission.Acquire(ctx, admission.ClassTopup, in.Principal)
		if err != nil {
			return errNotNow
		}
		if _, held := s.settlingResumesAt(); held {
			// A window began while it waited for the slot (up to
			// IntentSettleTimeout): until the review of 2026-11-29 the
			// intent was paid in it
			// (TestTheSettlerPaysNothingWhenItsSlotComesInAReadOnlyWindow).
			// Or one began and ended meanwhile (a short one): the grace
			// after it holds the settler as it holds a pass; until
			// 2026-11-29 only a window in force was looked at here, and the
			// intent was paid at once
			// (TestTheSettlerWaitsTheGraceAfterAWindowThatEndedWhileItWaitedForItsSlot).
			t.Abandon()
			return errNotNow
		}
		var outcome error
		defer func() { t.Done(outcome) }()
		err = s.settleClaimed(ctx, in)
		outcome = err
		return err
	}
	return s.settleClaimed(ctx, in)
}

func (s *Server) settleClaimed(ctx context.Context, in *pw.Intent) error {
	// The settlement acts for the intent's principal, which was authorized
	// to make this payment when the intent was accepted (acceptIntent).
	// Until 2026-11-26 it acted for no one, and behind the Guard (serve)
	// every intent failed "unauthorized": the surge queue of the real
	// server paid nothing (TestSurgeQueuePaysBehindTheGuard).
	if !in.Authorized {
		// Accepted by a server that did not check it (before 2026-11-26):
		// failed, never paid unchecked; the client may send it again.
		return s.finishIntent(ctx, in, nil, pw.Errorf(pw.EFORBIDDEN,
			"this payment was accepted before it could be authorized; send it again"))
	}
	p, err := pw.ParsePrincipal(in.Principal)
	if err != nil {
		return s.finishIntent(ctx, in, nil, pw.Errorf(pw.EINVALID, "the intent's principal cannot be read"))
	}
	p.Session = in.Credential
	ctx = auth.NewContextAuthorizedEarlier(pw.NewContextWithPrincipal(ctx, p))
	key := pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}
	claim, replay, err := s.ledger.BeginIdempotent(ctx, key, in.Fingerprint)
	switch {
	case errors.Is(err, pw.ErrKeyInFlight):
		// Another body holds the key and has not finished: it may yet be
		// refused, and free the key for this intent. Until 2026-11-28 the
		// intent was failed here, and the key left free for the client to
		// pay again (TestTheSettlerWaitsForAnotherBodyInFlightUnderTheKey).
		return errKeyInUse
	case pw.ErrorCode(err) == pw.EIDEMREUSED:
		return s.finishIntent(ctx, in, nil, err)
	case pw.ErrorCode(err) == pw.EIDEMINUSE:
		return errKeyInUse
	case err != nil:
		return errNotNow // the store is busy
	case replay != nil:
		return s.finishFromReplay(ctx, in, replay)
	}
	// The session or key that accepted the intent must not have been
	// ended since: a payment an intruder queued is not paid once the user
	// changed their password, nor one a leaked merchant key queued once
	// the key is revoked. Until 2026-11-27 the intent did not record its
	// credential, and both were paid
	// (TestAnIntentIsNotPaidOnceItsCredentialIsEnded). The check comes
	// after the claim, so that a key already paid (by the client's retry
	// under a live credential) settles as its replay, as it was paid.
	if c, ok := s.ledger.(credentialChecker); ok {
		if err := c.CredentialLive(ctx, p); err != nil {
			s.release(ctx, claim)
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				return errNotNow // the store did not answer: try again later
			}
			return s.finishIntent(ctx, in, nil, err)
		}
	}
	var req pw.TransferCreate
	if err := json.Unmarshal(in.Body, &req); err != nil {
		s.release(ctx, claim)
		return s.finishIntent(ctx, in, nil, pw.Errorf(pw.EINVALID, "the intent's request cannot be read"))
	}
	memo := &renderMemo{success: http.StatusCreated}
	tr, err := s.ledger.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claim, Render: memo.render}), req)
	if err != nil {
		if releasable(err) {
			s.release(ctx, claim)
		}
		if replayed := (*pw.Replayed)(nil); errors.As(err, &replayed) {
			return s.finishFromReplay(ctx, in, replayed.Record)
		}
		switch pw.ErrorCode(err) {
		case pw.EBUSY, pw.EUNAVAILABLE, pw.EMAINTENANCE:
			return errNotNow // nothing known to be final: try again later
		case pw.EINTERNAL:
			return s.settleInternalFailure(ctx, in, err)
		case pw.EIDEMINUSE:
			return errKeyInUse // another request took the key over meanwhile
		case pw.EOUTCOMEUNKNOWN:
			// Not final either: the payment may have committed, or
			// another request with the key (a client's synchronous retry
			// that took over a lost lease) may yet pay it. The next pass
			// finds the key's remembered answer or runs it afresh. Until
			// 2026-11-27 the intent was failed with these codes, and told
			// its client the payment had failed while the money could
			// move (TestAnIntentWhoseCommitIsUnknownIsNotFailed,
			// TestTheSettlerFailsAnIntentOnlyOnAFinalAnswer).
			return errNotNow
		}
		return s.finishIntent(ctx, in, nil, err)
	}
	return s.finishIntent(ctx, in, tr, nil)
}

// finishFromReplay settles an intent whose key already has an answer.
func (s *Server) finishFromReplay(ctx context.Context, in *pw.Intent, rec *pw.IdempotencyRecord) error {
	if rec.Status == http.StatusCreated {
		var tr pw.Transfer
		if err := json.Unmarshal(rec.Body, &tr); err == nil && tr.ID != "" {
			return s.finishIntent(ctx, in, &tr, nil)
		}
	}
	var p Problem
	if err := json.Unmarshal(rec.Body, &p); err != nil || p.Code == "" {
		return s.finishIntent(ctx, in, nil, pw.Errorf(pw.EINTERNAL, "the remembered answer cannot be read"))
	}
	return s.finishIntent(ctx, in, nil, &pw.Error{Code: p.Code, Message: p.Detail})
}

// settleInternalFailure answers the ledger's internal error, cause, to
// intent in's payment: the intent stays pending (errLedgerFailed) until
// this is the IntentInternalFailuresMax-th such failure, and is then
// failed internal, nothing paid. Each is logged: it is a defect.
func (s *Server) settleInternalFailure(ctx context.Context, in *pw.Intent, cause error) error {
	n := s.ledgerFailures.add(in.ID)
	s.log.Error("the ledger failed a queued payment with an internal error", "intent", in.ID, "failures", n, "err", cause)
	if n < IntentInternalFailuresMax {
		return errLedgerFailed
	}
	return s.finishIntent(ctx, in, nil, pw.Errorf(pw.EINTERNAL,
		"this payment could not be made: the ledger failed it %d times with an internal error; nothing was paid: send it again with a new Idempotency-Key", n))
}

// failureCounts counts, by intent ID, the internal failures of intents
// still pending (settleInternalFailure); finishIntent forgets an intent's.
// Bounded: past intentFailureCountsMax IDs (intents another process
// finished, never forgotten here) it starts again.
type failureCounts struct {
	mu sync.Mutex
	n  map[string]int
}

const intentFailureCountsMax = 10_000

func (f *failureCounts) add(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil || len(f.n) >= intentFailureCountsMax {
		f.n = map[string]int{}
	}
	f.n[id]++
	return f.n[id]
}

func (f *failureCounts) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, id)
}

func (s *Server) finishIntent(ctx context.Context, in *pw.Intent, tr *pw.Transfer, cause error) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	var err error
	if tr != nil {
		err = s.intents.FinishIntent(ctx, in.ID, pw.IntentPosted, tr.ID, nil, now)
	} else {
		p := ProblemFor(cause)
		err = s.intents.FinishIntent(ctx, in.ID, pw.IntentFailed, "", &pw.IntentError{Code: p.Code, Message: p.Detail}, now)
	}
	if err != nil {
		return errNotNow // the next pass finishes it from the remembered answer
	}
	s.rate.settled(s.now())
	s.settled.settled(in.ID)
	s.ledgerFailures.forget(in.ID)
	return nil
}

// notifier wakes the event streams of one intent when it settles. Until
// 2026-11-27 every settlement woke every open stream, and each read its
// own intent again: after a surge, thousands of streams and hundreds of
// settlements a second made that many reads squared.
type notifier struct {
	mu      sync.Mutex
	waiting map[string]*waiters
}

type waiters struct {
	ch chan struct{} // closed when the intent settles
	n  int           // streams waiting on ch
}

func newNotifier() *notifier { return &notifier{waiting: map[string]*waiters{}} }

// wait returns a channel closed when intent id settles in this process,
// and a func to call when no longer waiting.
func (n *notifier) wait(id string) (<-chan struct{}, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.waiting[id]
	if w == nil {
		w = &waiters{ch: make(chan struct{})}
		n.waiting[id] = w
	}
	w.n++
	return w.ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if w.n--; w.n == 0 && n.waiting[id] == w {
			delete(n.waiting, id)
		}
	}
}

// settled wakes intent id's streams.
func (n *notifier) settled(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w := n.waiting[id]; w != nil {
		close(w.ch)
		delete(n.waiting, id)
	}
}
