package http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Client retry limits: every call is bounded in attempts and in time.
const (
	// ClientAttemptsMax bounds the attempts of one call.
	ClientAttemptsMax = 8
	// ClientBackoffFirst and ClientBackoffMax bound the exponential
	// backoff; each wait is drawn uniformly from [0, backoff) ("full
	// jitter"), so that refused clients do not come back in lock step.
	ClientBackoffFirst = 50 * time.Millisecond
	ClientBackoffMax   = 5 * time.Second
	// ClientCallTimeout is a call's deadline when its context has none.
	ClientCallTimeout = 30 * time.Second
)

// RetryPolicy says how a Client retries. A call is retried only when that
// is safe: reads (and DELETEs, idempotent by RFC 9110) always; money-moving
// calls because they carry an Idempotency-Key, the same one on every
// attempt, so that the server applies them at most once. A POST without a
// key (ScheduleMaintenance, CreateOperator) is sent again only after an
// error that proves the server did not act on it (resendable).
//
// A backoff or timeout field left zero (or negative) takes
// DefaultRetryPolicy's: a policy that sets only its attempts still backs
// off between them, within a deadline.
type RetryPolicy struct {
	Attempts     int           // 1 disables retries; 0: ClientAttemptsMax
	BackoffFirst time.Duration // first backoff ceiling; 0: ClientBackoffFirst
	BackoffMax   time.Duration // 0: ClientBackoffMax, and never below BackoffFirst
	CallTimeout  time.Duration // deadline of a call whose ctx has none; 0: ClientCallTimeout
}

// callTimeout is p's CallTimeout, or the default when p leaves it out.
// Until 2026-11-29 a policy without one gave a call without a deadline
// none at all: it slept out any Retry-After, up to RetryAfterMax (7 days)
// (TestClientRetryPolicyWithoutACallTimeoutKeepsTheDefault).
func (p RetryPolicy) callTimeout() time.Duration {
	if p.CallTimeout <= 0 {
		return ClientCallTimeout
	}
	return p.CallTimeout
}

// attempts is p's Attempts, or the default (ClientAttemptsMax) when p
// leaves it out, as for the other fields. Until 2026-11-29 a policy that
// left it out, to set only a deadline or a backoff, made one attempt: no
// retry at all, what every client is told to do
// (TestClientRetryPolicyWithoutAttemptsRetriesAsTheDefault).
func (p RetryPolicy) attempts() int {
	if p.Attempts <= 0 {
		return ClientAttemptsMax
	}
	return p.Attempts
}

// backoff is p's first backoff ceiling and its largest, the defaults for
// what p leaves out. Until 2026-11-29 a missing BackoffFirst made every
// wait zero, and a missing BackoffMax every wait after the first: eight
// attempts on a busy server within a millisecond
// (TestClientRetryPolicyWithoutABackoffBacksOffAsTheDefault).
func (p RetryPolicy) backoff() (first, most time.Duration) {
	first, most = p.BackoffFirst, p.BackoffMax
	if first <= 0 {
		first = ClientBackoffFirst
	}
	if most <= 0 {
		most = ClientBackoffMax
	}
	return first, max(first, most)
}

// DefaultRetryPolicy is what NewClient uses.
var DefaultRetryPolicy = RetryPolicy{Attempts: ClientAttemptsMax, BackoffFirst: ClientBackoffFirst,
	BackoffMax: ClientBackoffMax, CallTimeout: ClientCallTimeout}

// WithRetry returns a copy of c that retries by p.
func (c *Client) WithRetry(p RetryPolicy) *Client {
	cc := *c
	cc.retry = p
	return &cc
}

// do sends a request, retrying what may be retried: network failures
// (the request may or may not have arrived: the idempotency key makes a
// second arrival harmless), 503 busy/maintenance and 429 rate_limited, the
// API's or a gateway's (no money moved; the Retry-After is honoured as the
// least wait),
// 409 idempotency_key_in_use (the first attempt is still running), and a
// 504 outcome_unknown (the commit was cut; same key, so at most once).
// A POST without a key is retried only when the server did not act
// (resendable). It never waits past the call's deadline: when the server
// asks for longer than is left, the refusal is returned at once.
func (c *Client) do(ctx context.Context, method, path string, body []byte, key string, out any) error {
	return c.send(ctx, &call{method: method, path: path, body: body, key: key, out: out})
}

// send is do for any call.
func (c *Client) send(ctx context.Context, cl *call) error {
	return withKey(cl, gatewayCoded(cl, c.sendRetrying(ctx, cl)))
}

// withKey puts the Idempotency-Key of cl, a call with one, into err when
// its outcome is unknown: the caller learns the outcome by that key (the
// call again, or IntentByKey), and when it gave none the client made one
// that nothing else tells it. Until 2026-11-29 no error named it, and such
// a caller could only pay again under a new key
// (TestAnUnknownOutcomeNamesItsIdempotencyKey).
func withKey(cl *call, err error) error {
	var pe *pw.Error
	if cl.key == "" || !outcomeUnknown(err) || !errors.As(err, &pe) {
		return err
	}
	pe.Err = errors.Join(pe.Err, keyError(cl.key)) // pe is this call's own, made for its answer
	return err
}

// keyError is the Idempotency-Key of a call whose outcome is unknown.
type keyError string

func (k keyError) Error() string { return "Idempotency-Key " + string(k) }

// IdempotencyKey returns the Idempotency-Key of the call that ended with
// err, an outcome_unknown one (the caller's from its context, or the one
// the client made): sent again under it (peakwallet.NewContextWithIdempotencyKey),
// the call is applied at most once and answers what happened. "" for any
// other error.
func IdempotencyKey(err error) string {
	var k keyError
	if errors.As(err, &k) {
		return string(k)
	}
	return ""
}

// gatewayCoded gives a call that ended with a gateway's answer (no API
// problem body, so no code of the API's) the API's code for what that
// answer is, wrapping it (ErrGatewayRefused, ErrNoAPIAnswer) so that a
// caller can still tell it from the API's own:
//   - a 429 is a rate limit whoever sent it, and the gateway refused the
//     request before passing it on: rate_limited, with its Retry-After;
//   - a 5xx to a read (GET, HEAD) is no answer from the API to a request
//     that changes nothing and may be asked again: unavailable.
//
// Until 2026-11-29 both read "internal" from peakwallet.ErrorCode, the
// server's own failure (TestAGatewaysRefusalReadsAsWhatItIs). The codes
// are not rebuilt from the API's statuses (the API's answers keep the code
// they carry): these answers carry none, and each is given the one code
// whose meaning holds whoever sent it. A gateway's 5xx to anything else
// may have been passed on: a payment's call ends outcome_unknown
// (lastError), a POST without a key too (notResent); a DELETE's keeps the
// gateway's error (internal), to be sent again, idempotent as it is.
func gatewayCoded(cl *call, err error) error {
	var pe *pw.Error
	var ge *gatewayError
	if err == nil || errors.As(err, &pe) || !errors.As(err, &ge) {
		return err
	}
	switch {
	case ge.refused:
		return &pw.Error{Code: pw.ERATELIMITED, Op: ge.op, Retry: ge.retry, Err: err,
			Message: "a gateway in front of the API refused the request (429 without the API's problem): rate limited, nothing was passed on; try again after Retry-After"}
	case cl.method == http.MethodGet || cl.method == http.MethodHead:
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: ge.op, Retry: ge.retry, Err: err,
			Message: "no answer from the API: a gateway answered instead (a 5xx without the API's problem); ask again later"}
	}
	return err
}

// sendRetrying sends cl's attempts.
func (c *Client) sendRetrying(ctx context.Context, cl *call) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.retry.callTimeout())
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("http.Client: %s %s: not sent: %w", cl.method, cl.path, err)
	}
	attempts := c.retry.attempts()
	ceiling, most := c.retry.backoff()
	unseen := false  // an attempt of this money-moving (or idempotent) call may have been applied
	deleted := false // an attempt of this DELETE may have been applied
	var last error   // the previous attempt's error
	learn := learnByRetry(cl)
	for attempt := 1; ; attempt++ {
		err := c.doOnce(ctx, cl)
		if errors.Is(err, errNoTimeLeft) { // this attempt was not sent
			if last == nil {
				return err
			}
			return lastError(last, unseen, learn)
		}
		if err != nil && Retryable(err) && !resendable(cl, err) {
			return notResent(err)
		}
		if deleted && pw.ErrorCode(err) == pw.ENOTFOUND {
			// What this DELETE was to remove is gone, most likely by the
			// attempt whose answer was lost: done, as RFC 9110 means a
			// DELETE to be idempotent. Until 2026-11-27 the retry's 404
			// was the call's error, and an operator whose cancel had
			// worked was told the window did not exist
			// (TestClientCancelAfterALostAnswerIsDone).
			return nil
		}
		// An idempotent call's attempt (a cancellation) counts too: a lost
		// one may have cancelled the intent, and a "busy" after it said
		// that nothing had been cancelled
		// (TestClientCancelRefusedAfterAnAttemptItCannotSeeIsUnknown).
		unseen = unseen || (cl.key != "" || cl.idempotent) && mayHaveApplied(err)
		deleted = deleted || cl.method == http.MethodDelete && mayHaveApplied(err)
		if err == nil || attempt >= attempts || !Retryable(err) || ctx.Err() != nil {
			return lastError(err, unseen, learn)
		}
		last = err
		least, jitter := RetryAfter(err), ceiling
		ceiling = min(2*ceiling, most)
		if dl, ok := ctx.Deadline(); ok {
			// What the server asks for must fit; the jitter is drawn
			// within what is left after it.
			room := serverWait(time.Until(dl) - least)
			if room <= 0 {
				return lastError(err, unseen, learn) // the next attempt could not be sent
			}
			jitter = min(jitter, room)
		}
		t := time.NewTimer(retryWait(least, jitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return lastError(err, unseen, learn)
		case <-t.C:
		}
	}
}

// retryWait is the wait before an attempt sent again: least, the
// Retry-After the refusal asked for, and on top of it a full-jitter draw
// from [0, jitter], the backoff's ceiling, so that calls refused together
// come back apart. Until 2026-11-29 the wait was the larger of the two: a
// Retry-After longer than the ceiling (the server's 1 s against the first
// retries' 50 ms) left no jitter, and every call refused at one moment came
// back at one moment (TestClientSpreadsRetriesAfterARetryAfter).
func retryWait(least, jitter time.Duration) time.Duration {
	return least + rand.N(jitter+1)
}

// resendable reports whether a call whose attempt failed with err may be
// sent again at all. A read, a DELETE (idempotent by RFC 9110) and a call
// with an Idempotency-Key may: a second arrival does nothing twice. Any
// other call without a key (a POST) may only when err proves the server did not act on it: a
// connection that was never made, or a refusal that by contract moved
// nothing (503 busy/maintenance/unavailable, 429, a gateway's 429 too). Anything else — a
// connection dropped after the request was sent, a timeout, a gateway's
// 5xx — may have been applied, and sending it again could apply it twice:
// one ScheduleMaintenance call made two read-only windows, one
// CreateOperator two operators, one of whose keys nobody saw
// (TestClientDoesNotResendAPOSTWithoutAKeyAfterALostAnswer).
func resendable(cl *call, err error) bool {
	switch {
	case cl.key != "", cl.idempotent:
		return true
	case cl.method == http.MethodGet, cl.method == http.MethodHead, cl.method == http.MethodDelete:
		return true
	}
	var pe *pw.Error
	if errors.As(err, &pe) {
		return refusedBeforeItsKey(pe.Code)
	}
	return !mayHaveApplied(err)
}

// notResent is the error of a call without an Idempotency-Key that ends
// after an attempt that may have been applied (resendable): outcome
// unknown, wrapping peakwallet.ErrCommitUnknown and err. Without a key no
// retry can learn the outcome: the caller looks (lists the maintenance
// windows, the operators) before it sends the request again.
func notResent(err error) error {
	if outcomeUnknown(err) {
		return err
	}
	return unknownOutcome(err,
		"no answer came, and the request may have been applied; it has no Idempotency-Key, so it was not sent again: look whether it was applied before sending it again")
}

// mayHaveApplied reports whether an attempt may have been applied without
// the client seeing it: no answer came to a request that may have reached
// the server, or the server said outcome_unknown. A connection that was
// never made (a failed dial) sent nothing.
func mayHaveApplied(err error) bool {
	if err == nil {
		return false
	}
	var pe *pw.Error
	if errors.As(err, &pe) {
		return outcomeUnknown(err)
	}
	// A gateway's 429 did not pass the request on; a certificate the
	// client cannot trust stopped it before it was sent.
	if errors.Is(err, ErrGatewayRefused) || untrusted(err) {
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}

// lastError is what a call returns when its last attempt failed with err,
// and unseen says whether an attempt of this money-moving (or idempotent)
// call may have been applied without the client seeing it; learn says how
// its caller learns what happened (learnByRetry). Such a call ends
// outcome_unknown, wrapping peakwallet.ErrCommitUnknown and err, whenever
// err does not settle it:
//   - err is no answer (a dropped connection, a timeout, a gateway's 5xx,
//     or a connection that could not be made after an earlier attempt
//     went unseen). Returned as it is, its code read "internal", which
//     API.md says moved nothing.
//   - err is a refusal that moved nothing (busy, unavailable, maintenance,
//     rate limited, by the API or by a gateway's 429; unauthorized,
//     forbidden, mfa_required: saysNothingOfTheKey): the server refuses
//     those before it looks at the request (its Idempotency-Key, or the
//     intent to cancel), so it speaks
//     only for its own attempt. Returned as it is, "busy" invited a second
//     payment under a new key, and told a caller whose cancellation had
//     been made that it had not.
//   - err is 409 idempotency_key_in_use: an attempt with this key is still
//     running, most likely the unseen one, which may yet commit. Returned
//     as it is, it read as a final refusal of a payment that may be paid
//     (TestClientKeyInUseAfterALostAnswerIsAnUnknownOutcome).
//
// A retry with the same key learns what happened
// (TestClientDoesNotCallAPaymentRefusedAfterAnAttemptItCannotSee).
func lastError(err error, unseen bool, learn string) error {
	if err == nil || !unseen {
		return err
	}
	var pe *pw.Error
	if !errors.As(err, &pe) && !errors.Is(err, ErrGatewayRefused) { // no answer, this time or an earlier one
		return unknownOutcome(err, "no answer came, and the request may have been applied; "+learn)
	}
	if pe == nil || saysNothingOfTheKey(pe.Code) {
		return unknownOutcome(err,
			"an earlier attempt may have been applied, and the last was refused before the server looked at the request; "+learn)
	}
	if pe.Code == pw.EIDEMINUSE {
		return unknownOutcome(err,
			"an earlier attempt, whose answer was lost, is still running and may yet be applied; "+learn)
	}
	return err
}

// learnByRetry says how the caller of cl learns what an unseen attempt
// did: the same Idempotency-Key again, or, for a call idempotent by what
// it does (a cancellation), the same call again.
func learnByRetry(cl *call) string {
	if cl.key == "" {
		return "send the same request again to learn the outcome (it is idempotent)"
	}
	return "retry with the same Idempotency-Key to learn the outcome"
}

// unknownOutcome is the error of a call whose request may have been
// applied without the client seeing it: outcome_unknown, saying msg, with
// err's Retry-After, wrapping peakwallet.ErrCommitUnknown and err.
func unknownOutcome(err error, msg string) error {
	return &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Op: "http.Client", Retry: RetryAfter(err), Message: msg,
		Err: errors.Join(pw.ErrCommitUnknown, err)}
}

// refusedBeforeItsKey reports whether code is a refusal that the server
// answers before it looks at a request's Idempotency-Key (busy,
// unavailable, maintenance, rate-limited): it moved nothing, says nothing
// of an earlier attempt with the same key, and passes (the call is sent
// again after it).
func refusedBeforeItsKey(code string) bool {
	switch code {
	case pw.EBUSY, pw.EUNAVAILABLE, pw.EMAINTENANCE, pw.ERATELIMITED:
		return true
	}
	return false
}

// saysNothingOfTheKey reports whether code, answered to an attempt, says
// nothing of an earlier attempt with the same Idempotency-Key: a refusal
// before the key is looked at (refusedBeforeItsKey), or one that does not
// pass by itself and is not sent again: unauthorized and forbidden
// (authentication and access come before anything else), mfa_required (at
// a surge, a payment allowed into the queue is asked its step-up while an
// earlier attempt may still hold its key; a synchronous one is asked only
// once it holds the key, but the client cannot tell the two apart). Those three were taken for the call's answer until
// 2026-11-29 (found in review): a payment whose answer was lost, sent
// again and refused 401 (its credential ended meanwhile), 403 or
// mfa_required ended with that refusal, which reads as nothing paid, while
// its first attempt may have paid
// (TestClientDoesNotCallAPaymentRefusedAfterAnAttemptItCannotSee).
func saysNothingOfTheKey(code string) bool {
	return refusedBeforeItsKey(code) || code == pw.EUNAUTHORIZED || code == pw.EFORBIDDEN || code == pw.EMFAREQUIRED
}

// The server is told each attempt's deadline (Prefer: wait=N, RFC 7240),
// less a margin for the answer's way back: it then refuses at once, with
// Retry-After, what it cannot finish in time, and gives up a request that
// ran out of time while the client still listens, instead of the client
// hanging up on an answer a moment too late and learning nothing.
const (
	deadlineMarginMin = 10 * time.Millisecond
	deadlineMarginMax = 250 * time.Millisecond
)

// errNoTimeLeft is why an attempt is not sent: its call's deadline leaves
// no time beyond the margin (serverWait). Sent without a Prefer: wait, the
// server would give it its class's whole deadline (2 s for a payment) and
// might post it long after the client hung up; sent with wait=0 it would
// read no preference at all
// (TestClientSendsNothingWithoutTimeForTheServerToAnswer).
var errNoTimeLeft = fmt.Errorf("too little time left for the server to answer: %w", context.DeadlineExceeded)

// serverWait is how long the server may take over a request whose client
// waits left: left less the margin for the answer's way back (a tenth of
// it, between deadlineMarginMin and deadlineMarginMax); not positive when
// no time is left for the server.
func serverWait(left time.Duration) time.Duration {
	return left - min(deadlineMarginMax, max(deadlineMarginMin, left/10))
}

// PreferWait is the Prefer header for a request that must be answered by
// deadline, or "" when there is no deadline or no time left for one.
// The wait is rounded up to the millisecond, never down to wait=0.000,
// which the server reads as no preference: the rounding takes less than a
// millisecond of a margin of at least ten.
func PreferWait(deadline time.Time, ok bool) string {
	if !ok {
		return ""
	}
	wait := serverWait(time.Until(deadline))
	if wait <= 0 {
		return ""
	}
	ms := (wait + time.Millisecond - 1) / time.Millisecond
	return fmt.Sprintf("wait=%d.%03d", ms/1000, ms%1000)
}

// Retryable reports whether a failed attempt may be sent again with the
// same Idempotency-Key: no answer came, a refusal that moved nothing, the
// key still in use, or an outcome the retry learns.
func Retryable(err error) bool {
	var pe *pw.Error
	if !errors.As(err, &pe) {
		// Transport failure: no answer came; but a certificate the
		// client cannot trust stays so, and nothing was sent.
		return !untrusted(err)
	}
	if refusedBeforeItsKey(pe.Code) || pe.Code == pw.EIDEMINUSE {
		return true
	}
	// A commit cut as it was sent (504 outcome_unknown, "outcome":
	// "unknown") may have moved the money or not; the same Idempotency-Key
	// finds out without moving it twice: the stored answer if it
	// committed, the request run again if it did not.
	return outcomeUnknown(err)
}

// untrusted reports whether err is the TLS handshake's refusal of the
// server's certificate (another CA, another name, expired): the request
// was never sent, and sending it again meets the same certificate. Until
// 2026-11-29 such an error read as no answer, and a payment was tried for
// its whole backoff and ended outcome_unknown
// (TestClientDoesNotRetryACertificateItCannotTrust).
//
// So is a server that does not speak TLS at all behind an https:// URL
// (plain HTTP: http.ErrSchemeMismatch; anything else: a record header that
// is not TLS): the handshake cannot succeed, the request was never sent
// (TestClientDoesNotRetryAServerThatSpeaksNoTLS).
func untrusted(err error) bool {
	var cert *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	return errors.As(err, &cert) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid) ||
		errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &record)
}

// outcomeUnknown reports whether err says the request may have been
// applied or not (504 outcome_unknown, or a wrapped ErrCommitUnknown).
func outcomeUnknown(err error) bool {
	return pw.ErrorCode(err) == pw.EOUTCOMEUNKNOWN || errors.Is(err, pw.ErrCommitUnknown)
}

// RetryAfterMax caps what ParseRetryAfter reads: longer than any wait the
// server asks for (a maintenance window lasts at most a day), and short
// enough that delay-seconds cannot overflow a time.Duration: 10^10 seconds
// came out negative, a wait of nothing.
const RetryAfterMax = 7 * 24 * time.Hour

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date;
// 0 when it is absent or unreadable, at most RetryAfterMax.
func ParseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// delay-seconds is 1*DIGIT (RFC 9110 §10.2.3): no sign; a number
	// too large for 64 bits is read as its largest value, and capped.
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return time.Duration(min(n, uint64(RetryAfterMax/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(RetryAfterMax, max(0, time.Until(t)))
	}
	return 0
}
