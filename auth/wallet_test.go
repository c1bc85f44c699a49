package auth_test

import (
	"context"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// openedElsewhere is a ledger whose batch finds the wallet's opening key
// finished by another process's opening (ADR 0036): CreateAccount answers
// pw.Replayed with that opening's remembered answer, the account's ID.
type openedElsewhere struct {
	auth.Ledger
	account  *pw.Account
	released *int
}

func (l openedElsewhere) BeginIdempotent(_ context.Context, key pw.IdempotencyKey, fp string) (*pw.IdempotencyRecord, *pw.IdempotencyRecord, error) {
	return &pw.IdempotencyRecord{IdempotencyKey: key, Fingerprint: fp, Token: "t"}, nil, nil
}

func (l openedElsewhere) ReleaseIdempotent(context.Context, *pw.IdempotencyRecord) { *l.released++ }

func (l openedElsewhere) CreateAccount(context.Context, pw.AccountCreate) (*pw.Account, error) {
	return nil, &pw.Replayed{Record: &pw.IdempotencyRecord{State: pw.IdempotencyDone, Status: 201, Body: []byte(l.account.ID)}}
}

func (l openedElsewhere) Account(_ context.Context, id string) (*pw.Account, error) {
	if id != l.account.ID {
		return nil, pw.Errorf(pw.EACCOUNTNOTFOUND, "account %s not found", id)
	}
	return l.account, nil
}

// TestAWalletOpenedElsewhereIsReturned: two openings of the same wallet on
// the two processes of a handover both pass the check that none exists; the
// second one's batch finds the first finished and creates nothing. It
// returns the wallet the first opened, as not newly created, and gives its
// claim back.
func TestAWalletOpenedElsewhereIsReturned(t *testing.T) {
	first := &pw.Account{ID: "acc_first", Kind: pw.AccountUser, Currency: "EUR", OwnerID: "usr_1"}
	var released int
	svc := auth.New(newMemStore(t), openedElsewhere{account: first, released: &released}, auth.Options{})
	ctx := pw.NewContextWithPrincipal(context.Background(), pw.Principal{Kind: pw.PrincipalUser, ID: "usr_1"})
	acc, created, err := svc.OpenWallet(ctx, auth.WalletCreate{Currency: "EUR"})
	if err != nil || created || acc == nil || acc.ID != first.ID {
		t.Fatalf("OpenWallet = %+v, created %v, %v; want the wallet opened elsewhere, not created", acc, created, err)
	}
	if released != 1 {
		t.Fatalf("claims released: %d, want 1", released)
	}
}
