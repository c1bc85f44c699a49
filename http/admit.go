package http

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
)

// admissionClasses maps a route's class to its admission priority. Ops
// routes are absent: they are never queued nor shed.
var admissionClasses = map[Class]admission.Class{
	ClassPayment: admission.ClassPayment,
	ClassTopup:   admission.ClassTopup,
	ClassRead:    admission.ClassRead,
	ClassReport:  admission.ClassReport,
}

// outcome carries a request's error from the one error writer back to the
// admission middleware, which feeds it to the limit and the breaker.
type outcome struct{ err error }

type outcomeKey struct{}

func recordOutcome(r *http.Request, err error) {
	if o, ok := r.Context().Value(outcomeKey{}).(*outcome); ok {
		o.err = err
	}
}

// admit wraps an authenticated route with maintenance and admission
// control. The class comes from the route table, never from the client,
// except that a transfer from or to a system account (a top-up or a
// withdrawal) is lowered to topup by the store's kind of those accounts
// (accountKinds);
// the client may only shorten its deadline (Prefer: wait=N) and, on
// POST /v1/transfers, allow an asynchronous answer (Prefer: respond-async).
func (s *Server) admit(rt *Route, next http.Handler) http.Handler {
	class, classed := admissionClasses[rt.Class]
	writes := (rt.MovesMoney || rt.WritesLedger) && s.maintenance != nil
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if writes {
			if err := s.maintenance.ReadOnly(); err != nil {
				Error(w, r, err)
				return
			}
		}
		if s.admission == nil || !classed {
			s.serveAuthenticated(w, r, rt, next)
			return
		}
		p, _ := pw.PrincipalFromContext(r.Context())
		principal := p.String() // the rate limit's and the queues' key, built once
		quota, err := s.admission.Allow(principal)
		setRateLimitHeaders(w.Header(), quota)
		if err != nil {
			Error(w, r, err)
			return
		}
		if rt.Stream {
			// An event stream counts against the rate limit, as any request
			// (until 2026-11-27 it did not, and one client could open any
			// number, each reading the store every second), but takes no
			// slot: it waits for a change, it does not work. A principal
			// holds at most StreamsPerPrincipalMax open (streams.go).
			end, err := s.streams.begin(principal, time.Now())
			if err != nil {
				Error(w, r, err)
				return
			}
			defer end()
			s.serveAuthenticated(w, r, rt, next)
			return
		}
		pref := parsePrefer(r.Header.Values("Prefer"))
		began, class := time.Now(), class
		wait := s.admission.Deadline(class, pref.wait)
		ctx, cancel := context.WithDeadline(r.Context(), began.Add(wait))
		defer cancel()
		// An answer written after the deadline is counted: the client that
		// set it has likely given up, and a success it never hears is
		// learnt only by its retry.
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		deadline, _ := ctx.Deadline()
		bodyDueBy(w, r, deadline)
		defer func() {
			if time.Now().After(deadline) {
				result := LateSuccess
				if rec.status >= 300 {
					result = LateRefusal
				}
				s.metrics.late.WithLabelValues(class.String(), result).Inc()
			}
		}()
		async := pref.async && rt.Async && s.intents != nil
		acquire := func(ctx context.Context, class admission.Class, wait time.Duration) (*admission.Ticket, error) {
			if async {
				// A payment that may be accepted for later waits for a slot
				// only while there is still time to write it as an intent
				// and answer 202 before its deadline, counted from its
				// arrival (TestAnAsyncPaymentWhoseBodyCameSlowlyKeepsItsReserve).
				var cancelAcquire context.CancelFunc
				ctx, cancelAcquire = context.WithDeadline(ctx, began.Add(wait-time.Duration(float64(wait)*IntentReserveShare)))
				defer cancelAcquire()
			}
			return s.admission.Acquire(ctx, class, principal)
		}
		refused := func(err error) {
			if async && pw.ErrorCode(err) == pw.EBUSY {
				s.acceptIntent(w, r.WithContext(ctx), rt, err) // within the request's deadline
				return
			}
			Error(w, r, err)
		}
		ticket, err := acquire(ctx, class, wait)
		if err != nil {
			refused(err)
			return
		}
		o := &outcome{}
		defer func() {
			// The slot held when the request ends goes back with its
			// outcome; one given back already (Abandon, or Done on an early
			// return) is not given back twice (Ticket's once), and a request
			// refused when it queued again holds none. A handler that
			// panicked recorded no outcome, and until the review of
			// 2026-11-29 its panic was counted a success: as the breaker's
			// half-open probe it closed the breaker with the store still
			// down (TestAPanickingProbeDoesNotCloseTheBreaker). It is a
			// failure, internal, which says nothing of the store (the
			// breaker stays open, the next request probes); the panic goes
			// on to instrument, which answers 500 and logs it. This is
			// deferred as soon as the slot is taken: until 2026-11-29 it
			// was deferred just before the handler, and a panic between
			// (reading a transfer's account kinds, authenticating a stale
			// principal again) kept its slot for good, and a probe's kept
			// the breaker half-open, every request refused
			// (TestAPanicBeforeTheHandlerGivesTheSlotBack).
			v := recover()
			if ticket != nil {
				if v != nil {
					ticket.Done(&pw.Error{Code: pw.EINTERNAL, Op: "http.admit", Err: fmt.Errorf("panic: %v", v)})
				} else {
					ticket.Done(o.err)
				}
			}
			if v != nil {
				panic(v)
			}
		}()
		// A principal answered stale from the cache while the store was
		// down (auth.Service.AuthenticateOrStale) is authenticated again
		// as soon as it is admitted (as the breaker's probe, or after it
		// closed), before anything acts on it or reads the store for it
		// (its body's accounts, looked up below to class it, were read
		// first until 2026-11-29; only after the breaker had closed). What
		// the store answers is the probe's outcome; a credential it no
		// longer knows moved nothing
		// (TestAStalePrincipalIsAuthenticatedAgainOnceAdmitted). That 401
		// is the store's own answer (the cache keeps no refusal, and the
		// token parsed when it was cached): it closes the breaker as a
		// success would; until 2026-11-29 it gave the slot back unused,
		// and a revoked key's request admitted as the probe left the
		// breaker open for the next request to probe. A 403 may come from
		// a principal another request just cached, with no read of its
		// own: it says nothing of the store.
		if ctx, err = s.authenticateAgain(ctx, r, rt); err != nil {
			switch pw.ErrorCode(err) {
			case pw.EUNAUTHORIZED:
				ticket.Done(nil)
			case pw.EFORBIDDEN:
				ticket.Abandon()
			default:
				ticket.Done(err)
			}
			Error(w, r, err)
			return
		}
		r = r.WithContext(keepAuthenticated(r.Context(), ctx))
		if rt.BodyMax > 0 && hasBody(r) {
			// The body is read once the request has its slot, so that a
			// request refused in a surge costs no more than before (read
			// before admission, as on 2026-11-29 for a few hours, it cost
			// every refusal the read and a decode, BenchmarkRefusal +3–5 µs,
			// and an Expect: 100-continue client was told to send its body
			// before it was refused; the surges measured could not tell
			// the two designs apart: overload.md). A body that is not all
			// there within BodyGrace gives its slot back unused and is read
			// without one: a client trickling its bodies does not hold the
			// store's slots (TestATrickledBodyDoesNotHoldASlot). The request
			// then queues again.
			body, slow, err := readBodyWithin(w, r, rt.BodyMax, ticket, BodyGrace)
			if slow && err != nil {
				// Out of its time, too large or cut: answered without a slot.
				Error(w, r, bodyError(err, rt.BodyMax))
				return
			}
			requeue := slow
			if err == nil && rt.TopupBySystemAccount && s.accountKinds != nil &&
				s.accountKinds.transferClass(ctx, body) == admission.ClassTopup {
				// A top-up or a withdrawal (from or to a system account,
				// known by its body's accounts) gives its payment slot back
				// unused, to the payments waiting for one, and waits for a
				// slot of its own class, with its class's deadline from its
				// arrival. (After a slow body, its accounts' kinds are read
				// without a slot: at most AccountKindLookups reads at once,
				// as always.)
				if !slow {
					ticket.Abandon()
				}
				class, wait = admission.ClassTopup, s.admission.Deadline(admission.ClassTopup, pref.wait)
				var cancelTopup context.CancelFunc
				ctx, cancelTopup = context.WithDeadline(r.Context(), began.Add(wait))
				defer cancelTopup()
				deadline, _ = ctx.Deadline()
				recordClass(w, ClassTopup)
				requeue = true
			}
			if requeue {
				if ticket, err = acquire(ctx, class, wait); err != nil {
					refused(err)
					return
				}
			}
		}
		if writes {
			// A write may have waited for its slot up to its deadline, and
			// a read-only window may have begun meanwhile: it is looked at
			// again, or a payment queued just before the window moved money
			// in it (TestAPaymentQueuedBeforeAReadOnlyWindowIsRefusedWhenItsTurnComesInIt).
			if err := s.maintenance.ReadOnly(); err != nil {
				ticket.Abandon()
				Error(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, outcomeKey{}, o)))
	})
}

// serveAuthenticated serves r with next once a principal that came stale
// from the cache is authenticated again (authenticateAgainAdmitted): for a
// request that takes no slot (a route outside admission, an event stream),
// nothing else stands between it and the store. A StaleServed route is
// served as it is.
func (s *Server) serveAuthenticated(w http.ResponseWriter, r *http.Request, rt *Route, next http.Handler) {
	if rt.StaleServed {
		next.ServeHTTP(w, r)
		return
	}
	ctx, err := s.authenticateAgainAdmitted(r.Context(), r, rt)
	if err != nil {
		Error(w, r, err)
		return
	}
	next.ServeHTTP(w, r.WithContext(ctx))
}

// authenticateAgainAdmitted is authenticateAgain for a request that takes
// no slot of its own: the store read behind a stale principal's
// re-authentication takes one, in class read, for as long as that read may
// take (auth.AuthStoreTimeout). While the breaker keeps requests from the
// store (open, or its probe out), the request is thus refused at once with
// the breaker's 503 busy and Retry-After; when the breaker would let its
// probe go, this read is the probe, and what the store answers is its
// outcome, as in admit. Until 2026-11-29 the read went to the store
// whatever the breaker said: in a PostgreSQL stall each maintenance change
// or event stream a stale principal opened waited 1 s for it and answered
// 503 busy, a pooled connection held meanwhile
// (TestAStalePrincipalOutsideAdmissionIsAnsweredAtOnceInAStall). A
// principal that authenticates again gives the slot back unused: the
// store may not have been read (another request may have cached the
// principal since), so its success says nothing of the store; the
// route's own store reads, an event stream's, are bounded and honour the
// breaker themselves (streamRead).
func (s *Server) authenticateAgainAdmitted(ctx context.Context, r *http.Request, rt *Route) (context.Context, error) {
	if _, stale := ctx.Value(staleAuthKey{}).(string); !stale || s.admission == nil {
		return s.authenticateAgain(ctx, r, rt)
	}
	p, _ := pw.PrincipalFromContext(ctx)
	actx, cancel := context.WithTimeout(ctx, auth.AuthStoreTimeout)
	defer cancel()
	ticket, err := s.admission.Acquire(actx, admission.ClassRead, p.String())
	if err != nil {
		return ctx, err
	}
	authed, err := s.authenticateAgain(ctx, r, rt)
	switch {
	case err == nil, pw.ErrorCode(err) == pw.EFORBIDDEN:
		ticket.Abandon()
	case pw.ErrorCode(err) == pw.EUNAUTHORIZED:
		ticket.Done(nil) // the store's own answer (admit)
	default:
		ticket.Done(err)
	}
	return authed, err
}

// bodyDueBy makes r's body due by the request's deadline: a read of it
// that is still waiting then fails, and ReadBody answers invalid_request.
// Until the review of 2026-11-29 only the server's ReadTimeout (30 s)
// bounded that read, made while the request held an admission slot: a
// client that sent its headers and half a body held a slot long past its
// deadline (TestASlowBodyDoesNotHoldASlotPastItsDeadline). Since, the slot
// is held for at most BodyGrace of the read (readBodyWithin), and this
// deadline bounds the rest.
// Only a request with a body gets the read deadline: without one, the
// server already waits in the background for the connection's next
// request, and that wait must not end at this request's deadline. Once
// the body is read to its end, the server clears the deadline for that
// wait itself. A writer that cannot set one (a test's recorder) is left
// as it is.
func bodyDueBy(w http.ResponseWriter, r *http.Request, deadline time.Time) {
	if !hasBody(r) {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(deadline)
}

// setRateLimitHeaders sends the principal's quota as in
// draft-ietf-httpapi-ratelimit-headers: RateLimit-Policy names the policy
// (q requests per w seconds), RateLimit what remains (r) and when the
// quota is whole again (t, seconds).
func setRateLimitHeaders(h http.Header, q admission.Quota) {
	if q.Limit == 0 {
		return
	}
	h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, q.Limit, ceilSeconds(q.Window)))
	h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, q.Remaining, ceilSeconds(q.Reset)))
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// PreferWaitMax bounds the wait a client may ask for; longer asks are
// simply capped by the class's deadline anyway. PreferWaitMin is the
// least: wait=0 asks for an answer at once, which is what a deadline this
// short gives (a payment that cannot start at once hears busy), not for
// the class's default as if nothing were asked.
const (
	PreferWaitMax = time.Hour
	PreferWaitMin = time.Microsecond
)

// preference is what a request's Prefer header (RFC 7240) asks.
type preference struct {
	async bool          // respond-async
	wait  time.Duration // wait=N: answer within N seconds
}

// parsePrefer reads the Prefer preferences the server honours; others are
// ignored, as RFC 7240 requires. wait may be fractional ("wait=0.5"). As
// RFC 7240 (section 2) says, only the first instance of a preference
// counts, in whichever Prefer header it comes, and a preference's
// parameters (after ";") are ignored, not a reason to ignore it.
func parsePrefer(values []string) preference {
	var p preference
	seen := map[string]bool{}
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item, _, _ = strings.Cut(item, ";")
			name, val, _ := strings.Cut(strings.TrimSpace(item), "=")
			name, val = strings.ToLower(strings.TrimSpace(name)), strings.Trim(strings.TrimSpace(val), `"`)
			if seen[name] {
				continue
			}
			seen[name] = true
			switch name {
			case "respond-async":
				p.async = true
			case "wait":
				if f, err := strconv.ParseFloat(val, 64); err == nil && f >= 0 { // NaN is neither
					p.wait = max(PreferWaitMin, time.Duration(min(f, PreferWaitMax.Seconds())*float64(time.Second)))
				}
			}
		}
	}
	return p
}
