package sqlite_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestWritersShareTheStatementCacheWithoutDeadlock: the ledger's batches
// and the audit log's appends both use the writer's multi-row statements.
// Once, a ledger transaction that had missed a statement prepared it
// afterwards holding the cache's lock while it waited for the writer's
// connection, which an audit append held while it waited for that lock:
// operators' account openings hung until the append's 10 s timeout. Here
// operators open accounts (a ledger batch, then an audit append each) from
// many goroutines, so batches and appends of many sizes interleave.
func TestWritersShareTheStatementCacheWithoutDeadlock(t *testing.T) {
	s := MustOpen(t)
	l := ledger.New(s, ledger.Options{})
	defer l.Close()
	g := auth.New(s, l, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}}).Guard()
	op := pw.NewContextWithPrincipal(context.Background(), pw.Principal{Kind: pw.PrincipalOperator, ID: "opr_stmts", Role: pw.RoleAdmin})
	ctx, cancel := context.WithTimeout(op, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				if _, err := g.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR", OwnerID: "usr_stmts"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r, err := auth.VerifyAudit(context.Background(), s)
	if err != nil || !r.OK() || r.Records != 64*40 {
		t.Fatalf("VerifyAudit = %+v, %v; want %d records", r, err, 64*40)
	}
}
