package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/faultproxy"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/postgres"
)

// TestLedgerGivesUpOnAStalledStore: when PostgreSQL stops answering in the
// middle of a batch (a stalled network, sockets open), the batch is given
// up at its caller's deadline rather than after ledger.CommitTimeout, its
// caller hears "unavailable" (the COMMIT was never sent: nothing moved),
// and the ledger works again once the network does.
func TestLedgerGivesUpOnAStalledStore(t *testing.T) {
	proxy, s, l, req, a := proxiedLedger(t)
	ctx := context.Background()

	proxy.Stall()
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err := l.CreateTransfer(dctx, req)
	cancel()
	took := time.Since(start)
	if code := pw.ErrorCode(err); code != pw.EUNAVAILABLE && code != pw.EBUSY {
		t.Fatalf("a write on a stalled store: %v", err)
	}
	if took > 10*time.Second { // the deadline is 1 s; CommitTimeout is 30 s
		t.Fatalf("the stalled batch was given up after %v", took)
	}
	proxy.Restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := l.CreateTransfer(rctx, req)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger did not recover after the stall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	acc, err := s.Account(ctx, a.ID)
	if err != nil || acc.Balance.Posted != 5 {
		t.Fatalf("after the stall the account holds %+v (%v); want exactly the one transfer that succeeded", acc, err)
	}
	if r, err := ledger.Verify(ctx, s); err != nil || !r.OK() {
		t.Fatalf("verify: %v %+v", err, r)
	}
}

// TestAStalledBatchHoldsNoCallerPastItsDeadline: two payments, one with
// 1.2 s and one with 3 s, queue behind a third while PostgreSQL stalls, and
// are then taken into one batch, which stalls too. The batch is given up at
// the first one's deadline, which hears "busy" then, not at the second
// one's 3 s (as until 2026-11-27); the second is tried again and hears
// "busy" at its own. Nothing moved.
func TestAStalledBatchHoldsNoCallerPastItsDeadline(t *testing.T) {
	proxy, s, l, req, a := proxiedLedger(t)
	pay := func(d time.Duration, out chan<- time.Duration, errs chan<- error) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := l.CreateTransfer(ctx, req)
		out <- time.Since(start)
		errs <- err
	}
	proxy.Stall()
	holder, holderErr := make(chan time.Duration, 1), make(chan error, 1)
	go pay(500*time.Millisecond, holder, holderErr) // holds the one batch slot while stalled
	time.Sleep(100 * time.Millisecond)
	urgent, urgentErr := make(chan time.Duration, 1), make(chan error, 1)
	patient, patientErr := make(chan time.Duration, 1), make(chan error, 1)
	go pay(1200*time.Millisecond, urgent, urgentErr)
	go pay(3*time.Second, patient, patientErr)
	<-holder
	busy := func(err error) bool { c := pw.ErrorCode(err); return c == pw.EBUSY || c == pw.EUNAVAILABLE }
	if err := <-holderErr; !busy(err) {
		t.Fatalf("the payment holding the slot, on a stalled store: %v", err)
	}
	took, err := <-urgent, <-urgentErr
	if !busy(err) || took > 2200*time.Millisecond {
		t.Fatalf("the payment with 1.2 s in a stalled batch: %v after %v; want busy by its own deadline, not the other's 3 s", err, took)
	}
	if took, err := <-patient, <-patientErr; !busy(err) || took < 2500*time.Millisecond {
		t.Fatalf("the payment with 3 s: %v after %v; want busy at its own deadline", err, took)
	}
	proxy.Restore()
	ctx := context.Background()
	if acc, err := s.Account(ctx, a.ID); err != nil || acc.Balance.Posted != 0 {
		t.Fatalf("after the stall the account holds %+v (%v); want nothing moved", acc, err)
	}
}

// TestAReleaseTheDatabaseMissedIsMadeWhenItIsBack: a request claims its
// key, the database goes away, the request fails and its release fails
// too. Once the database is back the ledger makes the release by itself,
// so that the client's retry with the same key runs within a second or
// two, not idempotency_key_in_use until the lease ends (a minute).
func TestAReleaseTheDatabaseMissedIsMadeWhenItIsBack(t *testing.T) {
	proxy, _, l, _, _ := proxiedLedger(t)
	ctx := context.Background()
	key := pw.IdempotencyKey{Principal: "op:test", Key: "k-1"}
	claim, replay, err := l.BeginIdempotent(ctx, key, "fp")
	if err != nil || claim == nil || replay != nil {
		t.Fatalf("claim: %v %v %v", claim, replay, err)
	}
	if _, _, err := l.BeginIdempotent(ctx, key, "fp"); pw.ErrorCode(err) != pw.EIDEMINUSE {
		t.Fatalf("the key while claimed: %v", err)
	}

	proxy.Cut()
	rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	l.ReleaseIdempotent(rctx, claim) // fails: the database is away
	cancel()
	proxy.Restore()
	back := time.Now()

	for {
		claim, _, err := l.BeginIdempotent(ctx, key, "fp")
		if err == nil && claim != nil {
			break
		}
		if code := pw.ErrorCode(err); code != pw.EIDEMINUSE && code != pw.EUNAVAILABLE {
			t.Fatalf("after the database came back: %v", err)
		}
		if time.Since(back) > 20*time.Second { // the lease is 60 s
			t.Fatalf("still %v %v after the database came back", err, time.Since(back))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the key was free again %v after the database came back", time.Since(back).Round(time.Millisecond))
}

// TestACommitCutAtCOMMITIsSettledByTheRetry cuts a payment's transaction
// at its COMMIT, once after PostgreSQL received it (it committed; the
// answer is lost) and once before (it did not), and keeps the database
// out of reach past the payment's deadline. Either way the caller hears
// the outcome is unknown (outcome_unknown), gives its key back (the store
// takes back only a key still in flight under its token, which a commit
// has marked done), and the retry with the same key settles it at once:
// the remembered answer if it committed, the payment run again if it did
// not. The money moves exactly once.
func TestACommitCutAtCOMMITIsSettledByTheRetry(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(map[bool]string{true: "delivered", false: "dropped"}[committed], func(t *testing.T) {
			proxy, s, l, req, a := proxiedLedger(t)
			pay := cutPayer(l, req)

			var fired <-chan struct{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			claim, _, err := pay(ctx, func() { fired = proxy.CutAt([]byte("commit\x00"), committed) })
			cancel()
			if pw.ErrorCode(err) != pw.EOUTCOMEUNKNOWN || !errors.Is(err, pw.ErrCommitUnknown) {
				t.Fatalf("a payment cut at its COMMIT, the database away past its deadline: %v", err)
			}
			<-fired
			proxy.Restore()
			l.ReleaseIdempotent(context.Background(), claim)

			_, replay, err := pay(context.Background(), func() {})
			switch {
			case err != nil:
				t.Fatalf("the retry: %v", err)
			case committed && (replay == nil || replay.Status != 201):
				t.Fatalf("the retry of a payment that committed ran it again (replay %+v)", replay)
			case !committed && replay != nil:
				t.Fatalf("the retry of a payment that did not commit was answered from memory: %+v", replay)
			}
			mustHaveMovedOnce(t, s, l, a)
		})
	}
}

// TestACutCOMMITIsResolvedByAskingTheDatabase: when a payment's COMMIT is
// cut and the database is back within the payment's deadline, the store
// asks it whether the transaction committed (pg_xact_status of the ID it
// took before COMMIT) instead of answering "outcome unknown": delivered,
// the payment succeeds; dropped, the store runs it again, and it
// succeeds. The caller never hears of the cut, and the money moves once.
func TestACutCOMMITIsResolvedByAskingTheDatabase(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(map[bool]string{true: "delivered", false: "dropped"}[committed], func(t *testing.T) {
			proxy, s, l, req, a := proxiedLedger(t)
			pay := cutPayer(l, req)
			back := make(chan struct{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, replay, err := pay(ctx, func() {
				fired := proxy.CutAt([]byte("commit\x00"), committed)
				go func() {
					<-fired
					time.Sleep(300 * time.Millisecond) // a few questions go unanswered
					proxy.Restore()
					close(back)
				}()
			})
			if err != nil || replay != nil {
				t.Fatalf("a payment cut at its COMMIT, the database back in its time: %v (replay %+v)", err, replay)
			}
			select {
			case <-back:
			default:
				t.Fatal("the payment ended before the database was back: the cut did not happen where it was meant to")
			}
			mustHaveMovedOnce(t, s, l, a)
		})
	}
}

// TestACommitAnsweredAfterItsDeadlineIsAskedAbout: a payment's COMMIT
// reaches a database that carries it out, but its answer comes after the
// payment's deadline (in a surge on a slow VM, the server's own goroutines
// were that late: 169 payments of one run answered 504). The store still
// asks the database, which answers on another connection at once: the
// payment committed, and the caller hears so, a little after its
// deadline, instead of "outcome unknown". Until 2026-11-27 the question
// had only what was left of the deadline, nothing, and was never asked.
func TestACommitAnsweredAfterItsDeadlineIsAskedAbout(t *testing.T) {
	proxy, s, l, req, a := proxiedLedger(t)
	pay := cutPayer(l, req)
	var fired <-chan struct{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, replay, err := pay(ctx, func() { fired = proxy.HoldAt([]byte("commit\x00")) })
	took := time.Since(start)
	select {
	case <-fired:
	default:
		t.Fatal("the payment's COMMIT was not held: the test did not do what it means to")
	}
	proxy.Restore()
	if err != nil || replay != nil {
		t.Fatalf("a payment whose COMMIT was answered after its deadline, the database there: %v (replay %+v) after %v; want paid", err, replay, took)
	}
	if took > time.Second+postgres.CommitResolveMin+500*time.Millisecond {
		t.Fatalf("answered after %v: the question went on past its grace", took)
	}
	mustHaveMovedOnce(t, s, l, a)
}

// cutPayer returns pay, which claims key k-outcome and, before the
// payment's own transaction, calls armed (the claim commits a transaction
// of its own), then pays req.
// (A key containing the cut's pattern would trip the cut.)
func cutPayer(l *ledger.Ledger, req pw.TransferCreate) func(ctx context.Context, armed func()) (*pw.IdempotencyRecord, *pw.IdempotencyRecord, error) {
	key := pw.IdempotencyKey{Principal: "op:test", Key: "k-outcome"}
	render := func(v any, err error) (int, []byte) {
		if tr, ok := v.(*pw.Transfer); ok && err == nil {
			return 201, []byte(tr.ID)
		}
		return 500, nil
	}
	return func(ctx context.Context, armed func()) (*pw.IdempotencyRecord, *pw.IdempotencyRecord, error) {
		claim, replay, err := l.BeginIdempotent(ctx, key, "fp")
		if err != nil || replay != nil {
			return nil, replay, err
		}
		armed()
		_, err = l.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claim, Render: render}), req)
		return claim, nil, err
	}
}

// mustHaveMovedOnce checks that a holds the 5 EUR of one payment and that
// the ledger verifies.
func mustHaveMovedOnce(t *testing.T, s *postgres.Store, l *ledger.Ledger, a *pw.Account) {
	t.Helper()
	ctx := context.Background()
	b, err := l.Account(ctx, a.ID)
	if err != nil || b.Balance.Posted != 5 {
		t.Fatalf("balance %+v, %v: want 5, moved once", b, err)
	}
	rep, err := ledger.Verify(ctx, s)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestALeaseOfAStoppedProcessIsFreeAtOnce: while the process holding a
// key's lease lives, another process's claim of the key finds it in
// flight; once that process is gone (closed here; killed, its beat stops
// and it is taken for dead after LeaseOwnerTimeout, as the kill -9 test in
// cmd/peakwallet shows), the next claim of the same request takes the
// lease over at once instead of after the lease's minute.
func TestALeaseOfAStoppedProcessIsFreeAtOnce(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	a, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	rec := func(token string) *pw.IdempotencyRecord {
		return &pw.IdempotencyRecord{IdempotencyKey: pw.IdempotencyKey{Principal: "op:test", Key: "k"}, Fingerprint: "fp",
			Token: token, State: pw.IdempotencyInFlight, CreatedAt: now, LockedAt: now}
	}
	staleBefore := now.Add(-pw.IdempotencyLease)
	if ex, err := a.ClaimIdempotency(ctx, rec("a"), staleBefore); err != nil || ex != nil {
		t.Fatalf("a's claim: %+v %v", ex, err)
	}
	if ex, err := b.ClaimIdempotency(ctx, rec("b"), staleBefore); err != nil || ex == nil || ex.Token != "a" {
		t.Fatalf("b's claim while a lives: %+v %v, want a's lease in flight", ex, err)
	}
	a.Close()
	if ex, err := b.ClaimIdempotency(ctx, rec("b"), staleBefore); err != nil || ex != nil {
		t.Fatalf("b's claim once a has stopped: %+v %v, want the lease taken over", ex, err)
	}
	other := rec("c")
	other.Fingerprint = "another body"
	if ex, err := b.ClaimIdempotency(ctx, other, staleBefore); err != nil || ex == nil || ex.Fingerprint != "fp" {
		t.Fatalf("another request with the key: %+v %v, want the existing lease (reused key)", ex, err)
	}
}

// proxiedLedger opens a store on a database of its own through a fault
// proxy, and a ledger over it with a bank and a user account; req pays
// 5 EUR from the bank to the user, a.
func proxiedLedger(t *testing.T) (*faultproxy.Proxy, *postgres.Store, *ledger.Ledger, pw.TransferCreate, *pw.Account) {
	t.Helper()
	proxy, dsn := faultproxy.ForPostgres(t, pgtest.NewDatabase(t))
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := ledger.New(s, ledger.Options{})
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	return proxy, s, l, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 5, Currency: "EUR"}, a
}

// TestAReleaseOnAStalledStoreHoldsNoAnswer: a request that failed gives its
// idempotency key back before it is answered, so that the client's retry
// runs at once. On a stalled store that release waited for as long as the
// stall lasted (its context kept neither the caller's cancellation nor
// any deadline), and the failed request's answer with it: in a 10 s
// stall under load, hundreds of payments refused busy at their deadline
// reached their clients after the clients had given up. The release now
// waits until the caller's deadline, or ledger.ReleaseWaitMin when that
// has passed, then leaves the key to the background retries, which free
// it once the store answers.
func TestAReleaseOnAStalledStoreHoldsNoAnswer(t *testing.T) {
	proxy, s, l, _, _ := proxiedLedger(t)
	ctx := context.Background()
	key := pw.IdempotencyKey{Principal: "user:u1", Key: "stalled-release"}
	claim, _, err := l.BeginIdempotent(ctx, key, "fp")
	if err != nil || claim == nil {
		t.Fatalf("claim: %v %v", claim, err)
	}
	proxy.Stall()
	done := make(chan time.Duration, 1)
	go func() {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		<-dctx.Done() // the request ran out of its time, as at a stalled batch's give-up
		start := time.Now()
		l.ReleaseIdempotent(dctx, claim)
		done <- time.Since(start)
	}()
	select {
	case took := <-done:
		if took > ledger.ReleaseWaitMin+time.Second {
			t.Fatalf("the release held its caller %v", took)
		}
	case <-time.After(10 * time.Second):
		proxy.Restore() // so that the release, and the test's clean-up, can end
		t.Fatalf("the release on a stalled store held its caller until the stall ended (%v later)", <-done)
	}
	proxy.Restore()
	// Freed in the background once the store answers: a new claim with
	// the same key and body runs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _, err := l.BeginIdempotent(ctx, key, "fp")
		if err == nil && c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key was not given back after the stall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = s
}

// TestAStalledClaimHoldsNoCallerPastItsDeadline: new keys are claimed in
// group commits, and a batch runs until the latest of its callers'
// deadlines. On a stalled database a caller that joined a batch with an
// earlier deadline than the others waited for the batch all the same (in
// a stall under load, payments were answered 1.1 s past their 1.8 s, after
// their clients had given up). Now it leaves at its own deadline; its
// claim, stored or not, is given back by the ledger.
func TestAStalledClaimHoldsNoCallerPastItsDeadline(t *testing.T) {
	proxy, s, _, _, _ := proxiedLedger(t)
	claim := stalledClaim(t, s)
	// A first claim before the stall starts the store's lease beat, so that
	// the claims below meet the group commit, not the first beat
	// (TestAClaimOnAStoreStalledFromItsStartHoldsNoCallerPastItsDeadline).
	now := time.Now()
	if _, err := s.ClaimIdempotency(context.Background(), &pw.IdempotencyRecord{IdempotencyKey: pw.IdempotencyKey{Principal: "user:u1", Key: "warm"},
		Fingerprint: "fp", Token: "warm", State: pw.IdempotencyInFlight, CreatedAt: now, LockedAt: now}, now.Add(-pw.IdempotencyLease)); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	first, late, early := make(chan time.Duration, 1), make(chan time.Duration, 1), make(chan time.Duration, 1)
	go claim("first", 400*time.Millisecond, first) // its batch stalls until 0.4 s
	time.Sleep(100 * time.Millisecond)
	go claim("late", 4*time.Second, late)           // the next batch runs until 4 s
	go claim("early", 1200*time.Millisecond, early) // taken in it at 0.4 s
	<-first
	select {
	case took := <-early:
		if took > 1200*time.Millisecond+500*time.Millisecond {
			t.Fatalf("a claim with 1.2 s was answered after %v", took)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a claim with 1.2 s waited for its batch, until its other caller's 4 s")
	}
	proxy.Restore()
	<-late
}

// TestAClaimOnAStoreStalledFromItsStartHoldsNoCallerPastItsDeadline: a
// store's first claim writes its lease beat first, and every claim waits
// for that; on a database stalled since the store opened, a claim with
// 1.2 s waited behind one with 4 s for the whole 4 s. It leaves at its own
// deadline now.
func TestAClaimOnAStoreStalledFromItsStartHoldsNoCallerPastItsDeadline(t *testing.T) {
	proxy, s, _, _, _ := proxiedLedger(t)
	claim := stalledClaim(t, s)
	proxy.Stall()
	late, early := make(chan time.Duration, 1), make(chan time.Duration, 1)
	go claim("late", 4*time.Second, late) // writes the first beat, until 4 s
	time.Sleep(100 * time.Millisecond)
	go claim("early", 1200*time.Millisecond, early)
	select {
	case took := <-early:
		if took > 1200*time.Millisecond+500*time.Millisecond {
			t.Fatalf("a claim with 1.2 s was answered after %v", took)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a claim with 1.2 s waited for the first beat, until its other caller's 4 s")
	}
	proxy.Restore()
	<-late
}

// stalledClaim returns a claim of key within d on s that reports how long
// it took; a claim other than "late" must fail (the store is stalled).
func stalledClaim(t *testing.T, s *postgres.Store) func(key string, d time.Duration, took chan<- time.Duration) {
	return func(key string, d time.Duration, took chan<- time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		start, now := time.Now(), time.Now()
		rec := &pw.IdempotencyRecord{IdempotencyKey: pw.IdempotencyKey{Principal: "user:u1", Key: key}, Fingerprint: "fp",
			Token: key, State: pw.IdempotencyInFlight, CreatedAt: now, LockedAt: now}
		_, err := s.ClaimIdempotency(ctx, rec, now.Add(-pw.IdempotencyLease))
		if err == nil && key != "late" { // "late" may be stored once the store answers again
			t.Errorf("claim %s on a stalled store succeeded", key)
		}
		took <- time.Since(start)
	}
}

// TestALeftClaimStoredLaterIsGivenBack: a claim's caller leaves its group
// commit at its deadline while the batch goes on (it runs until its
// latest caller's deadline), and the ledger gives the claim back in the
// background. That release used to be made, and counted done, while the
// batch was still open: it found no row (the batch's insert was not
// committed yet), and the batch then committed the claim, which held the
// key in_flight for the whole lease: the client's retry heard
// idempotency_key_in_use for a minute. Here the batch is held open by a
// lock on another of its keys until after the release was tried.
func TestALeftClaimStoredLaterIsGivenBack(t *testing.T) {
	proxy, dsn := faultproxy.ForPostgres(t, pgtest.NewDatabase(t))
	_ = proxy
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := ledger.New(s, ledger.Options{})
	t.Cleanup(func() { l.Close() })

	// An uncommitted transaction holds keys b1 and b2: a batch claiming
	// either waits for it.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency
			(principal, key, fingerprint, token, state, status, body, created_at, locked_at, owner)
		VALUES ('user:u1', 'b1', 'fp', 't-b1', 'in_flight', 0, NULL, now(), now(), ''),
			('user:u1', 'b2', 'fp', 't-b2', 'in_flight', 0, NULL, now(), now(), '')`); err != nil {
		t.Fatal(err)
	}
	begin := func(key string, d time.Duration, errs chan<- error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, _, err := l.BeginIdempotent(ctx, pw.IdempotencyKey{Principal: "user:u1", Key: key}, "fp")
		errs <- err
	}
	first, early, late := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go begin("b1", 300*time.Millisecond, first) // its batch waits for the lock until 0.3 s
	time.Sleep(100 * time.Millisecond)
	go begin("e", time.Second, early) // the next batch: e, then b2, which waits for the lock
	time.Sleep(20 * time.Millisecond)
	go begin("b2", 6*time.Second, late) // ... until 6 s
	if err := <-early; err == nil {
		t.Fatal("the claim of e succeeded while its batch waited for a lock")
	}
	time.Sleep(800 * time.Millisecond) // the ledger tries e's release meanwhile
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	<-first
	<-late
	deadline := time.Now().Add(3 * time.Second)
	for {
		claim, _, err := l.BeginIdempotent(ctx, pw.IdempotencyKey{Principal: "user:u1", Key: "e"}, "fp")
		if err == nil && claim != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key of a claim whose caller left its batch: %v, 3 s after the batch; want it given back", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
