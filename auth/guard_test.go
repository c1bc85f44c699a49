package auth_test

import (
	"context"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// downLedger is a ledger whose database cannot be reached: every call
// fails as a store fails during an outage.
type downLedger struct{ auth.Ledger }

var errDown = &pw.Error{Code: pw.EUNAVAILABLE, Op: "test", Message: "the database cannot be reached"}

func (downLedger) Account(context.Context, string) (*pw.Account, error) { return nil, errDown }
func (downLedger) Transfer(context.Context, string) (*pw.Transfer, error) {
	return nil, errDown
}

// TestGuardOutageIsUnavailable: while the database is down, the guard's
// ownership checks must say "unavailable" (503 busy), never that the
// account or transfer does not exist (404): a client told 404 gives up on
// an account that is still there, one told 503 retries.
func TestGuardOutageIsUnavailable(t *testing.T) {
	g := auth.New(newMemStore(t), downLedger{}, auth.Options{}).Guard()
	ctx := context.Background()
	for _, p := range []pw.Principal{
		{Kind: pw.PrincipalMerchant, ID: "mer_1"},
		{Kind: pw.PrincipalUser, ID: "usr_1"},
	} {
		pctx := pw.NewContextWithPrincipal(ctx, p)
		_, err := g.CreateTransfer(pctx, pw.TransferCreate{FromAccount: "acc_1", ToAccount: "acc_2", Amount: 1, Currency: "EUR"})
		if pw.ErrorCode(err) != pw.EUNAVAILABLE {
			t.Errorf("%s: CreateTransfer during an outage: %v, want %s", p.Kind, err, pw.EUNAVAILABLE)
		}
		_, err = g.CreateHold(pctx, pw.HoldCreate{FromAccount: "acc_1", ToAccount: "acc_2", Amount: 1, Currency: "EUR"})
		if pw.ErrorCode(err) != pw.EUNAVAILABLE {
			t.Errorf("%s: CreateHold during an outage: %v, want %s", p.Kind, err, pw.EUNAVAILABLE)
		}
		if _, err := g.Account(pctx, "acc_1"); pw.ErrorCode(err) != pw.EUNAVAILABLE {
			t.Errorf("%s: Account during an outage: %v, want %s", p.Kind, err, pw.EUNAVAILABLE)
		}
		if _, err := g.Transfer(pctx, "tr_1"); pw.ErrorCode(err) != pw.EUNAVAILABLE {
			t.Errorf("%s: Transfer during an outage: %v, want %s", p.Kind, err, pw.EUNAVAILABLE)
		}
	}
}
