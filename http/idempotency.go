package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	pw "github.com/peakwallet/peakwallet"
)

// Idempotency headers.
const (
	HeaderIdempotencyKey      = "Idempotency-Key"
	HeaderIdempotencyReplayed = "Idempotent-Replayed"
)

// idempotencyKey returns r's checked Idempotency-Key. A request with the
// header twice names no one key: taking the first made a retry whose
// headers a proxy reordered, or whose client and SDK each added one,
// another payment (until 2026-11-29; TestTwoIdempotencyKeysAreRefused).
func idempotencyKey(r *http.Request) (string, error) {
	if len(r.Header.Values(HeaderIdempotencyKey)) > 1 {
		return "", pw.Errorf(pw.EINVALID, "Idempotency-Key must be given once")
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	return key, pw.ValidateIdempotencyKey(key)
}

// Fingerprint identifies a request's content for its idempotency key: the
// same key with a different fingerprint is idempotency_key_reused. It is
// the hex SHA-256 of method, path and the body's exact bytes.
func Fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method + "\n" + path + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// renderMemo is a claim's Render: the ledger calls it inside the commit
// that moves the money and stores its result. The memo keeps the last
// rendering (the ledger may run a transaction again), so that the first
// response is the remembered one byte for byte, whatever the ledger returns.
type renderMemo struct {
	success int // the route's success status

	mu     sync.Mutex
	called bool
	status int
	body   []byte
}

func (m *renderMemo) render(v any, err error) (int, []byte) {
	var status int
	var body []byte
	if err != nil {
		status, body = renderError(err)
	} else {
		status, body = renderJSON(m.success, v)
	}
	m.mu.Lock()
	m.called, m.status, m.body = true, status, body
	m.mu.Unlock()
	return status, body
}

func (m *renderMemo) last() (called bool, status int, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.called, m.status, m.body
}

// serveIdempotent runs call, a money-moving ledger call, at most once for
// the principal's Idempotency-Key: the first request claims the key, later
// ones with the same body get the remembered response.
func (s *Server) serveIdempotent(w http.ResponseWriter, r *http.Request, rt *Route, key string, body []byte,
	call func(ctx context.Context) (any, error)) {
	p, ok := pw.PrincipalFromContext(r.Context())
	if !ok {
		// Money routes are never public: reaching here is a broken table.
		Error(w, r, &pw.Error{Code: pw.EINTERNAL, Op: "http.serveIdempotent", Message: "no principal on " + rt.Pattern()})
		return
	}
	ikey := pw.IdempotencyKey{Principal: p.String(), Key: key}
	fingerprint := Fingerprint(r.Method, r.URL.Path, body)
	claim, replay, err := s.ledger.BeginIdempotent(r.Context(), ikey, fingerprint)
	if err != nil {
		Error(w, r, err)
		return
	}
	if replay != nil {
		s.writeReplay(w, r, rt, replay)
		return
	}
	// Every money-moving request looks, not only a payment: a key whose
	// payment waits in the surge queue is that payment's, and a hold (or a
	// refund, a capture) under it is another body. Until 2026-11-29 (found
	// in review) only POST /v1/transfers looked: a hold under it was made,
	// and the intent its client had been told was accepted failed
	// idempotency_key_reused
	// (TestAPendingIntentsKeyUsedForAnotherMoneyRequestIsRefused).
	if err := s.pendingIntentRefuses(r.Context(), ikey, fingerprint); err != nil {
		s.release(r.Context(), claim)
		Error(w, r, err)
		return
	}

	ctx := r.Context()
	if err := ctx.Err(); err != nil {
		// The client left before the ledger was entered: nothing can have
		// been committed, so the key is free again at once.
		s.release(ctx, claim)
		Error(w, r, pw.Errorf(pw.EBUSY, "the request was cancelled before it was processed"))
		return
	}
	memo := &renderMemo{success: rt.Status}
	v, err := call(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claim, Render: memo.render}))
	if replayed := (*pw.Replayed)(nil); errors.As(err, &replayed) {
		// The batch found the key finished by another request with the
		// same content, which the claim could not see (pw.Replayed):
		// nothing ran again; that request's answer is this one's.
		s.release(ctx, claim)
		s.writeReplay(w, r, rt, replayed.Record)
		return
	}
	if err != nil {
		if releasable(err) {
			s.release(ctx, claim)
		}
		Error(w, r, err)
		return
	}
	called, status, out := memo.last()
	if !called || status != rt.Status {
		// The ledger committed without remembering this answer: a replay
		// will not match it. Loud, because it breaks the API's promise.
		loggerFrom(ctx).LogAttrs(ctx, slog.LevelError, "ledger did not render the idempotent response",
			slog.String("route", rt.Pattern()), slog.Bool("called", called), slog.Int("status", status))
		status, out = renderJSON(rt.Status, v)
	}
	writeRendered(w, status, out)
}

// releasable reports whether a claim may be given back after the ledger
// call failed with err.
//
// Releasing is safe whenever nothing was committed, and harmless when the
// request did commit: the store forgets only an in-flight record still
// owned by the claim's token, and a committed request has marked its
// record done in the same transaction. So the key is released for every
// coded failure (busy, unavailable, a business rule the ledger chose not to
// remember) so that the client can retry with the same key at once.
//
// That holds when the commit's outcome is unknown too (the connection was
// cut as COMMIT was sent; PostgreSQL only): the batch locked the key's
// record when it began, so the release waits for that transaction to end
// and then finds the record done (it committed: the retry gets the
// remembered answer) or still in flight (it did not: the retry runs it),
// and a batch whose claim was released finds another token, or none, and
// posts nothing (TestACommitCutAtCOMMITIsSettledByTheRetry). Until
// 2026-11-26 such a key stayed claimed for the lease's minute, and the
// client's retries were refused idempotency_key_in_use meanwhile.
//
// Only an internal error that is not a cut commit (a bug) keeps the key
// until its lease ends: then a retry gets idempotency_key_in_use, and
// afterwards either the remembered answer or a fresh attempt.
//
// A request whose own deadline passed is released like any other: the
// ledger answers it busy only while its command is still queued, and then
// takes it off the queue, so it never runs; once a batch has taken it, the
// ledger waits for the batch and answers with its real outcome. (Until
// 2026-11-26 such requests were not released, and a payment refused at its
// deadline left its key in_use for a minute: the client's retry with the
// same key was refused too.)
func releasable(err error) bool {
	var replayed *pw.Replayed
	return pw.ErrorCode(err) != pw.EINTERNAL || errors.Is(err, pw.ErrCommitUnknown) || errors.As(err, &replayed)
}

// release gives claim back after its request failed, before the answer:
// the ledger bounds the wait by the request's deadline and goes on when
// its context is cancelled (ledger.ReleaseIdempotent). Until 2026-11-29 it
// was given 5 s of its own, which the ledger then dropped with the rest of
// the context, and on a stalled database the answer waited for the stall.
func (s *Server) release(ctx context.Context, claim *pw.IdempotencyRecord) {
	s.ledger.ReleaseIdempotent(ctx, claim)
}

// writeReplay answers with a remembered response.
func (s *Server) writeReplay(w http.ResponseWriter, r *http.Request, rt *Route, rec *pw.IdempotencyRecord) {
	if rec.Status < 100 || rec.Status > 599 {
		Error(w, r, &pw.Error{Code: pw.EINTERNAL, Op: "http.writeReplay",
			Message: "remembered response has no status"})
		return
	}
	s.metrics.replays.WithLabelValues(rt.Path).Inc()
	w.Header().Set(HeaderIdempotencyReplayed, "true")
	writeRendered(w, rec.Status, rec.Body)
}
