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
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("PEAKWALLET_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is required (CI or PEAKWALLET_REQUIRE_BROWSER is set) but not installed: apt-get install -y chromium")
	}
	t.Skip("chromium is not installed: apt-get install -y chromium to run the browser tests")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab's context. Flags keep it lean and quiet: no GPU, no QUIC, no
// background networking or updates.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(412, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), BrowserTestTimeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
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
)

// thenMode is the mode that follows the one that answered a payment: a
// chain of answers to the tries of one payment, then modePass (the zero
// value) for every mode not named.
var thenMode = map[proxyMode]proxyMode{
	modeAnswerLost:        modeBusyThenGateway,
	modeBusyThenGateway:   modeGateway,
	modeLostThenSignedOut: modeSignedOut,
}

// faultProxy forwards everything to the server, except what its mode says.
type faultProxy struct {
	*httptest.Server
	upstream *url.URL
	mu       sync.Mutex
	mode     proxyMode
	keys     []string // Idempotency-Keys of the payments seen
	intent   []byte   // the settled transfer behind the queued intent
	polls    int
}

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{upstream: u}
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
			case modeQueued:
				p.mode = thenMode[p.mode]
				p.intent, p.polls = p.forward(t, r), 0
				w.Header().Set("Location", "/v1/intents/int_test")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				io.WriteString(w, `{"id":"int_test","status":"pending"}`)
				return
			}
		case r.URL.Path == "/v1/intents/int_test":
			// The shape of pw.Intent: pending, then posted with its transfer's ID.
			p.polls++
			w.Header().Set("Content-Type", "application/json")
			if p.polls < 3 {
				io.WriteString(w, `{"id":"int_test","status":"pending"}`)
				return
			}
			var tr struct{ ID string }
			if err := json.Unmarshal(p.intent, &tr); err != nil || tr.ID == "" {
				t.Errorf("the queued payment was not posted upstream: %s", p.intent)
			}
			fmt.Fprintf(w, `{"id":"int_test","status":"posted","transfer_id":%q}`, tr.ID)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
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
