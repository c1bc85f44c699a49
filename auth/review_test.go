package auth_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
)

// openPostgresTwice opens two stores on one new PostgreSQL database, as
// two processes sharing it would, and returns them with its DSN.
func openPostgresTwice(t *testing.T) (a, b *postgres.Store, dsn string) {
	t.Helper()
	dsn = pgtest.NewDatabase(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open(), dsn
}

// holdingTransaction opens two connections to dsn: conn, to watch the
// locks others wait for (waitForLockWaiters), and one in a transaction,
// tx, begun, for the test to take a row's lock in and commit when the
// others are waiting. Both are closed (tx rolled back unless it was
// committed) when the test ends.
func holdingTransaction(t *testing.T, dsn string) (conn *pgx.Conn, tx pgx.Tx) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close(ctx) })
	tx, err = holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	return conn, tx
}

// waitForLockWaiters waits until n sessions of the database wait for a
// row lock.
func waitForLockWaiters(t *testing.T, conn *pgx.Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a lock, want %d", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAMessageCodeIsUsedOnceAcrossProcesses: two processes on one
// PostgreSQL database checking the same one-time code at the same moment
// (a step-up repeated to two servers behind a load balancer) accept it
// once. Before, UseOTP read the code without a lock and marked it used
// without asking that it was unused: both read it unused, both marked it,
// both accepted it. A transaction holding the code's row makes the two
// meet at that row deterministically.
func TestAMessageCodeIsUsedOnceAcrossProcesses(t *testing.T) {
	a, b, dsn := openPostgresTwice(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &auth.User{ID: pw.NewID(pw.PrefixUser, now), Handle: "otp@example.com", PasswordHash: "$argon2id$x", CreatedAt: now, StepUpThreshold: 100}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	o := &auth.OTP{ID: pw.NewID("otp", now), UserID: u.ID, Purpose: auth.PurposeStepUp, CodeHash: "h", CreatedAt: now, ExpiresAt: now.Add(auth.OTPTTL)}
	if err := a.CreateOTP(ctx, o); err != nil {
		t.Fatal(err)
	}

	conn, tx := holdingTransaction(t, dsn)
	if _, err := tx.Exec(ctx, "SELECT id FROM otps WHERE id = $1 FOR UPDATE", o.ID); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	oks := make([]bool, 2)
	errs := make([]error, 2)
	for i, s := range []*postgres.Store{a, b} {
		wg.Go(func() { oks[i], errs[i] = s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "h", now) })
	}
	waitForLockWaiters(t, conn, 2)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	accepted := 0
	for i := range oks {
		if errs[i] != nil {
			t.Fatalf("UseOTP %d: %v", i, errs[i])
		}
		if oks[i] {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("the one-time code was accepted %d times, want once", accepted)
	}
}

// TestAnIPv6ClientIsThrottledByItsNetwork: one IPv6 client holds a whole
// /64 (its router hands it out; privacy addresses change daily), so the
// per-address throttles count a /64 as one address: failed logins from
// ::1 to ::5 of one /64 back off a login from ::6, and sign-ups from its
// addresses share one bucket. Before, each address had its own, and a
// client went round every throttle by changing its address's low bits.
// An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address.
func TestAnIPv6ClientIsThrottledByItsNetwork(t *testing.T) {
	limits := auth.DefaultLimits
	limits.SignUpBurst, limits.SignUpEvery = 2, time.Hour
	svc := auth.New(newMemStore(t), nil, auth.Options{Limits: limits, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	at := func(addr string) context.Context {
		return auth.NewContextWithClientAddress(context.Background(), addr)
	}
	const password = "correct horse battery staple"
	if _, err := svc.SignUp(at("2001:db8:1:2::1"), auth.SignUp{Handle: "v6@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignUp(at("2001:db8:1:2:ffff::2"), auth.SignUp{Handle: "v6b@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignUp(at("2001:db8:1:2:abcd::3"), auth.SignUp{Handle: "v6c@example.com", Password: password}); pw.ErrorCode(err) != pw.ERATELIMITED {
		t.Fatalf("a third sign-up from one /64 with a burst of 2: %v, want rate_limited", err)
	}
	if _, err := svc.SignUp(at("2001:db8:1:3::1"), auth.SignUp{Handle: "v6d@example.com", Password: password}); err != nil {
		t.Fatalf("a sign-up from the next /64: %v", err)
	}

	for i := 1; i <= limits.FailuresFree; i++ {
		addr := "2001:db8:1:2::" + strconv.Itoa(i)
		if _, err := svc.Login(at(addr), auth.Login{Handle: "v6@example.com", Password: "wrong guess " + addr}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := svc.Login(at("2001:db8:1:2::6"), auth.Login{Handle: "v6@example.com", Password: password}); pw.ErrorCode(err) != pw.ERATELIMITED {
		t.Fatalf("after %d failures from one /64, a login from another of its addresses: %v, want rate_limited", limits.FailuresFree, err)
	}
	if _, err := svc.Login(at("2001:db8:1:3::6"), auth.Login{Handle: "v6@example.com", Password: password}); err != nil {
		t.Fatalf("a login from the next /64: %v", err)
	}

	for i := 1; i <= limits.FailuresFree; i++ {
		if _, err := svc.Login(at("192.0.2.7"), auth.Login{Handle: "v6b@example.com", Password: "wrong guess " + strconv.Itoa(i)}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			t.Fatalf("IPv4 failure %d: %v", i, err)
		}
	}
	if _, err := svc.Login(at("::ffff:192.0.2.7"), auth.Login{Handle: "v6b@example.com", Password: password}); pw.ErrorCode(err) != pw.ERATELIMITED {
		t.Fatalf("the same IPv4 address written as IPv6: %v, want rate_limited", err)
	}
}

// TestVerifyAuditSeesARecordBeforeTheFirst: a record inserted behind the
// server's back with a sequence number of 0 or less, before the chain's
// first, is named by verify. Before, verify read the log from seq 1 on
// and reported such a record's chain intact, without counting it.
func TestVerifyAuditSeesARecordBeforeTheFirst(t *testing.T) {
	s, _, dsn := openPostgresTwice(t)
	ctx := context.Background()
	svc := auth.New(s, nil, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	for _, a := range []string{"login.success", "key.create", "login.failure"} {
		if err := svc.Audit(ctx, a, "usr_x", nil); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := auth.VerifyAudit(ctx, s); err != nil || !r.OK() || r.Records != 3 {
		t.Fatalf("intact chain: %+v, %v", r, err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, seq := range []int64{0, -5} {
		if _, err := conn.Exec(ctx, `INSERT INTO audit (seq, at, actor, action, target, address, detail, prev_hash, hash)
			VALUES ($1, 0, 'operator:root', 'key.revoke', 'key_forged', '', NULL, $2, $2)`, seq, auth.GenesisHash); err != nil {
			t.Fatal(err)
		}
		r, err := auth.VerifyAudit(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() {
			t.Fatalf("a record inserted at seq %d: verify reports the chain intact (%d records)", seq, r.Records)
		}
	}
}

// TestATOTPCodeLogsInOnceAcrossProcesses: two processes on one PostgreSQL
// database given the same TOTP code at the same moment (two logins, or a
// login and a step-up, behind a load balancer) accept it once: the step
// is spent by one conditional update. And the window is the documented
// one: a code of the step before or after is accepted, one two steps
// away is not.
func TestATOTPCodeLogsInOnceAcrossProcesses(t *testing.T) {
	a, b, _ := openPostgresTwice(t)
	clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	opts := auth.Options{Now: clk.now, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}}
	here, there := auth.New(a, nil, opts), auth.New(b, nil, opts)
	ctx := auth.NewContextWithClientAddress(context.Background(), "192.0.2.1")
	const handle, password = "totp@example.com", "correct horse battery staple"
	u, err := here.SignUp(ctx, auth.SignUp{Handle: handle, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	me := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
	en, err := here.EnrollTOTP(me)
	if err != nil {
		t.Fatal(err)
	}
	code := func(skew time.Duration) string {
		c, err := totp.GenerateCode(en.Secret, clk.now().Add(skew))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := here.ConfirmTOTP(me, auth.MFAConfirm{Code: code(0)}); err != nil {
		t.Fatal(err)
	}

	for round := range 5 {
		clk.add(30 * time.Second)
		c := code(0)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, svc := range []*auth.Service{here, there} {
			wg.Go(func() { _, errs[i] = svc.Login(ctx, auth.Login{Handle: handle, Password: password, MFACode: c}) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: one code given to two processes at once: %v, %v; want exactly one login", round, errs[0], errs[1])
		}
	}

	for _, c := range []struct {
		skew time.Duration
		ok   bool
	}{{-60 * time.Second, false}, {-30 * time.Second, true}, {60 * time.Second, false}, {30 * time.Second, true}} {
		// Past any back-off the failures so far started (at most
		// BackoffMax): the rounds' losers and the codes out of the window
		// are failed logins, and whichever process lost more rounds may
		// have reached the back-off, which would refuse a good code
		// (rate_limited) for a reason that is not the window.
		clk.add(time.Hour)
		_, err := here.Login(ctx, auth.Login{Handle: handle, Password: password, MFACode: code(c.skew)})
		if (err == nil) != c.ok {
			t.Errorf("a code of %v away: %v, want accepted %v", c.skew, err, c.ok)
		}
	}
}
