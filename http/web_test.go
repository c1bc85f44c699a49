package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/web"
)

// webServer is a server with the web app mounted and verify wired.
func webServer(t *testing.T) *httptest.Server {
	t.Helper()
	hs, _ := webServerAndStore(t)
	return hs
}

// webServerAndStore is webServer and its store.
func webServerAndStore(t *testing.T) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(store, ledger.Options{Logger: log})
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: l,
		Authenticator: pwhttp.Authenticators{
			pwhttp.NewOperatorAuthenticator(operatorKey),
			staticAuth{
				otherToken:   {Kind: pw.PrincipalMerchant, ID: "m1"},
				supportToken: {Kind: pw.PrincipalOperator, ID: "sam", Role: pw.RoleSupport},
			},
		},
		Logger:   log,
		Registry: prometheus.NewRegistry(),
		Web:      web.New(log),
		Verify: func(ctx context.Context, anchors ...auth.AuditAnchor) (*pwhttp.VerifyReport, error) {
			r, err := ledger.Verify(ctx, store)
			if err != nil {
				return nil, err
			}
			ar, err := auth.VerifyAudit(ctx, store, anchors...)
			if err != nil {
				return nil, err
			}
			return &pwhttp.VerifyReport{OK: r.OK() && ar.OK(), Ledger: r, Audit: ar}, nil
		},
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); l.Close(); store.Close() })
	return hs, store
}

// TestVerifyOverHTTPChecksAuditAnchors: POST /v1/verify takes the audit
// anchors `peakwallet verify --audit-anchor` takes, in its body: one the
// chain still holds passes, one it does not is a violation (ok false), a
// malformed one is 400 naming it, and no body checks none.
func TestVerifyOverHTTPChecksAuditAnchors(t *testing.T) {
	hs, store := webServerAndStore(t)
	svc := auth.New(store, nil, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	for range 3 {
		if err := svc.Audit(t.Context(), "key.create", "key_x", nil); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", hs.URL+"/v1/verify", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+operatorKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return res.StatusCode, out
	}
	status, rep := verify("")
	audit, _ := rep["audit"].(map[string]any)
	anchor, _ := audit["anchor"].(string)
	if status != 200 || rep["ok"] != true || !strings.HasPrefix(anchor, "3:") {
		t.Fatalf("verify without a body: %d %v", status, rep)
	}
	if status, rep := verify(`{"audit_anchors": ["` + anchor + `"]}`); status != 200 || rep["ok"] != true || rep["audit"].(map[string]any)["anchors_checked"] != 1.0 {
		t.Fatalf("verify with the chain's own head: %d %v", status, rep)
	}
	gone := "9" + strings.TrimPrefix(anchor, "3")
	status, rep = verify(`{"audit_anchors": ["` + anchor + `", "` + gone + `"]}`)
	if violations, _ := rep["audit"].(map[string]any)["violations"].([]any); status != 200 || rep["ok"] != false || len(violations) != 1 ||
		!strings.Contains(violations[0].(string), "the log holds no record 9") {
		t.Fatalf("verify with an anchor the chain does not hold: %d %v", status, rep)
	}
	if status, rep := verify(`{"audit_anchors": ["3:nothex"]}`); status != 400 || rep["code"] != "invalid_request" || !strings.Contains(fmt.Sprint(rep), "audit_anchors[0]") {
		t.Fatalf("verify with a malformed anchor: %d %v", status, rep)
	}
}

func call(t *testing.T, hs *httptest.Server, method, path, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, hs.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	return res, out
}

func TestWebAppIsMountedBesideTheAPI(t *testing.T) {
	hs := webServer(t)
	res, _ := call(t, hs, "GET", "/", "")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /: %d %v", res.StatusCode, res.Header)
	}
	// The API keeps its own policy and its problem answers.
	res, body := call(t, hs, "GET", "/v1/nothing", "")
	if res.StatusCode != 404 || body["code"] != "not_found" || res.Header.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'" {
		t.Fatalf("GET /v1/nothing: %d %v %v", res.StatusCode, body, res.Header)
	}
	if res, _ := call(t, hs, "GET", "/nothing", ""); res.StatusCode != 404 {
		t.Fatalf("GET /nothing: %d", res.StatusCode)
	}
}

func TestOpsSummaryAndVerifyAreForOperators(t *testing.T) {
	hs := webServer(t)
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/ops/summary", "", 401},
		{"GET", "/v1/ops/summary", otherToken, 403},
		{"GET", "/v1/ops/summary", supportToken, 200},
		{"GET", "/v1/ops/summary", operatorKey, 200},
		{"POST", "/v1/verify", otherToken, 403},
		{"POST", "/v1/verify", supportToken, 403}, // reads every row: admin and risk only
		{"POST", "/v1/verify", operatorKey, 200},
	} {
		if res, body := call(t, hs, c.method, c.path, c.token); res.StatusCode != c.want {
			t.Errorf("%s %s as %q: %d %v, want %d", c.method, c.path, c.token, res.StatusCode, body, c.want)
		}
	}
	_, rep := call(t, hs, "POST", "/v1/verify", operatorKey)
	if rep["ok"] != true || rep["ledger"] == nil {
		t.Fatalf("verify report: %v", rep)
	}
	// API requests count; the summary's own polling does not.
	_, before := call(t, hs, "GET", "/v1/ops/summary", operatorKey)
	call(t, hs, "GET", "/v1/accounts", operatorKey)
	call(t, hs, "GET", "/v1/accounts", operatorKey)
	_, after := call(t, hs, "GET", "/v1/ops/summary", operatorKey)
	if got := after["requests"].(float64) - before["requests"].(float64); got != 2 {
		t.Fatalf("requests grew by %v, want 2: %v → %v", got, before, after)
	}
	if after["latency_mean_seconds"].(float64) <= 0 || after["operator"].(map[string]any)["role"] != "admin" {
		t.Fatalf("summary: %v", after)
	}
}
