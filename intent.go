package peakwallet

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// PrefixIntent prefixes transfer intent IDs.
const PrefixIntent = "int"

// Intent states.
const (
	IntentPending = "pending" // accepted (202), not yet settled
	IntentPosted  = "posted"  // settled: the transfer is posted
	IntentFailed  = "failed"  // settled: the transfer was refused (Error says why)
)

// IntentsPendingMax bounds the accepted, unsettled intents: past it, the
// surge queue is full and a payment is refused busy like any other.
const IntentsPendingMax = 100_000

// Intents are written in group commits (both stores): IntentBatchWritesMax
// bounds one batch, IntentBatchTimeout its transaction. A caller whose own
// deadline passes once its intent is in a batch still waits for the batch:
// once it may commit, only its real outcome may be told.
const (
	IntentBatchWritesMax = 256
	IntentBatchTimeout   = 5 * time.Second
)

// PlanIntents applies the surge queue's rules to a batch, inside a
// store's transaction that already counted its pending intents and read
// the intents the batch's keys already have (stored) and the requests
// they already have in the ledger (recorded: idempotency records, finished
// or in flight), so that the store reads the keys in one query each and
// inserts in one statement:
//   - an intent whose key its principal has used for an intent already
//     gets that intent (found; a key sent twice in the batch gets the
//     intent of its first), unless that intent failed and the key has a
//     finished request: that request's answer is the key's then (a failed
//     intent may have released its key, which its owner then paid), as
//     below;
//   - one whose key a finished request has used is answered as a request
//     with that key is (refused): with that request's answer (*Replayed)
//     when the content is the same, idempotency_key_reused when not;
//   - one whose key a request still in flight holds with other content is
//     idempotency_key_reused, as a synchronous request is (with the same
//     content it is queued, and settles as that request's answer);
//   - one past IntentsPendingMax is refused busy;
//   - the rest are returned, in batch order, to be inserted.
func PlanIntents(batch []*Intent, pending int, stored []*Intent, recorded []*IdempotencyRecord,
	found func(i int, existing *Intent), refused func(i int, err error)) []*Intent {
	type principalKey struct{ principal, key string }
	known := make(map[principalKey]*Intent, len(batch)+len(stored))
	for _, in := range stored {
		known[principalKey{in.Principal, in.IdempotencyKey}] = in
	}
	// One record a key: a finished request outranks one in flight (on
	// SQLite a key may have both, the table's and a lease in memory).
	records := make(map[principalKey]*IdempotencyRecord, len(recorded))
	for _, r := range recorded {
		k := principalKey{r.Principal, r.Key}
		if records[k] == nil || r.State == IdempotencyDone {
			records[k] = r
		}
	}
	var fresh []*Intent
	for i, in := range batch {
		k := principalKey{in.Principal, in.IdempotencyKey}
		r := records[k]
		done := r != nil && r.State == IdempotencyDone
		if ex := known[k]; ex != nil && (ex.Status != IntentFailed || !done) {
			found(i, ex)
			continue
		}
		switch {
		case r != nil && r.Fingerprint != in.Fingerprint:
			refused(i, KeyReusedError())
			continue
		case done:
			refused(i, &Replayed{Record: r})
			continue
		}
		if pending >= IntentsPendingMax {
			refused(i, Errorf(EBUSY, "the surge queue is full"))
			continue
		}
		known[k] = in
		fresh = append(fresh, in)
		pending++
	}
	return fresh
}

// Intent is a payment accepted at a surge (202 Accepted) and settled
// later, in order, through the ledger with the request's own idempotency
// key: however often it is retried or settled, it posts at most once.
type Intent struct {
	ID             string `json:"id"`
	Principal      string `json:"-"` // Principal.String() of who asked
	IdempotencyKey string `json:"idempotency_key"`
	Fingerprint    string `json:"-"` // of the original POST /v1/transfers
	Body           []byte `json:"-"` // the request's exact bytes
	// Authorized says the server checked, when it accepted the intent,
	// that its principal may make the payment (auth.Guard's checks, with
	// the request's credentials and MFA code); only then is it settled for
	// that principal. Intents stored before the check existed are not.
	Authorized bool `json:"-"`
	// Credential is the session, merchant key or operator key that
	// accepted the intent (Principal.Session): the intent is paid only
	// while it has not been ended (auth.Service.CredentialLive). Empty for
	// intents accepted by a server older than the column (2026-11-27),
	// which settle as they did then.
	Credential string `json:"-"`
	// Request is the payment the intent makes, as its client sent it (Body,
	// decoded when the intent is written out): a client listing what waits
	// sees what each pays, from what to whom.
	Request *TransferCreate `json:"request,omitempty"`
	// Place is where a pending intent stands in the surge queue, as the
	// server found it when it wrote the intent out (GET, the list, the
	// event stream); never stored, and absent once the intent is settled,
	// or when the server could not count (a store error: the intent is
	// still worth reading without it).
	Place      *IntentPlace `json:"queue_position,omitempty"`
	Status     string       `json:"status"`
	TransferID string       `json:"transfer_id,omitempty"`
	Error      *IntentError `json:"error,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

// MarshalJSON writes the intent with its Request decoded from Body.
func (in Intent) MarshalJSON() ([]byte, error) {
	type plain Intent
	if in.Request == nil && len(in.Body) > 0 {
		var req TransferCreate
		if json.Unmarshal(in.Body, &req) == nil {
			in.Request = &req
		}
	}
	return json.Marshal(plain(in))
}

// IntentsAheadMax bounds how many of the pending intents before one are
// counted: a server reads the IDs of the first IntentsAheadMax pending
// intents (IntentStore.PendingIntentIDs) at most once a second, and places
// every pending intent it writes out in that list. Past it a payer is told
// "at least" this many (docs/overload.md has the measured cost).
const IntentsAheadMax = 1_000

// IntentsAhead is how many of queue (the IDs of the first pending intents,
// in ID order, as PendingIntentIDs read them with limit max) are before
// id, and whether that is only a lower bound: queue was cut at max, and
// id is past its end.
func IntentsAhead(queue []string, id string, max int) (n int, atLeast bool) {
	n, _ = slices.BinarySearch(queue, id)
	return n, n >= max
}

// IntentPlace is a pending intent's place in the surge queue: what a
// payer whose payment was queued at a surge wants to know, how many are
// ahead and about how long it will be.
type IntentPlace struct {
	// Ahead is how many pending intents, of every payer, were accepted
	// before this one (the settler takes them in that order); at most
	// IntentsAheadMax, with AheadAtLeast set when the count stopped there.
	Ahead        int  `json:"ahead"`
	AheadAtLeast bool `json:"ahead_at_least"`
	// SettledPerSecond is the rate at which this server's settler settled
	// intents over the last IntentRateWindow (http), while some were
	// pending; absent when it knows none (nothing settled recently, or a
	// read-only window holds the settler).
	SettledPerSecond *float64 `json:"settled_per_second,omitempty"`
	// ExpectedWaitSeconds is (Ahead+1)/SettledPerSecond rounded up: the
	// seconds until this intent is settled, if the queue keeps draining at
	// that rate. A lower bound when AheadAtLeast; absent with the rate.
	ExpectedWaitSeconds *int64 `json:"expected_wait_seconds,omitempty"`
	// SettlingResumesAt is, during a read-only maintenance window (when
	// the settler moves nothing), the end of that window: nothing is
	// settled before it.
	SettlingResumesAt *time.Time `json:"settling_resumes_at,omitempty"`
}

// Cancelled says whether the intent was cancelled (failed with
// intent_cancelled), by its payer or by an operator on the payer's behalf
// (Error.CancelledBy says which).
func (in *Intent) Cancelled() bool {
	return in.Status == IntentFailed && in.Error != nil && in.Error.Code == EINTENTCANCELLED
}

// IntentError is why an intent failed.
type IntentError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// CancelledBy says who cancelled an intent_cancelled intent:
	// CancelledByPayer or CancelledByOperator (support or risk staff
	// stopping it on the payer's behalf), so that the payer's app can say
	// "stopped by support" rather than "you cancelled". Empty for other
	// failures, and for intents cancelled before 2026-11-28's column
	// (then only payers could cancel).
	CancelledBy string `json:"cancelled_by,omitempty"`
}

// Who cancelled an intent (IntentError.CancelledBy).
const (
	CancelledByPayer    = "payer"
	CancelledByOperator = "operator"
)

// IntentCancelReasonMax bounds the reason given with a cancellation, in
// bytes: it is kept in the audit log, one line a support ticket would
// hold, not a document.
const IntentCancelReasonMax = 500

// IntentCancel is the body of POST /v1/intents/{id}/cancel. The payer may
// send none. An operator cancelling someone else's payment must say why:
// the reason is kept in the audit log with the cancellation, and is not
// shown to the payer (staff notes such as "account takeover, ticket 4711"
// are not the payer's to read).
type IntentCancel struct {
	Reason string `json:"reason,omitempty"`
}

// Validate checks the reason's length, that there is one (not blank) when
// required, and that it is one line of text (ValidLine).
func (c *IntentCancel) Validate(required bool) error {
	switch {
	case len(c.Reason) > IntentCancelReasonMax:
		return FieldErrorf("reason", EINVALID, "reason is longer than %d bytes", IntentCancelReasonMax)
	case required && strings.TrimSpace(c.Reason) == "":
		return FieldErrorf("reason", EINVALID, "reason is required: say why this payment is stopped on its payer's behalf (it is kept in the audit log)")
	case !ValidLine(c.Reason): // a NUL would also fail PostgreSQL's write of the audit record: a 500 for a client's mistake
		return FieldErrorf("reason", EINVALID, "reason must be one line of UTF-8 text, without control characters (line breaks, tabs, NUL), line or paragraph separators (U+2028, U+2029) or bidirectional controls")
	}
	return nil
}

// IntentStore keeps intents durably. Both stores implement it;
// storetest.RunIntents is its contract.
type IntentStore interface {
	// CreateIntent stores in (pending) unless in.Principal already has an
	// intent with in.IdempotencyKey: then it stores nothing and returns
	// that one (unless that one failed and the key has a finished request,
	// which answers as below). A key a finished request has used stores
	// nothing either:
	// the error is *Replayed with that request's record when the content
	// (fingerprint) is the same, idempotency_key_reused when not; a key
	// held by a request in flight with other content is
	// idempotency_key_reused too. It never
	// holds more than IntentsPendingMax pending: past that it returns busy.
	CreateIntent(ctx context.Context, in *Intent) (existing *Intent, err error)
	// Intent reads one: not_found.
	Intent(ctx context.Context, id string) (*Intent, error)
	// IntentByKey reads principal's intent with idempotency key: not_found.
	IntentByKey(ctx context.Context, principal, key string) (*Intent, error)
	// PendingIntents lists pending intents with ID > after, in ID
	// (acceptance) order.
	PendingIntents(ctx context.Context, after string, limit int) ([]*Intent, error)
	// Intents lists every intent, whatever its status, with ID > after,
	// in ID order (for Verify, which checks settled intents too).
	Intents(ctx context.Context, after string, limit int) ([]*Intent, error)
	// PendingIntentsOf is PendingIntents of one principal's intents (what
	// GET /v1/intents lists: one's payments waiting in the surge queue).
	PendingIntentsOf(ctx context.Context, principal, after string, limit int) ([]*Intent, error)
	// PendingIntentIDs returns the IDs of the first limit pending intents,
	// in ID order (the settler's): the queue a pending intent's place is
	// counted in (IntentsAhead). One read of the pending intents' index,
	// bounded by limit.
	PendingIntentIDs(ctx context.Context, limit int) ([]string, error)
	// FinishIntent records a pending intent's outcome (status posted with
	// transferID, or failed with e). An intent already finished is left
	// as it is: the first outcome stands.
	FinishIntent(ctx context.Context, id, status, transferID string, e *IntentError, at time.Time) error
	// CancelIntent cancels pending intent id for its owner, who holds
	// claim, the in-flight claim of the intent's idempotency key (its
	// principal and key; a Ledger.BeginIdempotent with the intent's
	// fingerprint). In one transaction it fails the intent with e and marks
	// the claim done with the answer in claim.Status and claim.Body, so that
	// no request under the key, this process's or another's, can pay it
	// afterwards: each finds the key finished (the batch that would pay it
	// looks at the key under the same lock) and replays that answer.
	// It changes nothing when the intent is not pending (it returns the
	// intent as it is), nor when a request under the key has finished
	// already: done is that request's record, whose answer is the
	// intent's outcome (the payment was made) when its fingerprint is the
	// intent's; with another, the key was used for another payment (during
	// a handover, by the other process), which the caller must not take
	// for the intent's (idempotency_key_reused). A claim whose lease was
	// lost is idempotency_key_in_use; an unknown id is not_found. The
	// caller releases its claim afterwards, as after any request.
	//
	// rec, when not nil, is written by its writer inside the same
	// transaction, after the intent and the key, and only when the
	// cancellation takes effect (the audit log's record of an operator's
	// cancellation, ADR 0038): the cancellation and its record commit
	// together or not at all, and a cancellation that changed nothing
	// leaves no record. The writer's error fails the cancellation.
	CancelIntent(ctx context.Context, id string, claim *IdempotencyRecord, e *IntentError, at time.Time, rec *CommitRecord) (in *Intent, done *IdempotencyRecord, err error)
}
