package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ProblemTypeBase prefixes each problem's code to form its RFC 9457 type URI.
const ProblemTypeBase = "https://peakwallet.dev/problems/"

// Default Retry-After values, used until the error itself carries an
// estimate (see retryAfter). They are honest lower bounds, not promises.
const (
	RetryAfterBusyDefault        = 1 * time.Second
	RetryAfterMaintenanceDefault = 60 * time.Second
)

// problemSpec is how one error code looks on the wire.
type problemSpec struct {
	status int
	title  string
	// wire is the code shown to clients when it differs from the internal
	// one: "unavailable" (the store is down) is "busy" to a client, who can
	// do nothing but retry either way.
	wire string
}

// problems is the one table from error code to HTTP status. Shape errors
// (the request cannot be understood) are 400; well-formed requests that
// break a business rule are 422; conflicts with the current state of an
// object, which may succeed later, are 409 (insufficient_funds is one: the
// same request can succeed after a top-up, and API.md's own example uses
// 409). Every 429 and 503 carries Retry-After.
var problems = map[string]problemSpec{
	pw.EINVALID:          {http.StatusBadRequest, "Invalid request", ""},
	pw.EIDEMREQUIRED:     {http.StatusBadRequest, "Idempotency-Key required", ""},
	pw.EUNAUTHORIZED:     {http.StatusUnauthorized, "Unauthorized", ""},
	pw.EFORBIDDEN:        {http.StatusForbidden, "Forbidden", ""},
	pw.EMFAREQUIRED:      {http.StatusForbidden, "Multi-factor authentication required", ""},
	pw.EMFALOGIN:         {http.StatusUnauthorized, "Multi-factor authentication required", pw.EMFAREQUIRED},
	pw.EHANDLETAKEN:      {http.StatusConflict, "Handle taken", ""},
	pw.EWEAKPASSWORD:     {http.StatusUnprocessableEntity, "Weak password", ""},
	pw.ENOTFOUND:         {http.StatusNotFound, "Not found", ""},
	pw.EACCOUNTNOTFOUND:  {http.StatusNotFound, "Account not found", ""},
	pw.EUSERNOTFOUND:     {http.StatusNotFound, "User not found", ""},
	pw.EMETHODNOTALLOWED: {http.StatusMethodNotAllowed, "Method not allowed", ""},
	pw.EINSUFFICIENT:     {http.StatusConflict, "Insufficient funds", ""},
	pw.EIDEMINUSE:        {http.StatusConflict, "Idempotency-Key in use", ""},
	pw.EHOLDNOTPENDING:   {http.StatusConflict, "Hold not pending", ""},
	pw.EHOLDEXPIRED:      {http.StatusConflict, "Hold expired", ""},
	pw.EINTENTNOTPENDING: {http.StatusConflict, "Intent not pending", ""},
	pw.EINTENTCANCELLED:  {http.StatusConflict, "Intent cancelled", ""},
	pw.ETOOLARGE:         {http.StatusRequestEntityTooLarge, "Request too large", ""},
	pw.ESAMEACCOUNT:      {http.StatusUnprocessableEntity, "Accounts must be different", ""},
	pw.ECURRENCYMISMATCH: {http.StatusUnprocessableEntity, "Currency mismatch", ""},
	pw.ELIMIT:            {http.StatusUnprocessableEntity, "Limit exceeded", ""},
	pw.EIDEMREUSED:       {http.StatusUnprocessableEntity, "Idempotency-Key reused", ""},
	pw.EREFUNDEXCEEDS:    {http.StatusUnprocessableEntity, "Refund exceeds original", ""},
	pw.ENOTREFUNDABLE:    {http.StatusUnprocessableEntity, "Not refundable", ""},
	pw.EBATCHFAILED:      {http.StatusUnprocessableEntity, "Batch failed", ""},
	pw.ERATELIMITED:      {http.StatusTooManyRequests, "Rate limited", ""},
	pw.EINTERNAL:         {http.StatusInternalServerError, "Internal error", ""},
	pw.EBUSY:             {http.StatusServiceUnavailable, "Busy", ""},
	pw.EMAINTENANCE:      {http.StatusServiceUnavailable, "Maintenance", ""},
	pw.EUNAVAILABLE:      {http.StatusServiceUnavailable, "Busy", pw.EBUSY},
	// The database was cut off while it committed, and could not be asked
	// in time whether it did: the money may have moved, so it is not a 503
	// (which promises nothing moved) but a 504, as from a gateway whose
	// upstream did not answer. The retry with the same Idempotency-Key
	// learns which; it carries Retry-After.
	pw.EOUTCOMEUNKNOWN: {http.StatusGatewayTimeout, "Outcome unknown", ""},
}

// StatusCode returns the HTTP status for an error code (500 for codes the
// table does not know).
func StatusCode(code string) int {
	if s, ok := problems[code]; ok {
		return s.status
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem detail. Extra members (such as "field")
// follow the standard ones.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"` // the request member at fault, when one is
	// Outcome is OutcomeUnknown on a 504 outcome_unknown, whose transaction
	// may have committed (the connection broke during COMMIT, and the
	// database could not be asked in time); absent otherwise.
	Outcome string         `json:"outcome,omitempty"`
	Extra   map[string]any `json:"-"`
}

// OutcomeUnknown is Problem.Outcome when a request's COMMIT was sent but
// its answer never came: unlike a 503, money may have moved. A
// client must not report "nothing moved"; a retry with the same
// Idempotency-Key learns what happened.
const OutcomeUnknown = "unknown"

// MarshalJSON writes the standard members first, then Extra in key order,
// so that the same problem always has the same bytes (replays compare them).
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(p.Extra[k])
		if err != nil {
			return nil, err
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// ProblemFor returns the problem that err is shown to clients as. Causes of
// internal errors never reach it: their detail is a fixed text.
func ProblemFor(err error) Problem {
	code := pw.ErrorCode(err)
	spec, ok := problems[code]
	if !ok {
		code, spec = pw.EINTERNAL, problems[pw.EINTERNAL]
	}
	wire := code
	if spec.wire != "" {
		wire = spec.wire
	}
	p := Problem{
		Type:   ProblemTypeBase + wire,
		Title:  spec.title,
		Status: spec.status,
		Code:   wire,
	}
	if code == pw.EINTERNAL {
		p.Detail = "internal error"
	} else {
		p.Detail = pw.ErrorMessage(err)
	}
	// "This may have committed" must reach the caller, who would otherwise
	// take the refusal for "nothing moved".
	if code == pw.EOUTCOMEUNKNOWN {
		p.Outcome = OutcomeUnknown
	}
	var e *pw.Error
	if errors.As(err, &e) && code != pw.EINTERNAL {
		p.Field = e.Field
	}
	// A cause may add members (a step-up's challenge_id), each declared in
	// problemMembers for the OpenAPI document.
	var extra interface{ ProblemExtra() map[string]any }
	if code != pw.EINTERNAL && errors.As(err, &extra) {
		p.Extra = extra.ProblemExtra()
	}
	return p
}

// problemMembers are the members a problem may carry beside the standard
// ones (Problem.Extra, from a cause's ProblemExtra), with the Go type of
// their value, for the OpenAPI document's Problem schema: a client built
// from it learns them there. TestEveryProblemMemberIsDocumented renders
// each cause that adds members and fails on one missing here (until
// 2026-11-28 none was in the document).
var problemMembers = []struct {
	name, description string
	of                reflect.Type
}{
	{"challenge_id", "mfa_required: the step-up challenge; repeat the request, with the same Idempotency-Key, with MFA-Code",
		reflect.TypeFor[string]()},
	{"mfa_methods", "mfa_required: how the challenge may be answered (totp, recovery_code, message)",
		reflect.TypeFor[[]string]()},
	{"intent", "intent_not_pending: the intent as it is now, posted (transfer_id) or failed (error)",
		reflect.TypeFor[pw.Intent]()},
}

// renderError returns the status and body of the problem for err: the one
// rendering used both for live responses and for remembered ones.
func renderError(err error) (int, []byte) {
	p := ProblemFor(err)
	return p.Status, renderProblem(p)
}

// renderedProblems holds the bodies of plain problems (no field, outcome or
// extra members), keyed by their members. In a surge two requests in
// three are refused with one of a handful of such problems, and encoding
// each anew was about a third of what a refusal cost in the handler
// (BenchmarkRefusal).
// The cache is bounded: details that embed a client's input stop being
// added once it holds problemCacheMax bodies, and are encoded each time.
var (
	renderedProblems sync.Map // problemKey → []byte
	renderedCount    atomic.Int32
)

const problemCacheMax = 256

// problemKey is every member of a plain problem.
type problemKey struct {
	typ, title, code, detail string
	status                   int
}

// renderProblem encodes p, from the cache when p is plain. The returned
// slice's capacity is its length, so an append never writes into a cached
// body.
func renderProblem(p Problem) []byte {
	if p.Field != "" || p.Outcome != "" || p.Extra != nil {
		return mustMarshal(p)
	}
	k := problemKey{p.Type, p.Title, p.Code, p.Detail, p.Status}
	if b, ok := renderedProblems.Load(k); ok {
		return b.([]byte)
	}
	b := mustMarshal(p)
	b = b[:len(b):len(b)]
	if renderedCount.Load() < problemCacheMax {
		if _, loaded := renderedProblems.LoadOrStore(k, b); !loaded {
			renderedCount.Add(1)
		}
	}
	return b
}

// Error writes err as application/problem+json. It is the one place where
// errors become responses. Internal errors (and codes missing from the
// table) are logged with their cause, which the client never sees.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := pw.ErrorCode(err)
	if _, ok := problems[code]; !ok || code == pw.EINTERNAL {
		loggerFrom(r.Context()).LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("code", code), slog.Any("err", err))
	} else if code == pw.EOUTCOMEUNKNOWN {
		loggerFrom(r.Context()).LogAttrs(r.Context(), slog.LevelWarn, "a commit's outcome is unknown",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	recordOutcome(r, err)
	status, body := renderError(err)
	setProblemHeaders(w.Header(), status, code, err)
	writeBody(w, status, contentTypeProblem, body)
}

// setProblemHeaders adds the headers a problem's status requires.
func setProblemHeaders(h http.Header, status int, code string, err error) {
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="peakwallet"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(code, err)))
	default:
		// Another refusal carries one when it knows when to ask again: a
		// cancellation's 409 idempotency_key_in_use, whose key is held by
		// a payment that commits within it. Until 2026-11-28 only the
		// statuses above sent it, and that 409 came without the
		// Retry-After API.md promises
		// (TestACancelWaitingPastItsDeadlineSaysWhenToAskAgain).
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(code, err)))
		}
	}
}

// retryAfterSeconds is the honest wait for a 429, 503 or 504: the error's own
// estimate when it carries one (method RetryAfter() time.Duration), else a
// default. It is never below one second.
func retryAfterSeconds(code string, err error) int {
	d := RetryAfterBusyDefault
	if code == pw.EMAINTENANCE {
		d = RetryAfterMaintenanceDefault
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		d = ra.RetryAfter()
	}
	s := math.Ceil(d.Seconds())
	if s < 1 {
		return 1
	}
	return int(s)
}

// Cause is what a client's error wraps for a problem it received:
// peakwallet.ErrCommitUnknown when the outcome is unknown (so that callers
// can errors.Is it), else nil.
func (p Problem) Cause() error {
	if p.Outcome == OutcomeUnknown {
		return pw.ErrCommitUnknown
	}
	return nil
}
