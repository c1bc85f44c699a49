// Package storetest is the one conformance suite every peakwallet.Store
// passes: the rules of money, holds, refunds, batches, idempotency and the
// invariants of API.md under concurrency, all through the real ledger.
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openStore) }
package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// Opener returns a new, empty, migrated store; the suite closes it.
type Opener func(t *testing.T) pw.Store

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Accounts", testAccounts},
		{"TransferMovesMoney", testTransferMovesMoney},
		{"BadTransfersMoveNothing", testBadTransfersMoveNothing},
		{"Overdraft", testOverdraft},
		{"Overflow", testOverflow},
		{"Holds", testHolds},
		{"HoldExpiry", testHoldExpiry},
		{"HoldExpiresWithoutBeingAsked", testHoldExpiresWithoutBeingAsked},
		{"Refunds", testRefunds},
		{"Batch", testBatch},
		{"BatchAtomic", testBatchAtomic},
		{"Pagination", testPagination},
		{"Idempotency", testIdempotency},
		{"IdempotencyStaleLease", testIdempotencyStaleLease},
		{"IdempotencyRace", testIdempotencyRace},
		{"ConcurrentBank", testConcurrentBank},
		{"RefundsRace", testRefundsRace},
		{"HoldsRace", testHoldsRace},
		{"ACaptureThatWouldOverflowThePayeeMovesNothing", testACaptureThatWouldOverflowThePayeeMovesNothing},
		{"AvailableNeverWraps", testAvailableNeverWraps},
		{"RecordsCommitWithTheirCommand", testRecordsCommitWithTheirCommand},
		{"OutOfTimeMovesNothing", testOutOfTimeMovesNothing},
		{"OutOfTimeBatchIsCounted", testOutOfTimeBatchIsCounted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// Clock is a settable clock for tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed start time.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// env is one test's ledger over a fresh store.
type env struct {
	t     *testing.T
	store pw.Store
	l     *ledger.Ledger
	clock *Clock
	ctx   context.Context
}

func newEnv(t *testing.T, open Opener) *env {
	t.Helper()
	s := open(t)
	return newEnvOn(t, s, NewClock())
}

func newEnvOn(t *testing.T, s pw.Store, clock *Clock) *env {
	t.Helper()
	var now func() time.Time
	if clock != nil {
		now = clock.Now
	}
	l := ledger.New(s, ledger.Options{Now: now})
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, store: s, l: l, clock: clock, ctx: ctx}
}

// MustAccount opens an account or fails the test.
func (e *env) MustAccount(kind pw.AccountKind, cur pw.Currency, overdraft int64) *pw.Account {
	e.t.Helper()
	a, err := e.l.CreateAccount(e.ctx, pw.AccountCreate{Kind: kind, Currency: cur, OverdraftLimit: overdraft})
	if err != nil {
		e.t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

// MustTransfer moves money or fails the test.
func (e *env) MustTransfer(from, to *pw.Account, amount int64) *pw.Transfer {
	e.t.Helper()
	tr, err := e.l.CreateTransfer(e.ctx, pw.TransferCreate{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: from.Currency})
	if err != nil {
		e.t.Fatalf("CreateTransfer %d %s: %v", amount, from.Currency, err)
	}
	return tr
}

// MustBalance checks an account's balance.
func (e *env) MustBalance(a *pw.Account, posted, pendingOut, pendingIn int64) {
	e.t.Helper()
	got, err := e.l.Account(e.ctx, a.ID)
	if err != nil {
		e.t.Fatalf("Account: %v", err)
	}
	want := pw.Balance{Posted: posted, PendingOut: pendingOut, PendingIn: pendingIn, Available: posted - pendingOut}
	if got.Balance != want {
		e.t.Fatalf("account %s balance = %+v, want %+v", a.ID, got.Balance, want)
	}
}

// MustVerify runs the invariant check and fails on any violation.
func (e *env) MustVerify() *ledger.Report {
	e.t.Helper()
	return MustVerify(e.t, e.store)
}

// MustVerify runs ledger.Verify on s and fails the test on any violation.
func MustVerify(tb testing.TB, s pw.Store) *ledger.Report {
	tb.Helper()
	r, err := ledger.Verify(context.Background(), s)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	if !r.OK() {
		tb.Fatalf("Verify found %d violations: %v", r.ViolationsN, r.Violations)
	}
	return r
}

// MustCode checks that err carries code.
func MustCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := pw.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// render is a stand-in for the HTTP layer's response rendering.
func render(v any, err error) (int, []byte) {
	if err != nil {
		b, _ := json.Marshal(map[string]string{"code": pw.ErrorCode(err)})
		return 400, b
	}
	b, _ := json.Marshal(v)
	return 201, b
}
