package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peakwallet/peakwallet/internal/browsertest"
)

// The browser tests drive Debian's Chromium through chromedp against the
// real binary. Locally they skip when Chromium is missing; in CI (CI or
// PEAKWALLET_REQUIRE_BROWSER set) they fail instead, so a missing browser
// can never turn them green by skipping.

// BrowserTestTimeout bounds one browser scenario end to end.
const BrowserTestTimeout = 3 * time.Minute

// BrowserStepTimeout bounds one step, so that a broken page fails fast
// and names the step.
const BrowserStepTimeout = 30 * time.Second

// screenshotDir is where the runs write the screenshots docs/screenshots.md shows.
const screenshotDir = "../../docs/screenshots"

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab's context (internal/browsertest), without QUIC or sync, at a phone's
// width for the screenshots.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, BrowserTestTimeout,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(412, 900))
}

// run runs browser actions and fails the test with what it was doing.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond)) }()
	step, cancel := context.WithTimeout(ctx, BrowserStepTimeout)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		failureScreenshot(t, ctx)
		t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
}

// screenshot writes the page as docs/screenshots/NAME.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// failureScreenshot keeps the page of a failed step in the test's
// temporary directory (not in docs/).
func failureScreenshot(t *testing.T, ctx context.Context) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return
	}
	path := filepath.Join(os.TempDir(), "peakwallet-browser-failure.png")
	if os.WriteFile(path, png, 0o644) == nil {
		t.Logf("the page at the failure: %s", path)
	}
}

// readInto is an action that stores what a reading action returns in v.
func readInto[T any](v *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		got, err := a(ctx, tg)
		*v = got
		return chromedp.Void{}, err
	}
}

// evalVoid runs JavaScript for its effect.
func evalVoid(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](js)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// submit submits a form as a person does (requestSubmit fires the
// submit event the app listens to; chromedp.Submit's form.submit() does not).
func submit(form string) chromedp.Action[chromedp.Void] {
	return evalVoid(fmt.Sprintf("document.querySelector(%q).requestSubmit()", form))
}

// waitReloaded waits, across a page load, until js is true on the new
// page: an evaluation that meets the navigation fails, and is tried again.
func waitReloaded(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	deadline := time.Now().Add(BrowserStepTimeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			failureScreenshot(t, ctx)
			t.Fatalf("the page did not reload to %s: %v", js, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pollTrue waits until a JavaScript expression is true.
func pollTrue(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](js)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// proxyMode makes the proxy in front of the server answer payments as an
// overloaded server would. It is test-only: the real server has no such
// switch.
type proxyMode int

const (
	modePass              proxyMode = iota
	modeBusy                        // the next payment: 503 busy, Retry-After: 2; then pass
	modeQueued                      // the next payment: pay upstream, answer 202 queued, settle on the third poll
	modeAnswerLost                  // the next payment: pay upstream, answer 504 outcome_unknown (a commit cut); then modeBusyThenGateway
	modeBusyThenGateway             // the next payment: 503 busy, Retry-After: 2; then modeGateway
	modeGateway                     // the next payment: a gateway's 502 in HTML, not the API's answer; then pass
	modeLostThenSignedOut           // the next payment: pay upstream, answer 504 outcome_unknown; then modeSignedOut
	modeSignedOut                   // the next payment: 401 unauthorized (the session ended); then pass
	modeQueuedCancel                // the next payment: not made; answer 202 queued (int_cancel), pending until cancelled; its cancellation: 200, failed intent_cancelled
	modeQueuedTooLate               // the next payment: pay upstream, answer 202 queued (int_late), pending; its first cancellation: 503 busy, Retry-After: 2; the next: 409 intent_not_pending, and it reads posted from then on
	modeKeyInUse                    // the next payment: 409 idempotency_key_in_use, Retry-After: 1 (an earlier try still being made); then pass
	modeQueuedEnded                 // the next payment: not made; answer 202 queued (int_ended), pending on its first read, then failed unauthorized (the session that queued it was ended)
	modeQueuedMaintenance           // the next payment: not made; answer 202 queued (int_maint), pending; its cancellation: the server's own refusal while it refuses writes (503 maintenance in a read-only window), else 200, failed intent_cancelled
	modeQueuedThenPaid              // the next payment: pay upstream, answer 202 queued (int_paid), pending until the test settles it (postIntent); its cancellation: the server's own refusal while it refuses writes, else 409 intent_not_pending
	modeMaintenanceStale            // every payment: 503 maintenance, Retry-After: 600, although the status says no window is in force (a process whose schedule lags the status's); until set otherwise
	modeStepUp                      // the next payment: not made; 403 mfa_required (a step-up: confirm it is you); then pass
)

// intentIDs names the intent each queuing mode answers with; a mode used
// again numbers it: int_cancel, int_cancel2, …
var intentIDs = map[proxyMode]string{
	modeQueued:        "int_test",
	modeQueuedCancel:  "int_cancel",
	modeQueuedTooLate: "int_late",
	modeQueuedEnded:   "int_ended",

	modeQueuedMaintenance: "int_maint",
	modeQueuedThenPaid:    "int_paid",
}

// thenMode is the mode that follows the one that answered a payment: a
// chain of answers to the tries of one payment, then modePass (the zero
// value) for every mode not named.
var thenMode = map[proxyMode]proxyMode{
	modeAnswerLost:        modeBusyThenGateway,
	modeBusyThenGateway:   modeGateway,
	modeLostThenSignedOut: modeSignedOut,
	modeMaintenanceStale:  modeMaintenanceStale,
}

// faultProxy forwards everything to the server, except what its mode says.
// The surge queue is the proxy's: it answers the reads, cancellations and
// list of the intents it queued (GET /v1/intents lists only those: the
// server queues none in these tests), as the server would for whoever asks
// (who that is, the server says: GET /v1/me), and the ops summary's
// surge_queue_oldest_seconds and surge_queue_pending are its queue's.
type faultProxy struct {
	*httptest.Server
	upstream  *url.URL
	mu        sync.Mutex
	mode      proxyMode
	keys      []string               // Idempotency-Keys of the payments seen
	intents   map[string]*fakeIntent // the intents the proxy answered 202 with, by ID
	order     []string               // their IDs, in the order they were queued
	listReads int                    // GET /v1/intents answered
	// statusReads counts GET /v1/status; while failStatus is set they
	// fail, in turn a 503 busy and a connection closed with no answer.
	statusReads int
	failStatus  bool
	// failSummary: GET /v1/ops/summary is closed with no answer, as by a
	// server out of reach.
	failSummary bool
	// places: pending intents written out carry queue_position, as the
	// server's do since 2026-11-28 (without, as an older server's do not):
	// ahead, the pending intents queued before it, and a wait of 4 s each.
	places bool
	// headCount is the queue's length as the server's summary last said
	// it (surge_queue_pending.count), which, like the server's, may be up
	// to a second older than its oldest wait: once the queue empties the
	// proxy keeps saying the last length it counted.
	headCount int
}

// fakeIntent is an intent the proxy queued, answered in the shape of
// pw.Intent; it counts what the app asked of it.
type fakeIntent struct {
	mode             proxyMode // the mode that queued it
	principal        string    // who queued it: "user:ID" or "operator"
	key              string    // the payment's Idempotency-Key
	request          []byte    // the payment's body
	created          time.Time // when it was queued
	transfer         []byte    // the answer of the payment made upstream, if it was made
	polls            int       // reads (GET /v1/intents/{id})
	pollsAfterCancel int       // reads after a cancellation answered 200
	cancels          []string  // the Authorization of each POST /v1/intents/{id}/cancel
	cancelled        bool      // a cancellation was answered 200
	reasons          []string  // the reasons of operators' stops (cancellations by another than its payer)
	posted           bool      // it reads posted with its transfer
	ended            bool      // it reads failed unauthorized
	place            any       // its queue_position while pending (placeAll), or nil
}

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{upstream: u, intents: map[string]*fakeIntent{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/transfers":
			p.keys = append(p.keys, r.Header.Get("Idempotency-Key"))
			switch p.mode {
			case modeBusy, modeBusyThenGateway:
				p.mode = thenMode[p.mode]
				w.Header().Set("Retry-After", "2")
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"type":"https://peakwallet.dev/problems/busy","title":"Busy","status":503,"code":"busy","detail":"the server is busy"}`)
				return
			case modeGateway:
				p.mode = thenMode[p.mode]
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
				return
			case modeSignedOut:
				p.mode = thenMode[p.mode]
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"type":"https://peakwallet.dev/problems/unauthorized","title":"Unauthorized","status":401,"code":"unauthorized","detail":"the session has ended"}`)
				return
			case modeAnswerLost, modeLostThenSignedOut:
				p.mode = thenMode[p.mode] // the check that follows is refused before the server looks at its key
				p.forward(t, r)
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusGatewayTimeout)
				io.WriteString(w, `{"type":"https://peakwallet.dev/problems/outcome_unknown","title":"Outcome unknown","status":504,"code":"outcome_unknown","detail":"the commit's outcome is unknown","outcome":"unknown"}`)
				return
			case modeKeyInUse:
				p.mode = thenMode[p.mode]
				writeProblem(w, http.StatusConflict, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress", "1")
				return
			case modeStepUp:
				p.mode = thenMode[p.mode]
				writeProblem(w, http.StatusForbidden, "mfa_required", "confirm it is you: send the code of your authenticator app in MFA-Code", "")
				return
			case modeMaintenanceStale:
				p.mode = thenMode[p.mode]
				writeProblem(w, http.StatusServiceUnavailable, "maintenance", "the wallet is in scheduled read-only maintenance", "600")
				return
			case modeQueued, modeQueuedCancel, modeQueuedTooLate, modeQueuedEnded, modeQueuedMaintenance, modeQueuedThenPaid:
				who, status := p.principal(t, r)
				if who == "" {
					writeProblem(w, status, "unauthorized", "authentication required", "")
					return
				}
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				in := &fakeIntent{mode: p.mode, principal: who, key: r.Header.Get("Idempotency-Key"), request: body, created: time.Now()}
				id := intentIDs[p.mode]
				for n := 2; p.intents[id] != nil; n++ {
					id = intentIDs[in.mode] + strconv.Itoa(n)
				}
				p.mode = thenMode[p.mode]
				if in.mode != modeQueuedCancel && in.mode != modeQueuedEnded && in.mode != modeQueuedMaintenance {
					in.transfer = p.forward(t, r)
				}
				p.intents[id] = in
				p.order = append(p.order, id)
				p.placeAll()
				w.Header().Set("Location", "/v1/intents/"+id)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				io.WriteString(w, in.json(t, id))
				return
			}
		case r.Method == "GET" && r.URL.Path == "/v1/intents":
			p.list(t, w, r)
			return
		case r.Method == "GET" && r.URL.Path == "/v1/status":
			p.statusReads++
			if p.failStatus {
				p.failStatusRead(t, w)
				return
			}
		case r.Method == "GET" && r.URL.Path == "/v1/ops/summary":
			if p.failSummary {
				closeUnanswered(t, w)
				return
			}
			p.summary(t, w, r)
			return
		case strings.HasPrefix(r.URL.Path, "/v1/intents/"):
			id, action, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/intents/"), "/")
			if in := p.intents[id]; in != nil {
				who, status := p.principal(t, r)
				switch {
				case who == "":
					writeProblem(w, status, "unauthorized", "authentication required", "")
				case who != in.principal && who != "operator":
					writeProblem(w, http.StatusNotFound, "not_found", "intent not found", "")
				case who != in.principal && action == "cancel":
					// An operator stops someone's payment on the payer's
					// behalf, with a reason (400 field reason without).
					var body struct{ Reason string }
					if json.NewDecoder(r.Body).Decode(&body) != nil || strings.TrimSpace(body.Reason) == "" {
						w.Header().Set("Content-Type", "application/problem+json")
						w.WriteHeader(http.StatusBadRequest)
						io.WriteString(w, `{"type":"https://peakwallet.dev/problems/invalid_request","title":"Bad Request","status":400,"code":"invalid_request","field":"reason","detail":"reason is required"}`)
						return
					}
					in.reasons = append(in.reasons, body.Reason)
					in.serve(t, w, r, id, action)
				case (in.mode == modeQueuedMaintenance || in.mode == modeQueuedThenPaid) && action == "cancel" && !in.cancelled && p.refusedUpstream(t, w, r):
					// The server refused the cancellation, as it refuses any write now.
					in.cancels = append(in.cancels, r.Header.Get("Authorization"))
				default:
					p.placeAll()
					in.serve(t, w, r, id, action)
				}
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// serve answers a read of the intent, or its cancellation (action
// "cancel"), as the server would in the intent's mode.
func (in *fakeIntent) serve(t *testing.T, w http.ResponseWriter, r *http.Request, id, action string) {
	switch {
	case r.Method == "GET" && action == "":
		in.polls++
		if in.cancelled {
			in.pollsAfterCancel++
		}
		if in.mode == modeQueued && in.polls >= 3 {
			in.posted = true // it settles on the third poll
		}
		if in.mode == modeQueuedEnded && in.polls >= 2 {
			in.ended = true // its session was ended before the settler came to it
		}
	case r.Method == "POST" && action == "cancel":
		in.cancels = append(in.cancels, r.Header.Get("Authorization"))
		switch {
		case in.cancelled:
			// Cancelled again: 200 with the intent as it is.
		case in.mode == modeQueuedCancel, in.mode == modeQueuedMaintenance:
			in.cancelled = true // 200 with the intent, failed intent_cancelled
		case in.mode == modeQueuedTooLate && len(in.cancels) == 1:
			writeProblem(w, http.StatusServiceUnavailable, "busy", "the server is busy", "2")
			return
		default:
			if in.mode == modeQueued {
				t.Errorf("the app cancelled %s, which the journey did not ask it to", id)
			}
			in.posted = true // settled before the cancellation: too late
			writeProblem(w, http.StatusConflict, "intent_not_pending", "this payment was already made: it cannot be cancelled", "")
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, in.json(t, id))
}

// json is the intent in the shape of pw.Intent, with the payment it makes
// (request): pending (with its queue_position when the proxy gives
// places); posted with its transfer's ID; or failed intent_cancelled.
func (in *fakeIntent) json(t *testing.T, id string) string {
	out := map[string]any{"id": id, "idempotency_key": in.key, "status": "pending",
		"request": json.RawMessage(in.request), "created_at": in.created, "updated_at": in.created}
	switch {
	case in.ended:
		out["status"] = "failed"
		out["error"] = map[string]string{"code": "unauthorized", "message": "the session that queued this payment was ended (password_change) before it was paid; sign in again and send it again if you still want it"}
	case in.cancelled && len(in.reasons) > 0:
		out["status"] = "failed"
		out["error"] = map[string]string{"code": "intent_cancelled", "cancelled_by": "operator",
			"message": "this payment was stopped by peakwallet support on the payer's behalf before it was made: nothing was paid"}
	case in.cancelled:
		out["status"] = "failed"
		out["error"] = map[string]string{"code": "intent_cancelled", "cancelled_by": "payer", "message": "this payment was cancelled by its payer before it was made: nothing was paid"}
	case in.posted:
		var tr struct{ ID string }
		if err := json.Unmarshal(in.transfer, &tr); err != nil || tr.ID == "" {
			t.Errorf("the queued payment %s was not posted upstream: %s", id, in.transfer)
		}
		out["status"], out["transfer_id"] = "posted", tr.ID
	case in.place != nil:
		out["queue_position"] = in.place
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

func (in *fakeIntent) pending() bool { return !in.cancelled && !in.posted && !in.ended }

// placeAll sets each pending intent's queue_position, as the server
// counts it: the pending intents of every payer queued before it.
func (p *faultProxy) placeAll() {
	ahead := 0
	for _, id := range p.order {
		in := p.intents[id]
		in.place = nil
		if !in.pending() {
			continue
		}
		if p.places {
			in.place = map[string]any{"ahead": ahead, "ahead_at_least": false, "settled_per_second": 0.25, "expected_wait_seconds": 4 * (ahead + 1)}
		}
		ahead++
	}
}

// setPlaces says whether pending intents carry queue_position.
func (p *faultProxy) setPlaces(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.places = on
}

// queueOthers queues n payments of someone else's, ahead of the next ones.
func (p *faultProxy) queueOthers(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		id := fmt.Sprint("int_other", len(p.order))
		p.intents[id] = &fakeIntent{mode: modeQueuedCancel, principal: "user:someone-else", key: id, request: []byte(`{}`), created: time.Now()}
		p.order = append(p.order, id)
	}
}

// settleOthers settles n of someone else's queued payments, the oldest
// first (cancelled: nothing was made for them).
func (p *faultProxy) settleOthers(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range p.order {
		if in := p.intents[id]; n > 0 && in.principal == "user:someone-else" && in.pending() {
			in.cancelled = true
			n--
		}
	}
}

// principal is who r's Authorization is, as the server says: "user:ID"
// for a user's session, "operator" for an operator's key, or "" and the
// server's status (401) for neither.
func (p *faultProxy) principal(t *testing.T, r *http.Request) (string, int) {
	req, _ := http.NewRequest("GET", p.upstream.String()+"/v1/me", nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return "", http.StatusBadGateway
	}
	defer res.Body.Close()
	var me struct{ ID string }
	switch {
	case res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&me) == nil && me.ID != "":
		return "user:" + me.ID, 0
	case res.StatusCode == http.StatusForbidden: // authenticated, not a user
		return "operator", 0
	}
	return "", res.StatusCode
}

// list answers GET /v1/intents: the caller's pending intents (an
// operator's: all of them) in the order they were queued, by pages.
func (p *faultProxy) list(t *testing.T, w http.ResponseWriter, r *http.Request) {
	p.listReads++
	p.placeAll()
	who, status := p.principal(t, r)
	if who == "" {
		writeProblem(w, status, "unauthorized", "authentication required", "")
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	// The page after the cursor's intent (IDs here do not sort as the
	// server's do).
	cursor := r.URL.Query().Get("cursor")
	data, last, more := []json.RawMessage{}, "", false
	for _, id := range p.order {
		if in := p.intents[id]; !in.pending() || (who != "operator" && who != in.principal) {
			continue
		}
		switch {
		case cursor != "":
			if id == cursor {
				cursor = ""
			}
		case len(data) == limit:
			more = true
		default:
			data, last = append(data, json.RawMessage(p.intents[id].json(t, id))), id
		}
	}
	out := map[string]any{"data": data}
	if more {
		out["next_cursor"] = last
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// summary answers GET /v1/ops/summary as the server does, but with the
// proxy's queue: its oldest's wait (surge_queue_oldest_seconds), and its
// length, settling 0.25 a second (surge_queue_pending). The length is, as
// the server's may be, older than the oldest's wait: once the queue
// empties it stays the last length counted (headCount).
func (p *faultProxy) summary(t *testing.T, w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequest("GET", p.upstream.String()+r.URL.Path, nil)
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var sum map[string]any
	if res.StatusCode == http.StatusOK && json.Unmarshal(body, &sum) == nil {
		sum["surge_queue_oldest_seconds"] = 0.0
		pending := 0
		for _, id := range p.order {
			if in := p.intents[id]; in.pending() {
				if pending == 0 {
					sum["surge_queue_oldest_seconds"] = time.Since(in.created).Seconds()
				}
				pending++
			}
		}
		if pending > 0 {
			p.headCount = pending
		}
		sum["surge_queue_pending"] = map[string]any{"count": p.headCount, "at_least": false, "settled_per_second": 0.25}
		body, _ = json.Marshal(sum)
	}
	w.Header().Set("Content-Type", res.Header.Get("Content-Type"))
	w.WriteHeader(res.StatusCode)
	w.Write(body)
}

// writeProblem writes the API's problem+json answer with code.
func writeProblem(w http.ResponseWriter, status int, code, detail, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"https://peakwallet.dev/problems/%s","title":%q,"status":%d,"code":%q,"detail":%q}`,
		code, http.StatusText(status), status, code, detail)
}

// failStatusRead fails a read of the status: a 503 busy, then a
// connection closed with no answer, in turn.
func (p *faultProxy) failStatusRead(t *testing.T, w http.ResponseWriter) {
	if p.statusReads%2 == 1 {
		writeProblem(w, http.StatusServiceUnavailable, "busy", "the server is busy", "1")
		return
	}
	closeUnanswered(t, w)
}

// closeUnanswered closes the request's connection with no answer.
func closeUnanswered(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	conn.Close()
}

// refusedUpstream sends a cancellation of one of the proxy's intents to
// the server, which does not know it, and, if the server refuses it as
// it refuses any write now (503: a read-only maintenance window), passes
// that refusal on and is true. Otherwise (the server would have looked for
// the intent) it is false, and the proxy answers for its intent.
func (p *faultProxy) refusedUpstream(t *testing.T, w http.ResponseWriter, r *http.Request) bool {
	req, _ := http.NewRequest(r.Method, p.upstream.String()+r.URL.Path, nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return false
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable {
		return false
	}
	for _, h := range []string{"Retry-After", "Content-Type"} {
		w.Header().Set(h, res.Header.Get(h))
	}
	w.WriteHeader(res.StatusCode)
	w.Write(body)
	return true
}

// statusReadsSeen counts the GET /v1/status the proxy saw.
func (p *faultProxy) statusReadsSeen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statusReads
}

func (p *faultProxy) setFailStatus(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failStatus = on
}

func (p *faultProxy) setFailSummary(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failSummary = on
}

// forward sends r to the server and returns the body of its answer.
func (p *faultProxy) forward(t *testing.T, r *http.Request) []byte {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequest(r.Method, p.upstream.String()+r.URL.Path, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return []byte("{}")
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}

func (p *faultProxy) setMode(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
}

// intent is a copy of what the proxy saw of intent id (zero if none).
func (p *faultProxy) intent(id string) fakeIntent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in := p.intents[id]; in != nil {
		c := *in
		c.cancels = append([]string(nil), in.cancels...)
		return c
	}
	return fakeIntent{}
}

// postIntent settles intent id as paid, as the settler would: it reads
// posted, with the transfer made upstream when it was queued, from then on.
func (p *faultProxy) postIntent(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intents[id].posted = true
}

// lastIntent is the ID of the intent the proxy queued last.
func (p *faultProxy) lastIntent() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == 0 {
		return ""
	}
	return p.order[len(p.order)-1]
}

// intentListReads counts the GET /v1/intents the proxy answered.
func (p *faultProxy) intentListReads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listReads
}

func (p *faultProxy) paymentKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

// apiCall calls the API directly (as the test, not the browser) and
// decodes the answer into a map.
func apiCall(t *testing.T, method, url, token string, body any, idem string) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &out); err != nil && len(b) > 0 {
		t.Fatalf("%s %s: %s", method, url, b)
	}
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return out
}
