package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// During a binary handover two processes share the database file for a
// while: the new one serves new connections while the old one drains its
// own (docs/overload.md, "Maintenance without downtime"). Each process has
// its own memory: the accounts cached for its writer and its idempotency
// leases. These tests open two stores on one file, as the two processes do.

func twoProcesses(t *testing.T) (a, b *ledger.Ledger, sa, sb *sqlite.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	sa, a = sqlite.OpenLedger(t, path, sqlite.Options{})
	sb, b = sqlite.OpenLedger(t, path, sqlite.Options{})
	return a, b, sa, sb
}

func mustVerify(t *testing.T, s pw.Store) {
	t.Helper()
	r, err := ledger.Verify(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("verify: %+v", r)
	}
}

// TestTwoProcessesKeepBalancesExact: each process pays from the same
// account in turn. A process that kept an account's balance from its own
// last commit would write over the other's payment in between.
func TestTwoProcessesKeepBalancesExact(t *testing.T) {
	a, b, sa, _ := twoProcesses(t)
	ctx := context.Background()
	bank, user := sqlite.BankAndUser(t, a)
	pay := func(l *ledger.Ledger, amount int64) {
		t.Helper()
		if _, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: amount, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	pay(b, 1) // b's writer now knows both accounts
	pay(a, 10)
	pay(b, 100)
	pay(a, 1000)
	for name, l := range map[string]*ledger.Ledger{"a": a, "b": b} {
		acc, err := l.Account(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if acc.Balance.Posted != 1111 {
			t.Fatalf("process %s reads a balance of %d, want 1111: a payment of the other process was overwritten", name, acc.Balance.Posted)
		}
	}
	mustVerify(t, sa)
}

// TestTwoProcessesRunAKeyOnce: a request and its retry, sent with the same
// Idempotency-Key to the two processes while neither has finished, are
// both claimed (each process sees only its own leases, and the key is not
// yet in the table). The first to commit pays; the other must not pay
// again, and answers with the first one's remembered answer.
func TestTwoProcessesRunAKeyOnce(t *testing.T) {
	a, b, sa, _ := twoProcesses(t)
	ctx := context.Background()
	bank, user := sqlite.BankAndUser(t, a)
	key := pw.IdempotencyKey{Principal: "operator:root", Key: "retried-across-the-handover"}
	render := func(v any, err error) (int, []byte) {
		if err != nil {
			return 400, []byte(pw.ErrorCode(err))
		}
		out, _ := json.Marshal(v)
		return 201, out
	}
	claimA, replay, err := a.BeginIdempotent(ctx, key, "fp")
	if err != nil || replay != nil {
		t.Fatalf("claim in a: %v, %+v", err, replay)
	}
	claimB, replay, err := b.BeginIdempotent(ctx, key, "fp")
	if err != nil || replay != nil {
		t.Fatalf("claim in b: %v, %+v (the processes' leases are their own, so b claims too)", err, replay)
	}
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 700, Currency: "EUR"}
	first, err := a.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimA, Render: render}), req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimB, Render: render}), req)
	var replayed *pw.Replayed
	if !errors.As(err, &replayed) {
		t.Fatalf("the retry in b: %v; want it answered with a's remembered answer", err)
	}
	var got pw.Transfer
	if replayed.Record.Status != 201 || json.Unmarshal(replayed.Record.Body, &got) != nil || got.ID != first.ID {
		t.Fatalf("replayed %d %s, want 201 with transfer %s", replayed.Record.Status, replayed.Record.Body, first.ID)
	}
	// The same key with another request's content is refused, not replayed.
	claimB2, _, err := b.BeginIdempotent(ctx, pw.IdempotencyKey{Principal: key.Principal, Key: "second"}, "fp")
	if err != nil {
		t.Fatal(err)
	}
	claimA2, _, err := a.BeginIdempotent(ctx, pw.IdempotencyKey{Principal: key.Principal, Key: "second"}, "fp-other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimB2, Render: render}), req); err != nil {
		t.Fatal(err)
	}
	_, err = a.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimA2, Render: render}), req)
	if pw.ErrorCode(err) != pw.EIDEMREUSED {
		t.Fatalf("another request under a key the other process finished: %v; want %s", err, pw.EIDEMREUSED)
	}
	acc, err := a.Account(ctx, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance.Posted != 1400 {
		t.Fatalf("posted %d, want 1400: a key's payment ran twice", acc.Balance.Posted)
	}
	mustVerify(t, sa)
}

// TestACachedBalanceIsNotServedAfterTheOtherPaid: a process alone serves
// balances from its cache. A process opening beside it waits until the
// first has stopped doing so, so a balance read from the first just after
// a payment through the second shows the payment (read-your-writes across
// the handover). Until 2026-11-27 the first kept serving its cache for up
// to ShareCheckInterval after the second opened.
func TestACachedBalanceIsNotServedAfterTheOtherPaid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	sa, a := sqlite.OpenLedger(t, path, sqlite.Options{})
	ctx := context.Background()
	bank, user := sqlite.BankAndUser(t, a)
	if _, err := a.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, shared := sa.Sharing(); shared {
		t.Fatal("a store alone says it shares its file")
	}
	if acc, err := sa.Account(ctx, user.ID); err != nil || acc.Balance.Posted != 5 {
		t.Fatalf("a reads %+v, %v; want 5", acc, err)
	}
	for i := 1; i <= 3; i++ { // a new process, three times over
		sb, err := sqlite.Open(path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b := ledger.New(sb, ledger.Options{})
		if _, err := b.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 7, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
		want := int64(5 + 7*i)
		if acc, err := sa.Account(ctx, user.ID); err != nil || acc.Balance.Posted != want {
			t.Fatalf("round %d: a reads %+v, %v just after b paid; want %d", i, acc.Balance, err, want)
		}
		b.Close()
		sb.Close()
		sqlite.WaitAlone(t, sa)
	}
	mustVerify(t, sa)
}

// TestACacheIsCheckedBeforeItServesAgain: when the other process has gone,
// a store serves reads from its cache again, but only after its writer has
// looked for the other's commits. Until 2026-11-27 it served the balances
// of its own last commit until its writer next ran (on a quiet night, for
// as long as nobody paid).
func TestACacheIsCheckedBeforeItServesAgain(t *testing.T) {
	a, b, sa, sb := twoProcesses(t)
	ctx := context.Background()
	bank, user := sqlite.BankAndUser(t, a)
	if _, err := a.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"}); err != nil {
		t.Fatal(err) // a's writer caches the user's balance: 5
	}
	if _, err := b.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 7, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	sqlite.WaitAlone(t, sa)
	if acc, err := sa.Account(ctx, user.ID); err != nil || acc.Balance.Posted != 12 {
		t.Fatalf("a alone again reads %+v, %v; want 12 (b's payment)", acc.Balance, err)
	}
	if n, _ := sa.Sharing(); n == 0 {
		t.Fatal("a's writer did not count b's commit")
	}
}

// TestACancelInOneProcessStopsThePaymentInTheOther: during a handover two
// processes share the file, each with its own leases, so the settler of
// one and a cancellation in the other can both claim an intent's key. The
// cancellation marks the key done in the table; the other process's batch
// finds it there and pays nothing (it replays the cancellation), and a
// cancellation that comes after the other's payment finds the payment.
func TestACancelInOneProcessStopsThePaymentInTheOther(t *testing.T) {
	a, b, sa, sb := twoProcesses(t)
	ctx := context.Background()
	bank, user := sqlite.BankAndUser(t, a)
	now := time.Now().UTC().Truncate(time.Microsecond)
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 700, Currency: "EUR"}
	render := func(v any, err error) (int, []byte) {
		if err != nil {
			return 400, []byte(pw.ErrorCode(err))
		}
		out, _ := json.Marshal(v)
		return 201, out
	}
	cancelled := &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "cancelled"}
	for _, paidFirst := range []bool{false, true} {
		in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "operator:root", IdempotencyKey: fmt.Sprint("across-", paidFirst),
			Fingerprint: "fp", Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now, Authorized: true}
		if _, err := sa.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		key := pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}
		claimA, _, err := a.BeginIdempotent(ctx, key, in.Fingerprint) // a's settler
		if err != nil || claimA == nil {
			t.Fatalf("claim in a: %+v, %v", claimA, err)
		}
		claimB, _, err := b.BeginIdempotent(ctx, key, in.Fingerprint) // the cancellation, in b
		if err != nil || claimB == nil {
			t.Fatalf("claim in b: %+v, %v", claimB, err)
		}
		pay := func() error {
			_, err := a.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimA, Render: render}), req)
			return err
		}
		if paidFirst {
			if err := pay(); err != nil {
				t.Fatal(err)
			}
		}
		answer := *claimB
		answer.Status, answer.Body = 409, []byte(pw.EINTENTCANCELLED)
		got, done, err := sb.CancelIntent(ctx, in.ID, &answer, cancelled, now, nil)
		switch {
		case err != nil:
			t.Fatal(err)
		case paidFirst && (done == nil || done.Status != 201 || got.Status != pw.IntentPending):
			t.Fatalf("a cancellation after the other process paid: %+v, %+v; want the payment's record", got, done)
		case !paidFirst && (done != nil || got.Status != pw.IntentFailed):
			t.Fatalf("the cancellation: %+v, %+v", got, done)
		}
		b.ReleaseIdempotent(ctx, claimB)
		if !paidFirst {
			var replayed *pw.Replayed
			if err := pay(); !errors.As(err, &replayed) || replayed.Record.Status != 409 {
				t.Fatalf("a's payment after b's cancellation: %v; want the cancellation replayed", err)
			}
		}
	}
	acc, err := a.Account(ctx, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance.Posted != 700 {
		t.Fatalf("posted %d, want 700: only the payment made before its cancellation", acc.Balance.Posted)
	}
	mustVerify(t, sa)
}
