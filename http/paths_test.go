package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// doRaw sends method to path exactly as written (no cleaning by the
// client) as the operator, without following redirects.
func doRaw(t *testing.T, e *Env, method, path, body string, headers map[string]string) *Response {
	t.Helper()
	req, err := http.NewRequest(method, e.HTTP.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "//" + req.URL.Host + path
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := *e.HTTP.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// TestOnlyCanonicalPathsAreServed: a path with an empty, "." or ".."
// segment was redirected (307) to its clean form, which a client follows
// by sending its payment again, and answered with text, not a problem.
// Every route of the table answers such a path 404 not_found, as it
// answers a trailing slash, and moves nothing. A percent-encoded letter is
// the same path (RFC 3986), served, with the same idempotency fingerprint.
func TestOnlyCanonicalPathsAreServed(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	for _, rt := range pwhttp.Routes() {
		clean := strings.NewReplacer("{id}", "x", "{key_id}", "y").Replace(rt.Path)
		for _, path := range []string{
			"/" + clean,                                 // //v1/transfers
			strings.Replace(clean, "/", "//", 2),        // /v1//transfers
			strings.Replace(clean, "/", "/./", 2),       // /v1/./transfers
			strings.Replace(clean, "/", "/nope/../", 2), // /v1/nope/../transfers
			clean + "/",  // /v1/transfers/
			clean + "//", // /v1/transfers//
			strings.TrimSuffix(clean, "/"+lastSegment(clean)) + "//" + lastSegment(clean),
		} {
			body := ""
			if rt.BodyMax > 0 {
				body = transferBody(w, 1)
			}
			r := doRaw(t, e, rt.Method, path, body, idem("path-"+path))
			if r.Status != 404 || r.Header.Get("Location") != "" || r.Problem(t).Code != pw.ENOTFOUND {
				t.Errorf("%s %s: %d Location=%q %s, want 404 not_found", rt.Method, path, r.Status, r.Header.Get("Location"), r.Body)
			}
		}
	}
	if b := e.MustBalance(t, w.User); b.Posted != 10_000 {
		t.Fatalf("user posted %d after non-canonical paths, want 10000", b.Posted)
	}
	body := transferBody(w, 100)
	r := doRaw(t, e, "POST", "/v1/%74ransfers", body, idem("encoded"))
	if r.Status != 201 {
		t.Fatalf("POST /v1/%%74ransfers: %d %s, want 201", r.Status, r.Body)
	}
	again := doRaw(t, e, "POST", "/v1/transfers", body, idem("encoded"))
	if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(r.Body) {
		t.Fatalf("the retry at the clean path: %d %v %s, want the replay of %s", again.Status, again.Header, again.Body, r.Body)
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9_900 {
		t.Fatalf("user posted %d, want 9900", b.Posted)
	}
}

// lastSegment is the part of path after its last slash.
func lastSegment(path string) string { return path[strings.LastIndex(path, "/")+1:] }

// TestTheWebAppsPagesKeepTheirRedirects: the web app's pages, GETs for
// browsers, are redirected to their canonical paths as ServeMux does, and
// /console to /console/ as the app does.
func TestTheWebAppsPagesKeepTheirRedirects(t *testing.T) {
	hs := webServer(t)
	c := *hs.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for path, want := range map[string]string{
		"//console/":      "/console/",
		"/console":        "/console/",
		"/assets":         "/assets/",
		"//assets/app.js": "/assets/app.js",
	} {
		req, err := http.NewRequest("GET", hs.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = "//" + req.URL.Host + path
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d Location=%q, want a redirect to %s", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	for _, path := range []string{"/", "/console/", "/pay"} {
		if resp, _ := call(t, hs, "GET", path, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200", path, resp.StatusCode)
		}
	}
}
