package auth_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// holdersStore counts AccountHolders reads, and fails them with err.
type holdersStore struct {
	auth.Store
	calls int
	ids   []string
	err   error
}

func (s *holdersStore) AccountHolders(ctx context.Context, ids []string) (map[string]auth.AccountHolder, error) {
	s.calls++
	s.ids = append(s.ids, ids...)
	if s.err != nil {
		return nil, s.err
	}
	return s.Store.AccountHolders(ctx, ids)
}

// TestAPageOfTransfersReadsItsPartiesOnce: a page of a history names its
// parties with one read of the holders of its distinct accounts, however
// many rows it has (no read a row); and a failed read of them fails the
// page, as a failed read of the transfers would (a history is not shown
// half-named).
func TestAPageOfTransfersReadsItsPartiesOnce(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "wallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := ledger.New(db, ledger.Options{})
	t.Cleanup(func() { l.Close() })
	store := &holdersStore{Store: db}
	g := auth.New(store, l, auth.Options{}).Guard()

	open := func(kind pw.AccountKind, owner string) string {
		t.Helper()
		a, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: kind, Currency: "EUR", OwnerID: owner})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	ann := &auth.User{ID: pw.NewID(pw.PrefixUser, time.Now()), Handle: "ann@example.com", PasswordHash: "x", CreatedAt: time.Now()}
	if err := db.CreateUser(ctx, ann); err != nil {
		t.Fatal(err)
	}
	wallet, system := open(pw.AccountUser, ann.ID), open(pw.AccountSystem, "")
	var payees []string
	for i := range 5 {
		payees = append(payees, open(pw.AccountUser, "usr_"+strconv.Itoa(i)))
	}
	pay := func(from, to string, amount int64) {
		t.Helper()
		if _, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: from, ToAccount: to, Amount: amount, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		pay(system, wallet, 2)
	}
	for i := range 20 {
		pay(wallet, payees[i%len(payees)], 1)
	}

	actx := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: ann.ID})
	ts, _, err := g.Transfers(actx, wallet, pw.Page{Limit: 100})
	if err != nil || len(ts) != 30 {
		t.Fatalf("Transfers = %d transfers, %v; want 30", len(ts), err)
	}
	if store.calls != 1 || len(store.ids) != 2+len(payees) {
		t.Fatalf("a page of 30 read the holders %d times, of %d accounts; want once, of the %d distinct", store.calls, len(store.ids), 2+len(payees))
	}
	if p := ts[0].FromParty; p == nil || p.Handle != "ann@example.com" {
		t.Fatalf("the newest transfer's from_party = %+v, want ann", p)
	}

	store.err = &pw.Error{Code: pw.EUNAVAILABLE, Op: "test", Message: "the database cannot be reached"}
	if _, _, err := g.Transfers(actx, wallet, pw.Page{Limit: 100}); pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("Transfers with the holders unreadable: %v, want %s", err, pw.EUNAVAILABLE)
	}
	if _, err := g.Transfer(actx, ts[0].ID); pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("Transfer with the holders unreadable: %v, want %s", err, pw.EUNAVAILABLE)
	}
}
