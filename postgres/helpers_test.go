package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
)

// MustDSN returns the test database's DSN, or skips the test (fails it in
// CI) when PostgreSQL cannot be reached; see internal/pgtest.
func MustDSN(tb testing.TB) string {
	tb.Helper()
	return pgtest.DSN(tb)
}

// MustOpen opens a store in a schema of its own, dropped when the test ends.
func MustOpen(tb testing.TB) *postgres.Store {
	tb.Helper()
	return MustOpenSchema(tb, NewSchemaName(tb))
}

// NewSchemaName returns a random schema name and drops that schema when
// the test ends.
func NewSchemaName(tb testing.TB) string {
	tb.Helper()
	dsn := MustDSN(tb)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "peakwallet_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// MustOpenSchema opens a store in schema, closed when the test ends
// (before the schema is dropped: cleanups run last first).
func MustOpenSchema(tb testing.TB, schema string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), MustDSN(tb), postgres.Options{Schema: schema, MaxConns: 8})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustWrite commits c in one Update.
func MustWrite(tb testing.TB, s pw.Store, c *pw.Changes) {
	tb.Helper()
	err := s.Update(context.Background(), func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, c)
	})
	if err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// WantCode fails the test unless err carries code.
func WantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := pw.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
	var e *pw.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v is not a *peakwallet.Error", err)
	}
}

// t0 is the tests' fixed clock, at microsecond precision as the ledger
// writes times.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

// at returns t0 plus d seconds.
func at(d int) time.Time { return t0.Add(time.Duration(d) * time.Second) }

func newAccount(kind pw.AccountKind, createdAt time.Time) *pw.Account {
	return &pw.Account{ID: pw.NewID(pw.PrefixAccount, createdAt), Kind: kind, Currency: "EUR", CreatedAt: createdAt}
}

// newPayment returns a transfer with its two entries, the accounts'
// balances and entry counts advanced.
func newPayment(from, to *pw.Account, amount int64, createdAt time.Time) (*pw.Transfer, []*pw.Entry) {
	tr := &pw.Transfer{ID: pw.NewID(pw.PrefixTransfer, createdAt), Kind: pw.TransferPayment,
		FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: from.Currency,
		Status: pw.TransferPosted, CreatedAt: createdAt}
	return tr, postEntries(tr, from, to)
}

func postEntries(tr *pw.Transfer, from, to *pw.Account) []*pw.Entry {
	from.Balance.Posted -= tr.Amount
	to.Balance.Posted += tr.Amount
	from.EntryCount++
	to.EntryCount++
	from.SetAvailable()
	to.SetAvailable()
	return []*pw.Entry{
		{AccountID: from.ID, Seq: from.EntryCount, TransferID: tr.ID, Amount: -tr.Amount,
			PostedBalanceAfter: from.Balance.Posted, Description: tr.Description, CreatedAt: tr.CreatedAt},
		{AccountID: to.ID, Seq: to.EntryCount, TransferID: tr.ID, Amount: tr.Amount,
			PostedBalanceAfter: to.Balance.Posted, Description: tr.Description, CreatedAt: tr.CreatedAt},
	}
}

func newHold(from, to *pw.Account, amount int64, createdAt, expiresAt time.Time) *pw.Hold {
	from.Balance.PendingOut += amount
	to.Balance.PendingIn += amount
	from.SetAvailable()
	return &pw.Hold{ID: pw.NewID(pw.PrefixHold, createdAt), FromAccount: from.ID, ToAccount: to.ID,
		Amount: amount, Currency: from.Currency, Status: pw.HoldPending, ExpiresAt: expiresAt,
		CreatedAt: createdAt, UpdatedAt: createdAt}
}

func ids[T any](xs []T, id func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func accountID(a *pw.Account) string   { return a.ID }
func transferID(t *pw.Transfer) string { return t.ID }
func holdID(h *pw.Hold) string         { return h.ID }
