package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// BenchmarkWrite_Batch commits one full batch (BatchTransfersMax transfers
// between 1,000 accounts, with their entries and balances) per iteration:
// the group commit the sequencer relies on.
func BenchmarkWrite_Batch(b *testing.B) {
	ctx := context.Background()
	s := MustOpen(b)
	accounts := make([]*pw.Account, 1000)
	for i := range accounts {
		accounts[i] = newAccount(pw.AccountSystem, at(0))
	}
	MustWrite(b, s, &pw.Changes{NewAccounts: accounts})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := &pw.Changes{Balances: accounts}
		for j := range pw.BatchTransfersMax {
			from, to := accounts[j%len(accounts)], accounts[(j*7+1)%len(accounts)]
			if from == to {
				to = accounts[(j+1)%len(accounts)]
			}
			tr, es := newPayment(from, to, 1, at(i))
			c.Transfers, c.Entries = append(c.Transfers, tr), append(c.Entries, es...)
		}
		if err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			if _, err := tx.LockAccounts(ctx, ids(accounts, accountID)); err != nil {
				return err
			}
			return tx.Write(ctx, c)
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*pw.BatchTransfersMax)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkUpdate_OnePayment commits one payment a transaction: the
// fixed cost of a transaction (BEGIN, the transaction's ID asked before
// COMMIT, COMMIT) against a small write.
func BenchmarkUpdate_OnePayment(b *testing.B) {
	ctx := context.Background()
	s := MustOpen(b)
	from, to := newAccount(pw.AccountSystem, at(0)), newAccount(pw.AccountSystem, at(0))
	MustWrite(b, s, &pw.Changes{NewAccounts: []*pw.Account{from, to}})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr, es := newPayment(from, to, 1, at(i))
		c := &pw.Changes{Balances: []*pw.Account{from, to}, Transfers: []*pw.Transfer{tr}, Entries: es}
		if err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			if _, err := tx.LockAccounts(ctx, []string{from.ID, to.ID}); err != nil {
				return err
			}
			return tx.Write(ctx, c)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimIdempotency_Parallel claims new keys from 64 callers at
// once, as a surge's payments do before they run: the claims share group
// commits (since 2026-11-27; before, a transaction of three round trips
// each).
func BenchmarkClaimIdempotency_Parallel(b *testing.B) {
	ctx := context.Background()
	s := MustOpen(b)
	var n atomic.Int64
	b.SetParallelism(32) // 64 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			rec := newRecord(fmt.Sprintf("bench-%d", i), fmt.Sprintf("tok-%d", i), at(0))
			if existing, err := s.ClaimIdempotency(ctx, rec, at(-60)); err != nil || existing != nil {
				b.Errorf("claim %d: %+v, %v", i, existing, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}
