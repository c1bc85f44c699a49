package ledger_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// The Go benchmarks of the ledger on SQLite: throughput is for
// `peakwallet bench`; these report time and allocations per transfer
// (go test -run X -bench . -benchmem ./ledger).

const benchAccounts = 1000

func benchLedger(b *testing.B) (*ledger.Ledger, []*pw.Account) {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	l := ledger.New(s, ledger.Options{})
	b.Cleanup(func() { l.Close() })
	ctx := context.Background()
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		b.Fatal(err)
	}
	accounts := make([]*pw.Account, benchAccounts)
	top := pw.BatchCreate{Atomic: true}
	for i := range accounts {
		if accounts[i], err = l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
			b.Fatal(err)
		}
		top.Transfers = append(top.Transfers, pw.TransferCreate{FromAccount: bank.ID, ToAccount: accounts[i].ID, Amount: 1 << 40, Currency: "EUR"})
	}
	if _, err := l.CreateBatch(ctx, top); err != nil {
		b.Fatal(err)
	}
	return l, accounts
}

func randomTransfer(rng *rand.Rand, accounts []*pw.Account) pw.TransferCreate {
	i := rng.IntN(len(accounts))
	j := (i + 1 + rng.IntN(len(accounts)-1)) % len(accounts)
	return pw.TransferCreate{FromAccount: accounts[i].ID, ToAccount: accounts[j].ID, Amount: 1 + rng.Int64N(1000), Currency: "EUR"}
}

// BenchmarkTransferParallel: many concurrent single-transfer callers, as
// a busy server has; the sequencer batches them.
func BenchmarkTransferParallel(b *testing.B) {
	l, accounts := benchLedger(b)
	var seed atomic.Uint64
	b.SetParallelism(64) // 128 callers on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 1))
		for p.Next() {
			if _, err := l.CreateTransfer(context.Background(), randomTransfer(rng, accounts)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBatch posts full 8,190-transfer batches; the figures are per transfer.
func BenchmarkBatch(b *testing.B) {
	l, accounts := benchLedger(b)
	rng := rand.New(rand.NewPCG(1, 2))
	req := pw.BatchCreate{Transfers: make([]pw.TransferCreate, pw.BatchTransfersMax)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += pw.BatchTransfersMax {
		n := min(pw.BatchTransfersMax, b.N-i)
		for k := range n {
			req.Transfers[k] = randomTransfer(rng, accounts)
		}
		req.Transfers = req.Transfers[:n]
		if _, err := l.CreateBatch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		req.Transfers = req.Transfers[:cap(req.Transfers)]
	}
}
