package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// Clock is a fake clock that tests move by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Outbox is a Sender that keeps messages for the test to read.
type Outbox struct {
	mu   sync.Mutex
	msgs []auth.Message
}

func (o *Outbox) Send(_ context.Context, m *auth.Message) error {
	o.mu.Lock()
	o.msgs = append(o.msgs, *m)
	o.mu.Unlock()
	return nil
}

var codeRE = regexp.MustCompile(`code is (\d{6})`)

// LastCode returns the last one-time code sent to handle.
func (o *Outbox) LastCode(tb testing.TB, handle string) string {
	tb.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.msgs) - 1; i >= 0; i-- {
		if o.msgs[i].To == handle {
			if m := codeRE.FindStringSubmatch(o.msgs[i].Body); m != nil {
				return m[1]
			}
		}
	}
	tb.Fatalf("no code was sent to %s", handle)
	return ""
}

// Last returns the body of the last message to handle.
func (o *Outbox) Last(handle string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.msgs) - 1; i >= 0; i-- {
		if o.msgs[i].To == handle {
			return o.msgs[i].Body
		}
	}
	return ""
}

// testLimits are generous except where a test exercises them.
var testLimits = auth.Limits{
	SignUpBurst: 1000, SignUpEvery: time.Millisecond,
	LoginBurst: 1000, LoginEvery: time.Millisecond,
	OTPBurst: 3, OTPEvery: 5 * time.Minute,
	FailuresFree: 5, BackoffFirst: time.Second, BackoffMax: 15 * time.Minute,
	LockAfter: 10,
}

// SecEnv is a real server with users, keys and the Guard, on SQLite, with
// a fake clock, cheap argon2 parameters (the production ones are tested
// in auth/) and an in-memory outbox.
type SecEnv struct {
	HTTP   *httptest.Server
	Server *pwhttp.Server
	Auth   *auth.Service
	Ledger *ledger.Ledger
	Store  *sqlite.Store // when on SQLite (mustOpenSecEnvWith)
	DB     secStore      // the store, on SQLite or PostgreSQL
	Clock  *Clock
	Outbox *Outbox
	// Bodies collects every response body, for the data exposure test.
	mu     sync.Mutex
	Bodies []string
}

func MustOpenSecEnv(tb testing.TB, limits auth.Limits) *SecEnv {
	tb.Helper()
	return mustOpenSecEnvWith(tb, limits, nil)
}

// mustOpenSecEnvWith is MustOpenSecEnv with more of the server's
// configuration (admission control, the surge queue) set by more.
func mustOpenSecEnvWith(tb testing.TB, limits auth.Limits, more func(*pwhttp.Config, *sqlite.Store)) *SecEnv {
	tb.Helper()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	e := mustOpenSecEnvOn(tb, store, limits, func(c *pwhttp.Config) {
		if more != nil {
			more(c, store)
		}
	})
	e.Store = store
	return e
}

// secStore is what a SecEnv serves: the ledger's, the users' and keys',
// and the surge queue's store in one, as both stores are.
type secStore interface {
	pw.Store
	pw.IntentStore
	auth.Store
	Close() error
}

// mustOpenSecEnvOn is mustOpenSecEnvWith on any store (PostgreSQL's too);
// the env closes it. Its Store is left nil (DB is the store).
func mustOpenSecEnvOn(tb testing.TB, store secStore, limits auth.Limits, more func(*pwhttp.Config)) *SecEnv {
	tb.Helper()
	return mustOpenSecEnvOpts(tb, store, limits, nil, more)
}

// mustOpenSecEnvOpts is mustOpenSecEnvOn with the security service's
// options changed by opts (when not nil). Its step-up threshold of EUR is
// 50.00 (the other currencies' are the defaults).
func mustOpenSecEnvOpts(tb testing.TB, store secStore, limits auth.Limits, opts func(*auth.Options), more func(*pwhttp.Config)) *SecEnv {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	l := ledger.New(store, ledger.Options{Logger: log})
	box := &Outbox{}
	o := auth.Options{Now: clock.Now, Logger: log, Sender: box, Limits: limits,
		Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}, StepUpThresholds: auth.StepUpThresholds{"EUR": 50_00}}
	if opts != nil {
		opts(&o)
	}
	svc := auth.New(store, l, o)
	cfg := pwhttp.Config{
		Ledger:        l,
		Authenticator: pwhttp.Authenticators{pwhttp.NewOperatorAuthenticator(operatorKey), svc},
		Security:      svc,
		Logger:        log,
		Registry:      prometheus.NewRegistry(),
	}
	if more != nil {
		more(&cfg)
	}
	srv := pwhttp.NewServer(cfg)
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		hs.Close()
		l.Close()
		store.Close()
	})
	return &SecEnv{HTTP: hs, Server: srv, Auth: svc, Ledger: l, DB: store, Clock: clock, Outbox: box}
}

// Do sends a request with token (none when ""); headers add to it.
func (e *SecEnv) Do(tb testing.TB, method, path, token, body string, headers ...string) *Response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.HTTP.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.mu.Lock()
	e.Bodies = append(e.Bodies, string(b))
	e.mu.Unlock()
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Want fails tb unless r has status (and, for problems, code).
func (r *Response) Want(tb testing.TB, status int, code string) *Response {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if code != "" {
		if p := r.Problem(tb); p.Code != code {
			tb.Fatalf("code %q, want %q: %s", p.Code, code, r.Body)
		}
	}
	return r
}

// Decode decodes the body into v.
func (r *Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Person is a signed-up, logged-in user with a EUR wallet.
type Person struct {
	ID, Handle, Password, Token, Session string
	Wallet                               *pw.Account
	Secret                               string // TOTP secret, once enrolled
}

// MustPerson signs up handle, logs in and opens a EUR wallet funded with
// amount by the operator.
func (e *SecEnv) MustPerson(tb testing.TB, handle string, amount int64) *Person {
	tb.Helper()
	p := &Person{Handle: handle, Password: "correct horse battery " + handle}
	var u auth.User
	e.Do(tb, "POST", "/v1/users", "", `{"handle":"`+handle+`","password":"`+p.Password+`"}`).Want(tb, 201, "").Decode(tb, &u)
	p.ID = u.ID
	e.MustLogin(tb, p, "")
	var w pw.Account
	e.Do(tb, "POST", "/v1/wallets", p.Token, `{"currency":"EUR"}`).Want(tb, 201, "").Decode(tb, &w)
	p.Wallet = &w
	if amount > 0 {
		e.MustTopUp(tb, w.ID, amount)
	}
	return p
}

// MustLogin logs p in (with mfaCode when given) and keeps the token.
func (e *SecEnv) MustLogin(tb testing.TB, p *Person, mfaCode string) {
	tb.Helper()
	body := `{"handle":"` + p.Handle + `","password":"` + p.Password + `"`
	if mfaCode != "" {
		body += `,"mfa_code":"` + mfaCode + `"`
	}
	var s auth.NewSession
	e.Do(tb, "POST", "/v1/sessions", "", body+"}").Want(tb, 201, "").Decode(tb, &s)
	p.Token, p.Session = s.Token, s.ID
}

// MustResetToken asks for a password reset of handle and returns the
// token the message to it carries, once a delivery pass (serve's loop)
// has sent it: the request only queues it.
func (e *SecEnv) MustResetToken(tb testing.TB, handle string) string {
	tb.Helper()
	e.Do(tb, "POST", "/v1/password-resets", "", `{"handle":"`+handle+`"}`).Want(tb, 202, "")
	if _, err := e.Auth.Deliver(context.Background()); err != nil {
		tb.Fatal(err)
	}
	msg := e.Outbox.Last(handle)
	i := strings.Index(msg, auth.PrefixResetToken)
	if i < 0 {
		tb.Fatalf("no reset token in %q", msg)
	}
	return msg[i : i+len(auth.PrefixResetToken)+43]
}

var systemOnce sync.Map

// MustTopUp moves amount EUR from a system account to id, as the operator.
func (e *SecEnv) MustTopUp(tb testing.TB, id string, amount int64) {
	tb.Helper()
	sys, ok := systemOnce.Load(e)
	if !ok {
		var a pw.Account
		e.Do(tb, "POST", "/v1/accounts", operatorKey, `{"kind":"system","currency":"EUR"}`, "Idempotency-Key", "sys").Want(tb, 201, "").Decode(tb, &a)
		sys = a.ID
		systemOnce.Store(e, sys)
	}
	e.Do(tb, "POST", "/v1/transfers", operatorKey,
		`{"from_account":"`+sys.(string)+`","to_account":"`+id+`","amount":`+strconv.FormatInt(amount, 10)+`,"currency":"EUR"}`,
		"Idempotency-Key", "topup-"+id+"-"+strconv.FormatInt(amount, 10)+"-"+strconv.FormatInt(e.Clock.Now().UnixNano(), 10)).Want(tb, 201, "")
}

// TOTP returns the current code of p's secret at the fake clock's time
// plus skew.
func (e *SecEnv) TOTP(tb testing.TB, p *Person, skew time.Duration) string {
	tb.Helper()
	c, err := totp.GenerateCode(p.Secret, e.Clock.Now().Add(skew))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// MustEnrollTOTP enrols p and confirms with a code; returns recovery codes.
func (e *SecEnv) MustEnrollTOTP(tb testing.TB, p *Person) []string {
	tb.Helper()
	var en auth.Enrollment
	e.Do(tb, "POST", "/v1/me/mfa/totp", p.Token, "").Want(tb, 201, "").Decode(tb, &en)
	p.Secret = en.Secret
	var rc auth.RecoveryCodes
	e.Do(tb, "POST", "/v1/me/mfa/totp/confirm", p.Token, `{"code":"`+e.TOTP(tb, p, 0)+`"}`).Want(tb, 200, "").Decode(tb, &rc)
	e.Clock.Advance(30 * time.Second) // the next code is a new step
	return rc.RecoveryCodes
}

func (e *SecEnv) Balance(tb testing.TB, id string) pw.Balance {
	tb.Helper()
	a, err := e.Ledger.Account(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return a.Balance
}
