package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

const (
	operatorKey = "test-operator-key"
	// otherToken authenticates a second principal, a merchant.
	otherToken = "test-merchant-token"
)

// staticAuth authenticates a fixed set of tokens.
type staticAuth map[string]pw.Principal

func (a staticAuth) Authenticate(_ context.Context, token string) (pw.Principal, error) {
	if p, ok := a[token]; ok {
		return p, nil
	}
	return pw.Principal{}, pw.Errorf(pw.EUNAUTHORIZED, "unknown token")
}

// Env is a real server: ledger over SQLite in a temporary directory, served
// by httptest, with a Client authenticated as the operator.
type Env struct {
	Server *pwhttp.Server
	HTTP   *httptest.Server
	Client *pwhttp.Client
	Ledger *ledger.Ledger
	Store  *sqlite.Store
}

// MustOpenEnv starts an Env that is closed when tb ends.
func MustOpenEnv(tb testing.TB) *Env {
	tb.Helper()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	return openEnvOn(tb, store, store, ledger.Options{})
}

// openEnvOn starts an Env on store (lite: the same store when it is
// SQLite's, else nil) with the ledger's opts, closed when tb ends.
func openEnvOn(tb testing.TB, store pw.Store, lite *sqlite.Store, opts ledger.Options) *Env {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Logger = log
	l := ledger.New(store, opts)
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: l,
		Authenticator: pwhttp.Authenticators{
			pwhttp.NewOperatorAuthenticator(operatorKey),
			staticAuth{otherToken: {Kind: pw.PrincipalMerchant, ID: "m1"}},
		},
		Readiness: store.Ping,
		Logger:    log,
		Registry:  prometheus.NewRegistry(),
	})
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		hs.Close()
		l.Close()
		store.Close()
	})
	return &Env{Server: srv, HTTP: hs, Client: pwhttp.NewClient(hs.URL, operatorKey, hs.Client()),
		Ledger: l, Store: lite}
}

// Response is a raw HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Problem decodes the body as a problem, failing tb if it is not one.
func (r *Response) Problem(tb testing.TB) pwhttp.Problem {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, r.Status, r.Body)
	}
	var p pwhttp.Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("decode problem %s: %v", r.Body, err)
	}
	if p.Status != r.Status || p.Code == "" || p.Title == "" || !strings.HasSuffix(p.Type, "/"+p.Code) {
		tb.Fatalf("malformed problem for status %d: %s", r.Status, r.Body)
	}
	return p
}

// Do sends a raw request as the operator; headers may override or (with
// "") remove the defaults.
func (e *Env) Do(tb testing.TB, method, path, body string, headers map[string]string) *Response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.HTTP.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// MustCreateAccount opens an account through the API.
func (e *Env) MustCreateAccount(tb testing.TB, kind pw.AccountKind, cur pw.Currency) *pw.Account {
	tb.Helper()
	a, err := e.Client.CreateAccount(context.Background(), pw.AccountCreate{Kind: kind, Currency: cur})
	if err != nil {
		tb.Fatalf("create %s account: %v", kind, err)
	}
	return a
}

// MustTransfer moves amount through the API.
func (e *Env) MustTransfer(tb testing.TB, from, to *pw.Account, amount int64) *pw.Transfer {
	tb.Helper()
	t, err := e.Client.CreateTransfer(context.Background(), pw.TransferCreate{
		FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: from.Currency})
	if err != nil {
		tb.Fatalf("transfer %d from %s to %s: %v", amount, from.ID, to.ID, err)
	}
	return t
}

// MustBalance reads an account's balance through the API.
func (e *Env) MustBalance(tb testing.TB, a *pw.Account) pw.Balance {
	tb.Helper()
	got, err := e.Client.Account(context.Background(), a.ID)
	if err != nil {
		tb.Fatalf("read %s: %v", a.ID, err)
	}
	return got.Balance
}

// Wallet is a funded user account, with the system account that funded it
// and a merchant to pay.
type Wallet struct {
	System, User, Merchant *pw.Account
}

// MustWallet opens system, user and merchant accounts in EUR and tops the
// user up with amount.
func (e *Env) MustWallet(tb testing.TB, amount int64) Wallet {
	tb.Helper()
	w := Wallet{
		System:   e.MustCreateAccount(tb, pw.AccountSystem, "EUR"),
		User:     e.MustCreateAccount(tb, pw.AccountUser, "EUR"),
		Merchant: e.MustCreateAccount(tb, pw.AccountMerchant, "EUR"),
	}
	if amount > 0 {
		e.MustTransfer(tb, w.System, w.User, amount)
	}
	return w
}

// code returns err's code, for comparisons.
func code(err error) string { return pw.ErrorCode(err) }
