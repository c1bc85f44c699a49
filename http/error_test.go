package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/sqlite"
)

// fakeLedger is a ledger whose CreateTransfer answers what the test says.
// It is only for errors the real ledger cannot be made to return on demand.
type fakeLedger struct {
	pw.LedgerService // nil: other methods panic
	transfer         func(ctx context.Context) (*pw.Transfer, error)
	released         *[]string
	mu               *sync.Mutex
}

func (f fakeLedger) BeginIdempotent(_ context.Context, key pw.IdempotencyKey, fp string) (*pw.IdempotencyRecord, *pw.IdempotencyRecord, error) {
	return &pw.IdempotencyRecord{IdempotencyKey: key, Fingerprint: fp, Token: "t"}, nil, nil
}

func (f fakeLedger) ReleaseIdempotent(_ context.Context, claim *pw.IdempotencyRecord) {
	f.mu.Lock()
	*f.released = append(*f.released, claim.Key)
	f.mu.Unlock()
}

// Account: no account exists (the server reads a transfer's accounts'
// kinds for its admission class).
func (f fakeLedger) Account(_ context.Context, id string) (*pw.Account, error) {
	return nil, pw.Errorf(pw.EACCOUNTNOTFOUND, "account %s not found", id)
}

func (f fakeLedger) CreateTransfer(ctx context.Context, _ pw.TransferCreate) (*pw.Transfer, error) {
	return f.transfer(ctx)
}

func serve(h http.Handler, method, path, body string, headers map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestReleaseRules checks when a claim is given back after the ledger failed.
func TestReleaseRules(t *testing.T) {
	const validBody = `{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		release bool
	}{
		{"busy", pw.Errorf(pw.EBUSY, "queue full"), 503, pw.EBUSY, true},
		{"unavailable is busy to clients", pw.Errorf(pw.EUNAVAILABLE, "shutting down"), 503, pw.EBUSY, true},
		{"business failure", pw.Errorf(pw.EINSUFFICIENT, "no"), 409, pw.EINSUFFICIENT, true},
		{"internal: outcome unknown", &pw.Error{Code: pw.EINTERNAL, Err: errors.New("disk I/O error at /secret/path")}, 500, pw.EINTERNAL, false},
		{"uncoded error is internal", errors.New("driver: connection reset (password=hunter2)"), 500, pw.EINTERNAL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, released := failingServer(tt.err)
			w := serve(srv, "POST", "/v1/transfers", validBody, map[string]string{
				"Authorization": "Bearer k", "Idempotency-Key": "key-1"})
			var p pwhttp.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.status || p.Code != tt.code || p.Status != tt.status {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tt.status, tt.code)
			}
			if (len(*released) == 1) != tt.release {
				t.Fatalf("released %v, want release %v", *released, tt.release)
			}
			if body := w.Body.String(); strings.Contains(body, "secret") || strings.Contains(body, "hunter2") {
				t.Fatalf("the cause leaked: %s", body)
			}
			if (w.Code == 503) != (w.Header().Get("Retry-After") != "") {
				t.Fatalf("Retry-After = %q on %d", w.Header().Get("Retry-After"), w.Code)
			}
		})
	}
}

// TestPanicIsInternal checks that a panicking handler answers a 500
// problem, and that the server keeps serving.
func TestPanicIsInternal(t *testing.T) {
	var released []string
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: fakeLedger{released: &released, mu: &sync.Mutex{},
			transfer: func(context.Context) (*pw.Transfer, error) { panic("boom: secret") }},
		Authenticator: pwhttp.NewOperatorAuthenticator("k"),
	})
	w := serve(srv, "POST", "/v1/transfers", `{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`,
		map[string]string{"Authorization": "Bearer k", "Idempotency-Key": "key-1"})
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") || len(released) != 0 {
		t.Fatalf("%d %s released=%v", w.Code, w.Body, released)
	}
}

type retryAfterError struct{ err *pw.Error }

func (e retryAfterError) Error() string             { return e.err.Error() }
func (e retryAfterError) RetryAfter() time.Duration { return 2500 * time.Millisecond }
func (e retryAfterError) Unwrap() error             { return e.err }

func TestErrorWriter(t *testing.T) {
	codes := map[string]int{
		pw.EINVALID: 400, pw.EIDEMREQUIRED: 400, pw.EUNAUTHORIZED: 401, pw.EFORBIDDEN: 403, pw.EMFAREQUIRED: 403,
		pw.ENOTFOUND: 404, pw.EACCOUNTNOTFOUND: 404, pw.EUSERNOTFOUND: 404, pw.EINSUFFICIENT: 409, pw.EIDEMINUSE: 409,
		pw.EHOLDNOTPENDING: 409, pw.EHOLDEXPIRED: 409, pw.EINTENTNOTPENDING: 409, pw.EINTENTCANCELLED: 409, pw.ETOOLARGE: 413, pw.ESAMEACCOUNT: 422,
		pw.ECURRENCYMISMATCH: 422, pw.ELIMIT: 422, pw.EIDEMREUSED: 422, pw.EREFUNDEXCEEDS: 422,
		pw.ENOTREFUNDABLE: 422, pw.EBATCHFAILED: 422, pw.ERATELIMITED: 429, pw.EINTERNAL: 500,
		pw.EBUSY: 503, pw.EMAINTENANCE: 503, pw.EUNAVAILABLE: 503,
	}
	for c, status := range codes {
		if got := pwhttp.StatusCode(c); got != status {
			t.Errorf("%s: status %d, want %d", c, got, status)
		}
		w := httptest.NewRecorder()
		pwhttp.Error(w, httptest.NewRequest("GET", "/", nil), pw.Errorf(c, "the message"))
		var p pwhttp.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != status || p.Status != status {
			t.Errorf("%s: %d %s", c, w.Code, w.Body)
		}
		if w.Header().Get("Content-Type") != "application/problem+json" || p.Type != pwhttp.ProblemTypeBase+p.Code {
			t.Errorf("%s: %v %s", c, w.Header(), w.Body)
		}
		if (status == 429 || status == 503) && w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", c)
		}
	}
	w := httptest.NewRecorder()
	pwhttp.Error(w, httptest.NewRequest("GET", "/", nil), pw.Errorf("no_such_code", "x"))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"code":"internal"`) {
		t.Errorf("unknown code: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	pwhttp.Error(w, httptest.NewRequest("GET", "/", nil), retryAfterError{pw.Errorf(pw.EBUSY, "x")})
	if w.Header().Get("Retry-After") != "3" {
		t.Errorf("Retry-After = %q, want the error's estimate rounded up", w.Header().Get("Retry-After"))
	}
	p := pwhttp.Problem{Type: "t", Title: "T", Status: 403, Code: "mfa_required", Extra: map[string]any{"challenge_id": "ch_1", "a": 1}}
	b, _ := json.Marshal(p)
	if string(b) != `{"type":"t","title":"T","status":403,"code":"mfa_required","a":1,"challenge_id":"ch_1"}` {
		t.Errorf("problem with extra members: %s", b)
	}
}

// TestCommitUnknownOutcome: a COMMIT cut before its answer came, whose
// outcome the store could not learn, may have moved money, so it is a 504
// outcome_unknown with Retry-After and "outcome":"unknown" (not a 500, as
// it is no bug; never a 503, which promises nothing moved), the claim on the key is given
// back so that the retry settles it at once (the store keeps a record its
// commit marked done; only a plain internal error keeps its claim until
// the lease ends), and the Go client wraps peakwallet.ErrCommitUnknown for
// errors.Is.
func TestCommitUnknownOutcome(t *testing.T) {
	cut := &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Op: "postgres.Update", Message: "the commit's outcome is unknown",
		Err: errors.Join(pw.ErrCommitUnknown, errors.New("unexpected EOF from 10.0.0.5:5432"))}
	for _, tt := range []struct {
		name    string
		err     error
		status  int
		code    string
		outcome string
	}{
		{"commit cut", cut, 504, pw.EOUTCOMEUNKNOWN, pwhttp.OutcomeUnknown},
		{"other internal error", &pw.Error{Code: pw.EINTERNAL, Err: errors.New("a bug")}, 500, pw.EINTERNAL, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, released := failingServer(tt.err)
			w := serve(srv, "POST", "/v1/transfers", `{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`,
				map[string]string{"Authorization": "Bearer k", "Idempotency-Key": "key-1"})
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if got, _ := body["outcome"].(string); w.Code != tt.status || body["code"] != tt.code || got != tt.outcome {
				t.Fatalf("%d %s, want %d %s with outcome %q", w.Code, w.Body, tt.status, tt.code, tt.outcome)
			}
			if ra := w.Header().Get("Retry-After"); (ra != "") != (tt.status == 504) {
				t.Fatalf("Retry-After %q on a %d", ra, w.Code)
			}
			if strings.Contains(w.Body.String(), "10.0.0.5") {
				t.Fatalf("cause leaked: %s", w.Body)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.outcome != ""]; len(*released) != want {
				t.Fatalf("claims released: %v, want %d", *released, want)
			}

			ts := httptest.NewServer(srv)
			defer ts.Close()
			c := pwhttp.NewClient(ts.URL, "k", ts.Client()).WithRetry(pwhttp.RetryPolicy{Attempts: 1})
			_, err := c.CreateTransfer(pw.NewContextWithIdempotencyKey(context.Background(), "key-2"),
				pw.TransferCreate{FromAccount: "acc_a", ToAccount: "acc_b", Amount: 5, Currency: "EUR"})
			if pw.ErrorCode(err) != tt.code || errors.Is(err, pw.ErrCommitUnknown) != (tt.outcome != "") {
				t.Fatalf("client error %v: errors.Is(ErrCommitUnknown) = %v", err, errors.Is(err, pw.ErrCommitUnknown))
			}
		})
	}
}

// failingServer is a server whose ledger fails every transfer with err,
// and the idempotency claims it released.
func failingServer(err error) (*pwhttp.Server, *[]string) {
	var released []string
	return pwhttp.NewServer(pwhttp.Config{
		Ledger: fakeLedger{released: &released, mu: &sync.Mutex{},
			transfer: func(context.Context) (*pw.Transfer, error) { return nil, err }},
		Authenticator: pwhttp.NewOperatorAuthenticator("k"),
	}), &released
}

// TestProblemBodiesFromTheCache: a refusal's body comes from a cache of
// plain problems (BenchmarkRefusal), and must be byte for byte what
// encoding the problem gives (replays compare bytes): for plain problems
// on first and later use, for problems with a field, an outcome or extra
// members (never cached), and for more distinct details than the cache
// holds. Two callers appending to the same cached body do not write into
// each other's.
func TestProblemBodiesFromTheCache(t *testing.T) {
	pwhttp.ResetProblemCache()
	busy := &pw.Error{Code: pw.EBUSY, Message: "busy"}
	_, first := pwhttp.RenderError(busy)
	_, again := pwhttp.RenderError(busy)
	a, b := append(first, 'A'), append(again, 'B')
	if a[len(a)-1] != 'A' || b[len(b)-1] != 'B' || string(first) != string(again) {
		t.Errorf("two appends to a cached body share its memory: %q, %q", a, b)
	}

	var errs []error
	for range 2 {
		errs = append(errs,
			&pw.Error{Code: pw.EBUSY, Message: "the server cannot finish the request before its deadline", Retry: 3 * time.Second},
			&pw.Error{Code: pw.ERATELIMITED, Message: "slow down"},
			&pw.Error{Code: pw.EINVALID, Message: "amount must be positive", Field: "amount"},
			&pw.Error{Code: pw.EINVALID, Message: "amount must be positive"},
			&pw.Error{Code: pw.EOUTCOMEUNKNOWN, Err: pw.ErrCommitUnknown},
			errors.New("a cause the client never sees"),
			extraError{pw.Errorf(pw.EMFAREQUIRED, "step up <now> & then retry")},
		)
	}
	for i := range 2 * pwhttp.ProblemCacheMax {
		errs = append(errs, pw.Errorf(pw.EINVALID, "account acc_%d does not exist", i))
	}
	for i, err := range errs {
		want, jerr := json.Marshal(pwhttp.ProblemFor(err))
		if jerr != nil {
			t.Fatal(jerr)
		}
		want = append(want, '\n')
		for range 2 {
			w := httptest.NewRecorder()
			pwhttp.Error(w, httptest.NewRequest("POST", "/v1/transfers", nil), err)
			if got := w.Body.String(); got != string(want) {
				t.Fatalf("error %d (%v):\n got %s\nwant %s", i, err, got, want)
			}
		}
	}
	if n := pwhttp.RenderedProblems(); n > pwhttp.ProblemCacheMax || n < 4 {
		t.Errorf("the cache holds %d bodies, want between 4 and %d", n, pwhttp.ProblemCacheMax)
	}
}

type extraError struct{ error }

func (extraError) ProblemExtra() map[string]any { return map[string]any{"challenge_id": "ch_1"} }
func (e extraError) Unwrap() error              { return e.error }

// TestAReplayFoundByTheBatchIsAnsweredAsAReplay: the ledger's batch found
// the key finished by another request with the same content (another
// process's, during a handover: ADR 0036) and ran nothing. The client gets
// that request's remembered status and body, marked Idempotent-Replayed,
// exactly as if the claim had found it, and this request's claim is given
// back.
func TestAReplayFoundByTheBatchIsAnsweredAsAReplay(t *testing.T) {
	remembered := `{"id":"tr_first","amount":5}`
	srv, released := failingServer(&pw.Replayed{Record: &pw.IdempotencyRecord{
		IdempotencyKey: pw.IdempotencyKey{Principal: "operator:root", Key: "key-1"},
		State:          pw.IdempotencyDone, Status: 201, Body: []byte(remembered)}})
	w := serve(srv, "POST", "/v1/transfers", `{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`,
		map[string]string{"Authorization": "Bearer k", "Idempotency-Key": "key-1"})
	if w.Code != 201 || w.Body.String() != remembered || w.Header().Get(pwhttp.HeaderIdempotencyReplayed) != "true" {
		t.Fatalf("%d %q (replayed %q), want 201 %s replayed", w.Code, w.Body, w.Header().Get(pwhttp.HeaderIdempotencyReplayed), remembered)
	}
	if len(*released) != 1 {
		t.Fatalf("claims released: %v, want this request's", *released)
	}
}

// TestTheSettlerSettlesAnIntentFromAReplayFoundByTheBatch: during a
// handover both processes' settlers may take the same pending intent; the
// second one's batch finds its key finished and runs nothing (ADR 0036).
// The intent is then settled from the remembered answer, as posted with
// the first one's transfer, not failed and not paid again.
func TestTheSettlerSettlesAnIntentFromAReplayFoundByTheBatch(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "intents.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	in := &pw.Intent{ID: pw.NewID("int", now), Principal: "operator:root", IdempotencyKey: "settled-elsewhere",
		Fingerprint: "f", Body: []byte(`{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`),
		Authorized: true, Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
	if _, err := store.CreateIntent(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var released []string
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: fakeLedger{released: &released, mu: &sync.Mutex{},
			transfer: func(context.Context) (*pw.Transfer, error) {
				return nil, &pw.Replayed{Record: &pw.IdempotencyRecord{State: pw.IdempotencyDone, Status: 201,
					Body: []byte(`{"id":"tr_first","from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`)}}
			}},
		Authenticator: pwhttp.NewOperatorAuthenticator("k"),
		Intents:       store,
	})
	if n, err := srv.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	got, err := store.Intent(context.Background(), in.ID)
	if err != nil || got.Status != pw.IntentPosted || got.TransferID != "tr_first" {
		t.Fatalf("intent %+v, %v; want posted as tr_first", got, err)
	}
	if len(released) != 1 {
		t.Fatalf("claims released: %v, want the settler's", released)
	}
}
