package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

func TestAuth(t *testing.T) {
	e := MustOpenEnv(t)
	for name, auth := range map[string]string{
		"missing":      "",
		"wrong token":  "Bearer nope",
		"wrong scheme": "Basic " + operatorKey,
		"no token":     "Bearer ",
		"too long":     "Bearer " + strings.Repeat("k", 2000),
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/v1/accounts", "/v1/transfers", "/v1/accounts/acc_x"} {
				r := e.Do(t, "GET", path, "", map[string]string{"Authorization": auth})
				if r.Status != 401 || r.Problem(t).Code != pw.EUNAUTHORIZED {
					t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
				}
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Fatalf("WWW-Authenticate = %q", got)
				}
			}
		})
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		if r := e.Do(t, "GET", "/v1/accounts", "", map[string]string{"Authorization": "bearer " + operatorKey}); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("client with a bad token", func(t *testing.T) {
		c := pwhttp.NewClient(e.HTTP.URL, "nope", e.HTTP.Client())
		if _, _, err := c.Accounts(context.Background(), pw.Page{}); code(err) != pw.EUNAUTHORIZED {
			t.Fatalf("err = %v, want unauthorized", err)
		}
	})
	t.Run("public routes", func(t *testing.T) {
		for _, rt := range pwhttp.Routes() {
			if !rt.Public || rt.Method != "GET" {
				continue // public POSTs (sign-up, login) need bodies: security_test.go
			}
			if r := e.Do(t, rt.Method, rt.Path, "", map[string]string{"Authorization": ""}); r.Status != 200 {
				t.Errorf("%s without a token: %d %s", rt.Pattern(), r.Status, r.Body)
			}
		}
	})
}

func TestOperatorAuthenticator(t *testing.T) {
	ctx := context.Background()
	a := pwhttp.NewOperatorAuthenticator("s3cret")
	p, err := a.Authenticate(ctx, "s3cret")
	if err != nil || p.Kind != pw.PrincipalOperator || p.ID != "root" || p.Role != "admin" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "s3cre", "s3cret ", "S3CRET"} {
		if _, err := a.Authenticate(ctx, bad); code(err) != pw.EUNAUTHORIZED {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	if _, err := pwhttp.NewOperatorAuthenticator("").Authenticate(ctx, ""); code(err) != pw.EUNAUTHORIZED {
		t.Fatalf("empty key accepted the empty token: %v", err)
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := MustOpenEnv(t)
	for _, path := range []string{"/", "/v2/accounts", "/v1/nope", "/v1/accounts/acc_x/nope"} {
		r := e.Do(t, "GET", path, "", nil)
		if r.Status != 404 || r.Problem(t).Code != pw.ENOTFOUND {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, tt := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/accounts", "GET, HEAD, POST"},
		{"PUT", "/v1/transfers/tr_x", "GET, HEAD"},
		{"GET", "/v1/holds/hold_x/capture", "POST"},
	} {
		r := e.Do(t, tt.method, tt.path, "", nil)
		if r.Status != 405 || r.Problem(t).Code != "method_not_allowed" || r.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow=%q %s", tt.method, tt.path, r.Status, r.Header.Get("Allow"), r.Body)
		}
	}
	for _, path := range []string{"/v1/accounts/nope", "/v1/accounts/acc_01jz0000000000000000000000"} {
		if r := e.Do(t, "GET", path, "", nil); r.Status != 404 || r.Problem(t).Code != pw.EACCOUNTNOTFOUND {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/v1/transfers/nope", "/v1/holds/hold_01jz0000000000000000000000"} {
		if r := e.Do(t, "GET", path, "", nil); r.Status != 404 || r.Problem(t).Code != pw.ENOTFOUND {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
}

func TestPagination(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 0)
	for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=abc", "limit=", "limit=1.5",
		"cursor=" + strings.Repeat("c", 600), "cursor=garbage"} {
		r := e.Do(t, "GET", "/v1/accounts/"+w.User.ID+"/entries?"+q, "", nil)
		if r.Status != 400 || r.Problem(t).Code != pw.EINVALID {
			t.Errorf("?%s: %d %s", q, r.Status, r.Body)
		}
	}
	for range 4 {
		e.MustTransfer(t, w.System, w.User, 10)
	}
	r := e.Do(t, "GET", "/v1/accounts/"+w.User.ID+"/entries?limit=3", "", nil)
	var page struct {
		Data       []json.RawMessage `json:"data"`
		NextCursor *string           `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Data) != 3 || page.NextCursor == nil {
		t.Fatalf("first page: %s (%v)", r.Body, err)
	}
	r = e.Do(t, "GET", "/v1/accounts/"+w.User.ID+"/entries?limit=3&cursor="+*page.NextCursor, "", nil)
	page.NextCursor = nil
	if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Data) != 1 || page.NextCursor != nil {
		t.Fatalf("last page must have no next_cursor: %s (%v)", r.Body, err)
	}
	// An empty list is [], not null.
	r = e.Do(t, "GET", "/v1/accounts/"+w.Merchant.ID+"/entries", "", nil)
	if string(r.Body) != `{"data":[]}`+"\n" {
		t.Fatalf("empty list: %s", r.Body)
	}
	if r := e.Do(t, "GET", "/v1/transfers?account=acc_01jz0000000000000000000000", "", nil); r.Status != 404 {
		t.Fatalf("transfers of an unknown account: %d %s", r.Status, r.Body)
	}
	if r := e.Do(t, "GET", "/v1/transfers?account="+w.User.ID, "", nil); r.Status != 200 || !strings.Contains(string(r.Body), w.User.ID) {
		t.Fatalf("transfers of the user: %d %s", r.Status, r.Body)
	}
}

func TestOps(t *testing.T) {
	e := MustOpenEnv(t)
	ctx := context.Background()
	if r := e.Do(t, "GET", "/healthz", "", nil); r.Status != 200 {
		t.Fatalf("healthz: %d", r.Status)
	}
	if err := e.Client.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	e.Server.SetDraining(true)
	r := e.Do(t, "GET", "/readyz", "", nil)
	if r.Status != 503 || r.Problem(t).Code != pw.EBUSY || r.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz while draining: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r := e.Do(t, "GET", "/healthz", "", nil); r.Status != 200 {
		t.Fatalf("healthz while draining: %d", r.Status)
	}
	st, err := e.Client.Status(ctx)
	if err != nil || st.State != pwhttp.StateNormal || !st.Load.Draining || st.Load.InFlight != 0 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	e.Server.SetDraining(false)

	cur, err := e.Client.Currencies(ctx)
	if err != nil || len(cur) < 100 {
		t.Fatalf("currencies: %d, %v", len(cur), err)
	}
	exp := map[pw.Currency]int{}
	for _, c := range cur {
		exp[c.Code] = c.Exponent
	}
	if exp["EUR"] != 2 || exp["JPY"] != 0 || exp["BHD"] != 3 {
		t.Fatalf("exponents: EUR %d JPY %d BHD %d", exp["EUR"], exp["JPY"], exp["BHD"])
	}

	w := e.MustWallet(t, 100)
	e.Do(t, "GET", "/v1/accounts/"+w.User.ID, "", nil)
	e.Do(t, "GET", "/v1/nope", "", nil)
	m := e.Do(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`peakwallet_http_requests_total{code="200",method="GET",route="/v1/accounts/{id}"}`,
		`peakwallet_http_requests_total{code="201",method="POST",route="/v1/transfers"}`,
		`peakwallet_http_requests_total{code="404",method="GET",route="unmatched"}`,
		`peakwallet_http_request_duration_seconds_bucket{method="GET",route="/v1/accounts/{id}",le="+Inf"}`,
		`peakwallet_http_requests_in_flight`,
		`go_goroutines`,
		`process_`,
	} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(m.Body), w.User.ID) {
		t.Errorf("metrics are labelled with a raw path")
	}
}

func TestReadinessFails(t *testing.T) {
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger:        fakeLedger{},
		Authenticator: pwhttp.NewOperatorAuthenticator("k"),
		Readiness:     func(context.Context) error { return errors.New("database is down: secret detail") },
	})
	r := serve(srv, "GET", "/readyz", "", nil)
	if r.Code != 503 || strings.Contains(r.Body.String(), "secret") || r.Header().Get("Retry-After") == "" {
		t.Fatalf("readyz with a failing store: %d %v %s", r.Code, r.Header(), r.Body)
	}
}
