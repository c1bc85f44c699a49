package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestAKeyFinishedElsewhereIsFoundBeforeTheLockSaysSo: a process learns
// that another has opened its file within ShareCheckInterval, and may run
// a batch before it does. The batch still finds a key that the other
// process finished after this one claimed it, because its writer noticed
// the other's commit (data_version) since the claim.
func TestAKeyFinishedElsewhereIsFoundBeforeTheLockSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lag.db")
	_, a := openLedger(t, path, Options{})
	sb, b := openLedger(t, path, Options{})
	// b has not yet asked the lock: it believes it is alone.
	close(sb.share.stop)
	<-sb.share.stopped
	sb.share.stop = make(chan struct{}) // for Close; stopped is closed already
	sb.share.alone.Store(true)
	ctx := context.Background()
	bank, user := bankAndUser(t, b)
	render := func(v any, err error) (int, []byte) { return 201, []byte(`{}`) }
	key := pw.IdempotencyKey{Principal: "operator:root", Key: "k"}
	claimB, _, err := b.BeginIdempotent(ctx, key, "fp")
	if err != nil {
		t.Fatal(err)
	}
	claimA, _, err := a.BeginIdempotent(ctx, key, "fp")
	if err != nil {
		t.Fatal(err)
	}
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"}
	if _, err := a.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimA, Render: render}), req); err != nil {
		t.Fatal(err)
	}
	_, err = b.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimB, Render: render}), req)
	var replayed *pw.Replayed
	if !errors.As(err, &replayed) {
		t.Fatalf("b ran a key that a finished: %v", err)
	}
	if !sb.share.alone.Load() {
		t.Fatal("the test meant b to believe it was alone")
	}
	acc, err := b.Account(ctx, user.ID) // alone: from b's cache, which its writer emptied
	if err != nil || acc.Balance.Posted != 5 {
		t.Fatalf("balance %+v, %v; want 5", acc, err)
	}
}
