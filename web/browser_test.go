package web_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/peakwallet/peakwallet/internal/browsertest"
	"github.com/peakwallet/peakwallet/web"
)

// The browser tests here drive Chromium through chromedp against the web
// app and a fake JSON API that each test scripts: what the scripts do
// with an answer that comes late, never, or with a figure beyond what a
// JavaScript number holds. The API's own behaviour is tested against the
// real server in cmd/peakwallet's browser tests. Locally they skip when
// Chromium is missing; in CI (CI or PEAKWALLET_REQUIRE_BROWSER set) they
// fail instead.

// BrowserStepTimeout bounds one step, so that a broken page fails fast.
const BrowserStepTimeout = 30 * time.Second

// fakeAPI answers the few API routes the app calls, as the test sets it.
type fakeAPI struct {
	mu sync.Mutex
	// quit ends every answer still held, when the test ends.
	quit chan struct{}
	// wallets is the body of GET /v1/wallets; the first walletsRefused
	// reads of it answer 503 busy, and walletReads counts them all.
	wallets        string
	walletsRefused int
	walletReads    int
	// walletsEnded, meEnded: GET /v1/wallets, GET /v1/me answer 401
	// unauthorized, as the server does once the session has ended
	// elsewhere (a password reset, Log out in another tab).
	walletsEnded, meEnded bool
	// currenciesRefused: GET /v1/currencies answers 503 busy.
	currenciesRefused bool
	// queue: POST /v1/transfers answers 202 queued (int_1), pending,
	// instead of 201 paid.
	queue bool
	// holdIntent: GET /v1/intents/int_1 is held until releaseIntent, then
	// answered posted; without, it is answered pending at once.
	holdIntent  bool
	intentGo    chan struct{}
	intentReads int
	// hangStatus: each GET /v1/status numbered in it is held until
	// releaseStatus (or until the browser gives it up); statusState is the
	// state the others, and the held ones once released, say.
	hangStatus      map[int]bool
	statusGo        chan struct{}
	statusState     string
	statusReads     int
	statusCancelled int
	// busy: POST /v1/transfers answers 503 busy, Retry-After: 30, or
	// busyRetryAfter when set. A payment without a session is 401.
	busy           bool
	busyRetryAfter string
	// hangPay: each POST /v1/transfers numbered in it is held until the
	// browser gives it up (payCancelled counts those) or the test ends.
	hangPay      map[int]bool
	payCancelled int
	// hangSummary: GET /v1/ops/summary is held until the browser gives it
	// up (summaryCancelled counts those) or the test ends.
	hangSummary      bool
	summaryCancelled int
	// summary, status: the bodies of GET /v1/ops/summary and GET
	// /v1/status, when set (status: for the reads not held).
	summary, status string
	// transfers, keys: the bodies and Idempotency-Keys of POST /v1/transfers.
	transfers []map[string]any
	keys      []string
	// hangLogout: DELETE /v1/sessions/current is held until the browser
	// gives it up (logoutCancelled counts those) or the test ends, else
	// answered 204; logouts are the Authorization headers it came with.
	hangLogout      bool
	logouts         []string
	logoutCancelled int
	// intents: the body of GET /v1/intents, when set.
	intents string
	// POST /v1/intents/{id}/cancel: each one numbered in hangCancel is held
	// until the browser gives it up (cancelCancelled counts those) or the
	// test ends; the others answer the intent cancelled by an operator, or
	// 409 intent_not_pending (the intent posted) when its id is in
	// tooLate, or cancelled by its payer when in payerCancelled. cancels
	// are the ids and reasons asked ("int_1 because").
	hangCancel      map[int]bool
	tooLate         map[string]bool
	payerCancelled  map[string]bool
	cancels         []string
	cancelCancelled int
	// verify: the body of POST /v1/verify's answer, when its anchors are
	// well formed ("seq:hash", 64 lowercase hex digits); a malformed one
	// is answered 400 invalid naming it (field audit_anchors[i]), as the
	// server does. verifyBodies are the request bodies it came with.
	verify       string
	verifyBodies []string
	// users: the body of GET /v1/users?handle= for each handle, as the
	// server normalises it (spaces, dashes and parentheses dropped,
	// lower-cased); another handle is 404 user_not_found, one that is not
	// an email address or a phone number 400 on field handle. lookups are
	// the handles asked, as sent.
	users   map[string]string
	lookups []string
	// usersByID: the body of GET /v1/users/{id} for each ID; another is
	// 404 user_not_found on field id, as the server answers. idLookups
	// are the IDs asked.
	usersByID map[string]string
	idLookups []string
	// accounts: the bodies of GET /v1/accounts/... by path (an account,
	// its transfers); another path answers an empty list.
	accounts map[string]string
	// me: the body of GET /v1/me, when set; else ann's, as a server before
	// 2026-11-29 says it (no step_up_thresholds, no totp_enabled). meReads
	// counts the reads; meRefused answers them 503 busy.
	me        string
	meReads   int
	meRefused bool
	// refundAnswers: the answers of POST /v1/transfers/tr_in/refunds in
	// turn, "503 busy" or "504 outcome_unknown" (with Retry-After: 1);
	// past them, 201 with the refund, which GET /v1/transfers/tr_in (Ann's
	// payment of 25.00 EUR to acc_1) then counts in refunded_amount.
	// refundKeys are the Idempotency-Keys they came with.
	refundAnswers []string
	refundKeys    []string
	refunded      int64
}

// anchorForm is the form of an audit anchor (auth.ParseAuditAnchor).
var anchorForm = regexp.MustCompile(`^[1-9][0-9]*:[0-9a-f]{64}$`)

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	route := r.Method + " " + r.URL.Path
	answer := func(status int, body string) {
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	switch {
	case route == "GET /v1/currencies":
		if f.currenciesRefused {
			w.Header().Set("Retry-After", "1")
			answer(503, `{"code":"busy","detail":"the server is at capacity"}`)
			return
		}
		answer(200, `{"data":[{"code":"EUR","exponent":2},{"code":"JPY","exponent":0}]}`)
	case route == "GET /v1/wallets":
		f.walletReads++
		if f.walletsEnded {
			answer(401, `{"code":"unauthorized","detail":"the session has ended"}`)
			return
		}
		if f.walletReads <= f.walletsRefused {
			w.Header().Set("Retry-After", "1")
			answer(503, `{"code":"busy","detail":"the server is at capacity"}`)
			return
		}
		answer(200, f.wallets)
	case route == "GET /v1/me":
		f.meReads++
		if f.meEnded {
			answer(401, `{"code":"unauthorized","detail":"the session has ended"}`)
			return
		}
		if f.meRefused {
			w.Header().Set("Retry-After", "1")
			answer(503, `{"code":"busy","detail":"the server is at capacity"}`)
			return
		}
		answer(200, cmp.Or(f.me, `{"id":"usr_1","handle":"ann@example.com"}`))
	case route == "GET /v1/intents":
		if f.intents != "" {
			answer(200, f.intents)
			return
		}
		answer(200, `{"data":[]}`)
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v1/intents/") && strings.HasSuffix(r.URL.Path, "/cancel"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/intents/"), "/cancel")
		var body struct{ Reason string }
		json.NewDecoder(r.Body).Decode(&body)
		f.cancels = append(f.cancels, id+" "+body.Reason)
		if f.hangCancel[len(f.cancels)] {
			f.hold(r, &f.cancelCancelled)
			return
		}
		if f.tooLate[id] {
			answer(409, fmt.Sprintf(`{"code":"intent_not_pending","detail":"already made","intent":{"id":%q,"status":"posted","transfer_id":"tr_1"}}`, id))
			return
		}
		by := "operator"
		if f.payerCancelled[id] {
			by = "payer"
		}
		answer(200, fmt.Sprintf(`{"id":%q,"status":"failed","error":{"code":"intent_cancelled","cancelled_by":%q}}`, id, by))
	case route == "GET /v1/ops/summary":
		if f.hangSummary {
			f.hold(r, &f.summaryCancelled)
			return
		}
		if f.summary != "" {
			answer(200, f.summary)
			return
		}
		answer(200, `{"time":"2026-11-29T12:00:00Z","operator":{"id":"op_1","role":"admin"},"requests":0,"busy":0}`)
	case route == "DELETE /v1/sessions/current":
		f.logouts = append(f.logouts, r.Header.Get("Authorization"))
		if f.hangLogout {
			f.hold(r, &f.logoutCancelled)
			return
		}
		answer(204, "")
	case route == "POST /v1/verify":
		body, _ := io.ReadAll(r.Body)
		f.verifyBodies = append(f.verifyBodies, string(body))
		var req struct {
			AuditAnchors []string `json:"audit_anchors"`
		}
		if len(body) > 0 {
			json.Unmarshal(body, &req)
		}
		for i, a := range req.AuditAnchors {
			if !anchorForm.MatchString(strings.TrimSpace(a)) {
				detail, _ := json.Marshal(fmt.Sprintf("audit anchor %q: want seq:hash", a))
				answer(400, fmt.Sprintf(`{"code":"invalid","field":"audit_anchors[%d]","detail":%s}`, i, detail))
				return
			}
		}
		answer(200, f.verify)
	case route == "GET /v1/forecast/recommendations":
		answer(200, `{"summary":""}`)
	case route == "GET /v1/users":
		handle := r.URL.Query().Get("handle")
		f.lookups = append(f.lookups, handle)
		norm := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(handle))
		if body, ok := f.users[norm]; ok {
			answer(200, body)
			return
		}
		if !strings.Contains(norm, "@") && !strings.HasPrefix(norm, "+") {
			answer(400, `{"code":"invalid_request","field":"handle","detail":"handle must be an email address or a phone number"}`)
			return
		}
		answer(404, `{"code":"user_not_found","field":"handle","detail":"no user has that handle"}`)
	case strings.HasPrefix(route, "GET /v1/users/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/users/")
		f.idLookups = append(f.idLookups, id)
		if body, ok := f.usersByID[id]; ok {
			answer(200, body)
			return
		}
		answer(404, `{"code":"user_not_found","field":"id","detail":"no user has that id"}`)
	case strings.HasPrefix(route, "GET /v1/accounts/"):
		if body, ok := f.accounts[r.URL.Path]; ok {
			answer(200, body)
			return
		}
		answer(200, `{"data":[]}`)
	case route == "GET /v1/transfers/tr_in":
		answer(200, fmt.Sprintf(`{"id":"tr_in","kind":"payment","from_account":"acc_9","to_account":"acc_1","amount":2500,"refunded_amount":%d,"currency":"EUR","status":"posted","created_at":"2026-11-29T12:00:00Z","from_party":{"kind":"user","handle":"bob@example.com"},"to_party":{"kind":"user","handle":"ann@example.com"}}`, f.refunded))
	case route == "POST /v1/transfers/tr_in/refunds":
		f.refundKeys = append(f.refundKeys, r.Header.Get("Idempotency-Key"))
		if n := len(f.refundKeys); n <= len(f.refundAnswers) {
			status, code, _ := strings.Cut(f.refundAnswers[n-1], " ")
			w.Header().Set("Retry-After", "1")
			st, _ := strconv.Atoi(status)
			outcome := "" // a 503 moved nothing; a 504 may have
			if st == 504 {
				outcome = `"outcome":"unknown",`
			}
			answer(st, fmt.Sprintf(`{"code":%q,%s"detail":"not now"}`, code, outcome))
			return
		}
		var body struct{ Amount int64 }
		json.NewDecoder(r.Body).Decode(&body)
		f.refunded += body.Amount
		answer(201, fmt.Sprintf(`{"id":"tr_rf","kind":"refund","refund_of":"tr_in","from_account":"acc_1","to_account":"acc_9","amount":%d,"currency":"EUR","status":"posted"}`, body.Amount))
	case route == "GET /v1/transfers/tr_1":
		answer(200, `{"id":"tr_1","from_account":"acc_1","to_account":"acc_2","amount":1250,"currency":"EUR","status":"posted","created_at":"2026-11-29T12:00:00Z"}`)
	case route == "GET /v1/transfers/tr_big":
		answer(200, `{"id":"tr_big","from_account":"acc_1","to_account":"acc_2","amount":9223372036854775807,"refunded_amount":9007199254740993,"currency":"EUR","status":"posted","created_at":"2026-11-29T12:00:00Z"}`)
	case route == "POST /v1/transfers" && r.Header.Get("Authorization") == "":
		answer(401, `{"code":"unauthorized","detail":"no session"}`)
	case route == "POST /v1/transfers":
		var body map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			answer(400, `{"code":"invalid_request","detail":"bad body"}`)
			return
		}
		f.transfers = append(f.transfers, body)
		f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
		if f.hangPay[len(f.keys)] {
			f.hold(r, &f.payCancelled)
			return
		}
		if f.busy {
			w.Header().Set("Retry-After", cmp.Or(f.busyRetryAfter, "30"))
			answer(503, `{"code":"busy","detail":"the server is busy"}`)
			return
		}
		if f.queue {
			w.Header().Set("Location", "/v1/intents/int_1")
			answer(202, `{"id":"int_1","status":"pending"}`)
			return
		}
		answer(201, `{"id":"tr_1","amount":1250,"currency":"EUR","status":"posted"}`)
	case route == "GET /v1/intents/int_1":
		f.intentReads++
		if !f.holdIntent {
			answer(200, `{"id":"int_1","status":"pending"}`)
			return
		}
		release := f.intentGo
		f.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-f.quit:
			return
		}
		f.mu.Lock()
		answer(200, `{"id":"int_1","status":"posted","transfer_id":"tr_1"}`)
	case route == "GET /v1/status":
		f.statusReads++
		if f.hangStatus[f.statusReads] {
			release := f.statusGo
			f.mu.Unlock()
			select {
			case <-release:
			case <-r.Context().Done():
				f.mu.Lock()
				f.statusCancelled++
				f.mu.Unlock()
				return
			case <-f.quit:
				return
			}
			f.mu.Lock()
		}
		if f.status != "" {
			answer(200, f.status)
			return
		}
		answer(200, fmt.Sprintf(`{"state":%q,"time":%q,"maintenance":[]}`, f.statusState, time.Now().UTC().Format(time.RFC3339)))
	default:
		answer(404, `{"code":"not_found","detail":"no such route in the fake API"}`)
	}
}

// hold is called with f.mu held and unlocks it: it holds r unanswered
// until the browser gives it up, which it counts in cancelled, or the test
// ends.
func (f *fakeAPI) hold(r *http.Request, cancelled *int) {
	f.mu.Unlock()
	select {
	case <-r.Context().Done():
		f.mu.Lock()
		*cancelled++
		f.mu.Unlock()
	case <-f.quit:
	}
}

func (f *fakeAPI) set(change func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeAPI) read(v func(f *fakeAPI) int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return v(f)
}

// scene is the web app and the fake API on one origin, and a browser tab.
type scene struct {
	ctx  context.Context
	api  *fakeAPI
	base string
}

func newScene(t *testing.T) *scene {
	t.Helper()
	f := &fakeAPI{quit: make(chan struct{}), intentGo: make(chan struct{}), statusGo: make(chan struct{}), statusState: "normal",
		wallets: `{"data":[{"id":"acc_1","currency":"EUR","balance":{"available":20000,"posted":20000,"pending_out":0,"pending_in":0}}]}`}
	mux := http.NewServeMux()
	mux.Handle("/v1/", f)
	mux.Handle("/", web.New(nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(f.quit) }) // runs before srv.Close: no answer is left held
	bctx := browsertest.Start(t, 2*time.Minute)
	return &scene{ctx: bctx, api: f, base: srv.URL}
}

// shortenLimits divides the time limit of every API request the pages
// make (api in common.js, an AbortSignal.timeout) by scale, and keeps each
// limit asked for in window.limitsAsked. It wraps AbortSignal.timeout in
// every document before the page's scripts run, so that a test need not
// wait 20 s for a request to be given up, and the product has no switch
// for it. Call it before the first navigation.
func (s *scene) shortenLimits(t *testing.T, scale int) {
	t.Helper()
	src := fmt.Sprintf(`(() => {
		const timeout = AbortSignal.timeout.bind(AbortSignal);
		window.limitsAsked = [];
		AbortSignal.timeout = (ms) => { window.limitsAsked.push(ms); return timeout(ms / %d); };
	})();`, scale)
	s.do(t, "shorten the API's time limits", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
}

// do runs browser actions and fails the test with what it was doing.
func (s *scene) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(s.ctx, BrowserStepTimeout)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		text, _ := chromedp.Run(s.ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](t *testing.T, s *scene, js string) T {
	t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func js(code string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](code)(ctx, tg)
		return chromedp.Void{}, err
	}
}

func until(code string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](code)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// open opens the app signed in (a session token in the tab), at hash.
func (s *scene) open(t *testing.T, hash string, storage map[string]string) {
	t.Helper()
	set := `sessionStorage.setItem("pw_token", "tok");`
	for k, v := range storage {
		set += fmt.Sprintf("sessionStorage.setItem(%q, %q);", k, v)
	}
	s.do(t, "open the app at "+hash,
		chromedp.Navigate(s.base+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		js(set),
		js(fmt.Sprintf("location.hash = %q", hash)),
		chromedp.WaitVisible(chromedp.CSS("#nav")),
	)
}

// send fills the send form with amount (as typed) to Bob and submits it.
func (s *scene) send(t *testing.T, amount string) {
	t.Helper()
	s.do(t, "send "+amount,
		js(`location.hash = "#/send"`),
		chromedp.WaitVisible(chromedp.CSS("#send-form")),
		chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="EUR"]`)),
		js(fmt.Sprintf(`document.querySelector("#send-to").value = "bob@example.com";
			document.querySelector("#send-amount").value = %q;
			document.querySelector("#send-form").requestSubmit()`, amount)),
	)
}

// leave goes from the shown view to the wallets view, as the nav does.
func (s *scene) leave(t *testing.T) {
	t.Helper()
	s.do(t, "leave for the wallets view", js(`location.hash = "#/wallets"`), chromedp.WaitVisible(chromedp.CSS(".wallet")))
}
