package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"strings"
	"sync"

	pw "github.com/peakwallet/peakwallet"
)

// variablesMax is SQLite's default bound on bound parameters per statement
// (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
const variablesMax = 32766

// Write applies a ledger batch with multi-row statements: one INSERT per
// table per chunk of rows and one UPDATE … FROM (VALUES …) per chunk of
// changed rows, however many transfers the batch holds.
func (t *tx) Write(ctx context.Context, c *pw.Changes) error {
	steps := []func(context.Context, *pw.Changes) error{
		t.insertAccounts, t.updateBalances, t.insertTransfers, t.insertEntries,
		t.insertHolds, t.updateHolds, t.finishIdempotency,
	}
	for _, step := range steps {
		if err := step(ctx, c); err != nil {
			return err
		}
	}
	t.written = append(t.written, c)
	return nil
}

// execRows runs head followed by "(?, …), (?, …)" for n rows of cols
// values each (and then tail); row appends row i's values. It returns the
// rows affected. The rows go in chunks of power-of-two sizes (within
// variablesMax), so that a handful of prepared statements per table serve
// every batch: compiling a statement of thousands of rows costs more than
// running it.
func (t *tx) execRows(ctx context.Context, op, head, tail string, cols, n int, row func(args []any, i int) []any) (int64, error) {
	var affected int64
	for start := 0; start < n; {
		size := chunkRows(n-start, cols)
		args := make([]any, 0, size*cols)
		for i := start; i < start+size; i++ {
			args = row(args, i)
		}
		stmt, err := t.chunk(ctx, head, tail, cols, size)
		if err != nil {
			return 0, mapError(op, err)
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return 0, mapError(op, err)
		}
		k, _ := res.RowsAffected()
		affected += k
		t.wrote = t.wrote || k > 0
		start += size
	}
	return affected, nil
}

// chunkRows is how many of n rows of cols values each the next multi-row
// statement takes: the largest power of two within n and variablesMax.
func chunkRows(n, cols int) int {
	return min(1<<(bits.Len(uint(variablesMax/cols))-1), 1<<(bits.Len(uint(n))-1))
}

// chunk returns the transaction's statement of rows rows between head and
// tail: the writer's prepared one when there is one, else one prepared in
// the transaction (and prepared for the next batches afterwards).
func (t *tx) chunk(ctx context.Context, head, tail string, cols, rows int) (*sql.Stmt, error) {
	q, stmt := t.store.stmts.get(head, tail, cols, rows)
	if stmt != nil {
		return t.tx.StmtContext(ctx, stmt), nil
	}
	return t.tx.PrepareContext(ctx, q)
}

// stmtCache holds the writer's prepared multi-row statements. The writer
// has one connection, which a transaction holds, so a statement cannot be
// prepared while one runs: a missing one runs unprepared and is prepared
// after the transaction (prepareWanted), for the next batches.
type stmtCache struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want map[string]bool
}

// get returns the statement text for rows rows, and its prepared statement
// when there is one.
func (c *stmtCache) get(head, tail string, cols, rows int) (string, *sql.Stmt) {
	q := head + strings.TrimSuffix(strings.Repeat("("+placeholders(cols)+"), ", rows), ", ") + tail
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return q, st
	}
	if c.want == nil {
		c.want = map[string]bool{}
	}
	c.want[q] = true
	return q, nil
}

// prepareWanted prepares the statements that transactions missed. It runs
// after a transaction, when the writer's connection is free unless another
// transaction took it meanwhile: preparing then waits for the connection,
// so it must not hold the cache's lock, which that transaction may need.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	want := c.want
	c.want = nil
	c.mu.Unlock()
	for q := range want {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, as it did
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]*sql.Stmt{}
		}
		if _, ok := c.m[q]; ok {
			st.Close() // another transaction's prepareWanted was first
		} else {
			c.m[q] = st
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

func (t *tx) insertAccounts(ctx context.Context, c *pw.Changes) error {
	_, err := t.execRows(ctx, "sqlite.insertAccounts", "INSERT INTO accounts ("+accountCols+") VALUES ", "", 11, len(c.NewAccounts),
		func(args []any, i int) []any {
			a := c.NewAccounts[i]
			return append(args, a.ID, a.Kind, a.Currency, a.OwnerID, a.OverdraftLimit, a.Balance.Posted,
				a.Balance.PendingOut, a.Balance.PendingIn, a.EntryCount, encodeMetadata(a.Metadata), micros(a.CreatedAt))
		})
	return err
}

func (t *tx) updateBalances(ctx context.Context, c *pw.Changes) error {
	n, err := t.execRows(ctx, "sqlite.updateBalances",
		"WITH v(id, posted, pending_out, pending_in, entry_count) AS (VALUES ",
		") UPDATE accounts SET posted = v.posted, pending_out = v.pending_out, pending_in = v.pending_in, entry_count = v.entry_count FROM v WHERE accounts.id = v.id",
		5, len(c.Balances), func(args []any, i int) []any {
			a := c.Balances[i]
			return append(args, a.ID, a.Balance.Posted, a.Balance.PendingOut, a.Balance.PendingIn, a.EntryCount)
		})
	if err == nil && n != int64(len(c.Balances)) {
		return &pw.Error{Code: pw.EINTERNAL, Op: "sqlite.updateBalances", Message: "a changed account does not exist"}
	}
	return err
}

func (t *tx) insertTransfers(ctx context.Context, c *pw.Changes) error {
	_, err := t.execRows(ctx, "sqlite.insertTransfers",
		"INSERT INTO transfers (id, kind, from_account, to_account, amount, currency, description, metadata, hold_id, refund_of, request_key, created_at) VALUES ",
		"", 12, len(c.Transfers), func(args []any, i int) []any {
			tr := c.Transfers[i]
			return append(args, tr.ID, tr.Kind, tr.FromAccount, tr.ToAccount, tr.Amount, tr.Currency, tr.Description,
				encodeMetadata(tr.Metadata), nullable(tr.HoldID), nullable(tr.RefundOf), nullable(tr.RequestKey), micros(tr.CreatedAt))
		})
	return err
}

func (t *tx) insertEntries(ctx context.Context, c *pw.Changes) error {
	_, err := t.execRows(ctx, "sqlite.insertEntries", "INSERT INTO entries ("+entryCols+") VALUES ", "", 7, len(c.Entries),
		func(args []any, i int) []any {
			e := c.Entries[i]
			return append(args, e.AccountID, e.Seq, e.TransferID, e.Amount, e.PostedBalanceAfter, e.Description, micros(e.CreatedAt))
		})
	return err
}

func (t *tx) insertHolds(ctx context.Context, c *pw.Changes) error {
	_, err := t.execRows(ctx, "sqlite.insertHolds", "INSERT INTO holds ("+holdCols+") VALUES ", "", 14, len(c.NewHolds),
		func(args []any, i int) []any {
			h := c.NewHolds[i]
			return append(args, h.ID, h.FromAccount, h.ToAccount, h.Amount, h.Currency, h.Status, h.Description,
				encodeMetadata(h.Metadata), micros(h.ExpiresAt), h.CapturedAmount, nullable(h.CaptureTransferID),
				nullable(h.RequestKey), micros(h.CreatedAt), micros(h.UpdatedAt))
		})
	return err
}

func (t *tx) updateHolds(ctx context.Context, c *pw.Changes) error {
	_, err := t.execRows(ctx, "sqlite.updateHolds",
		"WITH v(id, status, captured_amount, capture_transfer_id, updated_at) AS (VALUES ",
		") UPDATE holds SET status = v.status, captured_amount = v.captured_amount, capture_transfer_id = v.capture_transfer_id, updated_at = v.updated_at FROM v WHERE holds.id = v.id",
		5, len(c.HoldUpdates), func(args []any, i int) []any {
			h := c.HoldUpdates[i]
			return append(args, h.ID, h.Status, h.CapturedAmount, nullable(h.CaptureTransferID), micros(h.UpdatedAt))
		})
	return err
}

// finishIdempotency inserts the done records of the batch's requests. The
// leases are dropped after the commit (Store.Update), so that a concurrent
// claim finds either the lease or the row.
func (t *tx) finishIdempotency(ctx context.Context, c *pw.Changes) error {
	leases := t.store.leasesOf(keysOf(c.Idempotency))
	for _, r := range c.Idempotency {
		if l, ok := leases[r.IdempotencyKey]; !ok || l.Token != r.Token {
			return &pw.Error{Code: pw.EIDEMINUSE, Op: "sqlite.finishIdempotency", Message: "an idempotency lease was lost during the batch"}
		}
	}
	// A plain INSERT: the batch found no finished record of these keys
	// under the same write lock (tx.LockIdempotency), so a row already
	// there is a bug, and the batch fails rather than overwrite it.
	_, err := t.execRows(ctx, "sqlite.finishIdempotency",
		"INSERT INTO idempotency ("+idempotencyColumns+") VALUES ", "",
		9, len(c.Idempotency), func(args []any, i int) []any {
			r := c.Idempotency[i]
			return append(args, r.Principal, r.Key, r.Fingerprint, r.Token, pw.IdempotencyDone, r.Status, r.Body, micros(r.CreatedAt), micros(r.LockedAt))
		})
	return err
}

func keysOf(recs []*pw.IdempotencyRecord) []pw.IdempotencyKey {
	keys := make([]pw.IdempotencyKey, len(recs))
	for i, r := range recs {
		keys[i] = r.IdempotencyKey
	}
	return keys
}
