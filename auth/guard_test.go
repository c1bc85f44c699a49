package auth_test

import (
	"context"
	"testing"
	"time"

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

// hangingStore is an auth store that never answers: a database starting
// up, or a pool with no connection to give.
type hangingStore struct{ auth.Store }

func (hangingStore) OperatorByHash(ctx context.Context, _ string) (*auth.Operator, error) {
	<-ctx.Done()
	return nil, &pw.Error{Code: pw.EUNAVAILABLE, Op: "test", Message: "the request ran out of time", Err: ctx.Err()}
}

// TestAuthenticateBounded: authentication runs before admission control
// and its deadlines, so its store read has a bound of its own; a store
// that hangs makes the request unavailable (503 busy) within
// AuthStoreTimeout, not whenever the client gives up.
func TestAuthenticateBounded(t *testing.T) {
	svc := auth.New(hangingStore{}, nil, auth.Options{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	// The client's own patience, so that a missing bound fails the test
	// instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*auth.AuthStoreTimeout+time.Second)
	defer cancel()
	start := time.Now()
	_, err := svc.Authenticate(ctx, auth.NewToken(auth.PrefixOperatorKey))
	took := time.Since(start)
	if pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("Authenticate against a hanging store: %v, want %s", err, pw.EUNAVAILABLE)
	}
	if took > auth.AuthStoreTimeout+time.Second {
		t.Fatalf("Authenticate took %v, want about %v", took, auth.AuthStoreTimeout)
	}
}
