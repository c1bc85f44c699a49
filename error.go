package peakwallet

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are stable: clients match on them, so a code is never
// renamed. The HTTP status of each is chosen in exactly one place (http/error.go).
const (
	EINVALID          = "invalid_request"
	EUNAUTHORIZED     = "unauthorized"
	EFORBIDDEN        = "forbidden"
	ENOTFOUND         = "not_found"
	EMETHODNOTALLOWED = "method_not_allowed"
	EACCOUNTNOTFOUND  = "account_not_found"
	// EUSERNOTFOUND: no user has the handle an operator looked up.
	EUSERNOTFOUND     = "user_not_found"
	ECURRENCYMISMATCH = "currency_mismatch"
	EINSUFFICIENT     = "insufficient_funds"
	ELIMIT            = "limit_exceeded"
	ESAMEACCOUNT      = "accounts_must_be_different"
	EIDEMREUSED       = "idempotency_key_reused"
	EIDEMINUSE        = "idempotency_key_in_use"
	EIDEMREQUIRED     = "idempotency_key_required"
	EHOLDNOTPENDING   = "hold_not_pending"
	EHOLDEXPIRED      = "hold_expired"
	EREFUNDEXCEEDS    = "refund_exceeds_original"
	ENOTREFUNDABLE    = "not_refundable"
	EBATCHFAILED      = "batch_failed"
	EMFAREQUIRED      = "mfa_required"
	// EMFALOGIN is mfa_required at login, where it is a 401 (no session
	// yet) rather than a step-up's 403; it is shown as "mfa_required".
	EMFALOGIN     = "mfa_login_required"
	EHANDLETAKEN  = "handle_taken"
	EWEAKPASSWORD = "weak_password"
	ETOOLARGE     = "request_too_large"
	ERATELIMITED  = "rate_limited"
	EBUSY         = "busy"
	EMAINTENANCE  = "maintenance"
	EUNAVAILABLE  = "unavailable"
	// EOUTCOMEUNKNOWN: a commit was sent and its answer never came, and the
	// store could not learn the outcome before the request's deadline. The
	// money may have moved; the request's Idempotency-Key settles it. Its
	// errors wrap ErrCommitUnknown.
	EOUTCOMEUNKNOWN = "outcome_unknown"
	// EINTENTNOTPENDING: an intent (a payment queued at a surge) cannot be
	// cancelled: it is no longer pending (it was paid, or it failed).
	EINTENTNOTPENDING = "intent_not_pending"
	// EINTENTCANCELLED is a cancelled intent's error, and the answer its
	// Idempotency-Key gives from then on: nothing was paid, and nothing
	// will be under that key.
	EINTENTCANCELLED = "intent_cancelled"
	EINTERNAL        = "internal"
)

// ErrCommitUnknown is wrapped by a store's error (code EOUTCOMEUNKNOWN) when
// a commit was sent but its outcome could not be learned (the connection
// broke during COMMIT, and the database could not be asked in time).
// The transaction may have committed: such a request must not be retried
// blindly nor reported as "nothing moved"; its idempotency key settles it.
var ErrCommitUnknown = errors.New("the commit's outcome is unknown")

// ErrWritesFailing is wrapped by a store's readiness error when the store
// can be read but its writes fail or are stalled (a full disk, an I/O
// error, a hung fsync, a read-only PostgreSQL): status pages still read it,
// and say "cannot be written" rather than "cannot be reached". A write
// refused for the same reason (a full disk, a read-only server) wraps it
// too, and admission's breaker does not count it as the store being down.
var ErrWritesFailing = errors.New("the store can be read but not written")

// Error is peakwallet's one error type. Expected failures (insufficient
// funds, an unknown account) are values with a Code; anything else is
// wrapped as EINTERNAL at the edge and logged.
type Error struct {
	Code    string // one of the E… constants
	Message string // human-readable, safe to show to the client
	Field   string // the request member at fault, when there is one ("amount")
	Op      string // the operation that failed, for logs ("ledger.CreateTransfer")
	Err     error  // the cause, for logs; never shown to clients
	// Retry is an honest estimate of when the request may succeed, for
	// busy, maintenance and rate_limited; the HTTP layer sends it as
	// Retry-After. Zero means "no estimate" (a default is used).
	Retry time.Duration
}

func (e *Error) Error() string {
	s := e.Code
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// RetryAfter returns e.Retry; http/error.go looks for this method.
func (e *Error) RetryAfter() time.Duration { return e.Retry }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error about one member of a request.
func FieldErrorf(field, code, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL when err carries none, or ""
// for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}
