package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/postgres"
	"github.com/peakwallet/peakwallet/sqlite"
)

// mustOpenMoneyEnv is MustOpenEnv on backend ("sqlite" or "postgres"),
// with the ledger reading now (time.Now when nil).
func mustOpenMoneyEnv(tb testing.TB, backend string, now func() time.Time) *Env {
	tb.Helper()
	var store pw.Store
	var lite *sqlite.Store
	var opts ledger.Options
	switch backend {
	case "sqlite":
		s, err := sqlite.Open(filepath.Join(tb.TempDir(), "peakwallet.db"), sqlite.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		store, lite = s, s
	case "postgres":
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(tb), postgres.Options{MaxConns: 8})
		if err != nil {
			tb.Fatal(err)
		}
		store = s
		opts.ConcurrentBatches = 4
	default:
		tb.Fatalf("unknown backend %q", backend)
	}
	opts.Now = now
	return openEnvOn(tb, store, lite, opts)
}

func idem(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

// TestAmbiguousMembersAreRefused sends bodies that name a member twice,
// or in another case than its own: encoding/json lets the last one win,
// matching names case-insensitively, so that a body a proxy, a log or a
// signature check reads as a payment of 1 paid 5000. Each is refused
// invalid_request naming the member, moves nothing and leaves the key free.
func TestAmbiguousMembersAreRefused(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	pay := func(rest string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"currency":"EUR",%s}`, w.User.ID, w.Merchant.ID, rest)
	}
	for i, tt := range []struct {
		name, path, body, field string
	}{
		{"member twice", "/v1/transfers", pay(`"amount":1,"amount":5000`), "amount"},
		{"member twice in another case", "/v1/transfers", pay(`"amount":1,"Amount":5000`), "Amount"},
		{"member in another case", "/v1/transfers", pay(`"AMOUNT":1`), "AMOUNT"},
		{"metadata key twice", "/v1/transfers", pay(`"amount":1,"metadata":{"order":"a","order":"b"}`), "metadata"},
		{"batch item member twice", "/v1/transfers/batch",
			`{"transfers":[` + pay(`"amount":1,"amount":5000`) + `]}`, "transfers.amount"},
		{"batch flag twice", "/v1/transfers/batch",
			`{"atomic":true,"transfers":[` + pay(`"amount":1`) + `],"atomic":false}`, "atomic"},
		{"hold expiry twice", "/v1/holds", pay(`"amount":1,"expires_in_seconds":60,"expires_in_seconds":2592000`),
			"expires_in_seconds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := idem(fmt.Sprint("ambiguous-", i))
			r := e.Do(t, "POST", tt.path, tt.body, h)
			if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != tt.field {
				t.Fatalf("%d %s, want 400 invalid_request on %q", r.Status, r.Body, tt.field)
			}
			if b := e.MustBalance(t, w.User); b.Posted != 10_000 || b.PendingOut != 0 {
				t.Fatalf("user balance %+v after a refused body", b)
			}
		})
	}
	// The corrected body goes through under the refused one's key. Metadata
	// keys are the client's own, and case tells them apart.
	r := e.Do(t, "POST", "/v1/transfers", pay(`"amount":1,"metadata":{"Order":"a","order":"b"}`), idem("ambiguous-0"))
	if r.Status != 201 {
		t.Fatalf("corrected body under the refused one's key: %d %s", r.Status, r.Body)
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9_999 {
		t.Fatalf("user posted %d, want 9999", b.Posted)
	}
}

// TestAnExplicitZeroAmountRefundsAndCapturesNothing: an absent amount
// means "all that remains" (all that is held), but a zero the client sent
// is a mistake like a zero payment, not a request for everything.
func TestAnExplicitZeroAmountRefundsAndCapturesNothing(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	tr := e.MustTransfer(t, w.User, w.Merchant, 1000)
	hold := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":500,"currency":"EUR","expires_in_seconds":60}`,
		w.User.ID, w.Merchant.ID)
	var h pw.Hold
	e.Do(t, "POST", "/v1/holds", hold, idem("zero-hold")).Want(t, 201, "").Decode(t, &h)
	for i, body := range []string{`{"amount":0}`, `{"amount":-0}`} {
		r := e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", body, idem(fmt.Sprint("zero-refund-", i)))
		if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != "amount" {
			t.Errorf("refund %s: %d %s, want 400 invalid_request on amount", body, r.Status, r.Body)
		}
		r = e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", body, idem(fmt.Sprint("zero-capture-", i)))
		if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != "amount" {
			t.Errorf("capture %s: %d %s, want 400 invalid_request on amount", body, r.Status, r.Body)
		}
	}
	if b := e.MustBalance(t, w.Merchant); b.Posted != 1000 || b.PendingIn != 500 {
		t.Fatalf("merchant %+v after zero refunds and captures, want posted 1000, pending_in 500", b)
	}
	// Absent, it is everything, with the key the refused request had.
	var rf pw.Transfer
	e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", `{}`, idem("zero-refund-0")).Want(t, 201, "").Decode(t, &rf)
	var cp pw.Transfer
	e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", ``, idem("zero-capture-0")).Want(t, 201, "").Decode(t, &cp)
	if rf.Amount != 1000 || cp.Amount != 500 {
		t.Fatalf("refund %d, capture %d: want 1000 and 500", rf.Amount, cp.Amount)
	}
}

// TestTwoIdempotencyKeysAreRefused: a request with two Idempotency-Key
// headers names no one key; taking the first would make a retry whose
// headers a proxy reordered another payment.
func TestTwoIdempotencyKeysAreRefused(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	req, err := http.NewRequest("POST", e.HTTP.URL+"/v1/transfers", strings.NewReader(transferBody(w, 100)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Idempotency-Key", "first")
	req.Header.Add("Idempotency-Key", "second")
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID {
		t.Fatalf("%d %s, want 400 invalid_request", r.Status, r.Body)
	}
	if b := e.MustBalance(t, w.User); b.Posted != 10_000 {
		t.Fatalf("user posted %d, want 10000: two keys moved money", b.Posted)
	}
}

// concurrently sends each of reqs at once and returns the answers in order.
func concurrently(t *testing.T, reqs ...func() *Response) []*Response {
	t.Helper()
	out := make([]*Response, len(reqs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = req()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// mustReplay fails t unless sending again what got first answers the same
// status and bytes, marked as a replay.
func mustReplay(t *testing.T, first, again *Response) {
	t.Helper()
	if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry answered %d %s (replayed %q), want the first answer %d %s",
			again.Status, again.Body, again.Header.Get("Idempotent-Replayed"), first.Status, first.Body)
	}
}

// TestRefundsRacingPastTheOriginalAndTheirRetries sends refunds that
// together exceed their transfer at once, each under its own key: as many
// as fit are made, the rest are refund_exceeds_original, and every retry
// gets its own first answer again (a refused one is not made now, a made
// one is not another refund), whatever happened since. Another principal's
// use of a key is its own request, and a refund of a refund is refused.
func TestRefundsRacingPastTheOriginalAndTheirRetries(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := mustOpenMoneyEnv(t, backend, nil)
			w := e.MustWallet(t, 10_000)
			tr := e.MustTransfer(t, w.User, w.Merchant, 1000)
			path := "/v1/transfers/" + tr.ID + "/refunds"
			reqs := make([]func() *Response, 8)
			for i := range reqs {
				reqs[i] = func() *Response { return e.Do(t, "POST", path, `{"amount":300}`, idem(fmt.Sprint("race-", i))) }
			}
			first := concurrently(t, reqs...)
			made := 0
			var refund pw.Transfer
			for _, r := range first {
				switch {
				case r.Status == 201:
					made++
					r.Decode(t, &refund)
				case r.Status == 422 && r.Problem(t).Code == pw.EREFUNDEXCEEDS:
				default:
					t.Fatalf("refund answered %d %s", r.Status, r.Body)
				}
			}
			if made != 3 {
				t.Fatalf("%d refunds of 300 made against 1000, want 3", made)
			}
			// What remains (100) is refunded; the retries change nothing.
			rest := e.Do(t, "POST", path, ``, idem("race-rest")).Want(t, 201, "")
			for i, r := range concurrently(t, reqs...) {
				mustReplay(t, first[i], r)
			}
			mustReplay(t, rest, e.Do(t, "POST", path, ``, idem("race-rest")))
			// The same key under another principal is not this one's answer.
			if r := e.Do(t, "POST", path, ``, map[string]string{"Idempotency-Key": "race-rest",
				"Authorization": "Bearer " + otherToken}); r.Header.Get("Idempotent-Replayed") != "" || bytes.Equal(r.Body, rest.Body) {
				t.Fatalf("another principal's key race-rest got the operator's answer: %d %s", r.Status, r.Body)
			}
			e.Do(t, "POST", "/v1/transfers/"+refund.ID+"/refunds", ``, idem("race-of-refund")).Want(t, 422, pw.ENOTREFUNDABLE)
			if b := e.MustBalance(t, w.Merchant); b.Posted != 0 {
				t.Fatalf("merchant posted %d after refunds of the whole 1000, want 0", b.Posted)
			}
			mustVerify(t, e.Ledger.Store())
		})
	}
}

// TestCapturesRacingVoidsAndTheSweeper races, for each hold, a capture
// against a void (exactly one wins), and, past a hold's expiry, a capture
// against the expiry pass (the capture is hold_expired, nothing moves).
// A retry gets the first answer again, whatever the hold became since: a
// capture's retry after the hold would have expired is that capture.
func TestCapturesRacingVoidsAndTheSweeper(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			clock := &Clock{now: time.Now().UTC()}
			e := mustOpenMoneyEnv(t, backend, clock.Now)
			w := e.MustWallet(t, 10_000)
			hold := func(key string) pw.Hold {
				var h pw.Hold
				body := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":100,"currency":"EUR","expires_in_seconds":60}`,
					w.User.ID, w.Merchant.ID)
				e.Do(t, "POST", "/v1/holds", body, idem(key)).Want(t, 201, "").Decode(t, &h)
				return h
			}
			captured := int64(0)
			type race struct {
				hold          string
				capture, void *Response
			}
			races := make([]race, 6)
			for i := range races {
				h := hold(fmt.Sprint("hold-", i))
				capture := func() *Response {
					return e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", ``, idem(fmt.Sprint("capture-", i)))
				}
				void := func() *Response { return e.Do(t, "POST", "/v1/holds/"+h.ID+"/void", ``, idem(fmt.Sprint("void-", i))) }
				got := concurrently(t, capture, void)
				races[i] = race{h.ID, got[0], got[1]}
				switch c, v := got[0], got[1]; {
				case c.Status == 201 && v.Status == 409 && v.Problem(t).Code == pw.EHOLDNOTPENDING:
					captured += 100
				case c.Status == 409 && c.Problem(t).Code == pw.EHOLDNOTPENDING && v.Status == 200:
				default:
					t.Fatalf("capture %d %s, void %d %s: want exactly one to win", c.Status, c.Body, v.Status, v.Body)
				}
			}
			clock.Advance(61 * time.Second) // every hold above would have expired by now
			for i, r := range races {
				mustReplay(t, r.capture, e.Do(t, "POST", "/v1/holds/"+r.hold+"/capture", ``, idem(fmt.Sprint("capture-", i))))
				mustReplay(t, r.void, e.Do(t, "POST", "/v1/holds/"+r.hold+"/void", ``, idem(fmt.Sprint("void-", i))))
			}
			for i := range 6 {
				h := hold(fmt.Sprint("late-hold-", i))
				clock.Advance(61 * time.Second)
				got := concurrently(t,
					func() *Response {
						return e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", ``, idem(fmt.Sprint("late-", i)))
					},
					func() *Response {
						if _, err := e.Ledger.ExpireDueHolds(context.Background()); err != nil {
							t.Errorf("expiry pass: %v", err)
						}
						return nil
					})
				got[0].Want(t, 409, pw.EHOLDEXPIRED)
				mustReplay(t, got[0], e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", ``, idem(fmt.Sprint("late-", i))))
			}
			if b := e.MustBalance(t, w.Merchant); b.Posted != captured || b.PendingIn != 0 {
				t.Fatalf("merchant %+v, want posted %d (the captures) and nothing pending", b, captured)
			}
			if b := e.MustBalance(t, w.User); b.Posted != 10_000-captured || b.PendingOut != 0 {
				t.Fatalf("user %+v, want posted %d and nothing pending", b, 10_000-captured)
			}
			mustVerify(t, e.Ledger.Store())
		})
	}
}
