package postgres

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
)

// Account returns the account id, or account_not_found.
func (s *Store) Account(ctx context.Context, id string) (*pw.Account, error) {
	const op = "postgres.Account"
	a, err := getOne(ctx, s.pool, scanAccount, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`, id)
	if errNoRows(err) {
		return nil, &pw.Error{Code: pw.EACCOUNTNOTFOUND, Op: op, Message: "account " + id + " does not exist"}
	}
	return a, mapError(ctx, op, err)
}

// Transfer returns the transfer id with its refunded amount, or not_found.
func (s *Store) Transfer(ctx context.Context, id string) (*pw.Transfer, error) {
	const op = "postgres.Transfer"
	t, err := getOne(ctx, s.pool, scanTransfer, `SELECT `+transferColumns+` FROM transfers t WHERE t.id = $1`, id)
	if errNoRows(err) {
		return nil, &pw.Error{Code: pw.ENOTFOUND, Op: op, Message: "transfer " + id + " does not exist"}
	}
	return t, mapError(ctx, op, err)
}

// Hold returns the hold id, or not_found.
func (s *Store) Hold(ctx context.Context, id string) (*pw.Hold, error) {
	const op = "postgres.Hold"
	h, err := getOne(ctx, s.pool, scanHold, `SELECT `+holdColumns+` FROM holds h WHERE h.id = $1`, id)
	if errNoRows(err) {
		return nil, &pw.Error{Code: pw.ENOTFOUND, Op: op, Message: "hold " + id + " does not exist"}
	}
	return h, mapError(ctx, op, err)
}

// Accounts lists accounts with ID > after, in ID order.
func (s *Store) Accounts(ctx context.Context, after string, limit int) ([]*pw.Account, error) {
	const op = "postgres.Accounts"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	as, err := getAll(ctx, s.pool, scanAccount,
		`SELECT `+accountColumns+` FROM accounts a WHERE a.id > $1 ORDER BY a.id LIMIT $2`, after, limit)
	return as, mapError(ctx, op, err)
}

// Transfers lists all transfers newest first, with ID < before (all when
// before is "").
func (s *Store) Transfers(ctx context.Context, before string, limit int) ([]*pw.Transfer, error) {
	const op = "postgres.Transfers"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	// A separate text per case, rather than "$n = '' OR ...", so that the
	// planner always sees a plain index range.
	q, args := `SELECT `+transferColumns+` FROM transfers t ORDER BY t.id DESC LIMIT $1`, []any{limit}
	if before != "" {
		q, args = `SELECT `+transferColumns+` FROM transfers t WHERE t.id < $1 ORDER BY t.id DESC LIMIT $2`, []any{before, limit}
	}
	ts, err := getAll(ctx, s.pool, scanTransfer, q, args...)
	return ts, mapError(ctx, op, err)
}

// TransfersByID returns the transfers that exist among ids.
func (s *Store) TransfersByID(ctx context.Context, ids []string) (map[string]*pw.Transfer, error) {
	return transfersByID(ctx, s.pool, "postgres.TransfersByID", ids)
}

// Entries lists an account's entries newest first, with Seq < before
// (all when before is 0).
func (s *Store) Entries(ctx context.Context, account string, before int64, limit int) ([]*pw.Entry, error) {
	const op = "postgres.Entries"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	es, err := getAll(ctx, s.pool, scanEntry, `SELECT `+entryColumns+` FROM entries e
		WHERE e.account_id = $1 AND e.seq < $2 ORDER BY e.seq DESC LIMIT $3`, account, before, limit)
	return es, mapError(ctx, op, err)
}

// EntriesAscending lists an account's entries oldest first, with Seq > after.
func (s *Store) EntriesAscending(ctx context.Context, account string, after int64, limit int) ([]*pw.Entry, error) {
	const op = "postgres.EntriesAscending"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	es, err := getAll(ctx, s.pool, scanEntry, `SELECT `+entryColumns+` FROM entries e
		WHERE e.account_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`, account, after, limit)
	return es, mapError(ctx, op, err)
}

// Holds lists every hold, whatever its status, with ID > after, in ID order.
func (s *Store) Holds(ctx context.Context, after string, limit int) ([]*pw.Hold, error) {
	const op = "postgres.Holds"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	hs, err := getAll(ctx, s.pool, scanHold, `SELECT `+holdColumns+` FROM holds h
		WHERE h.id > $1 ORDER BY h.id LIMIT $2`, after, limit)
	return hs, mapError(ctx, op, err)
}

// PendingHolds lists pending holds with ID > after, in ID order.
func (s *Store) PendingHolds(ctx context.Context, after string, limit int) ([]*pw.Hold, error) {
	const op = "postgres.PendingHolds"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	hs, err := getAll(ctx, s.pool, scanHold, `SELECT `+holdColumns+` FROM holds h
		WHERE h.status = 'pending' AND h.id > $1 ORDER BY h.id LIMIT $2`, after, limit)
	return hs, mapError(ctx, op, err)
}

// DueHolds lists pending holds with expires_at ≤ now, oldest due first.
func (s *Store) DueHolds(ctx context.Context, now time.Time, limit int) ([]*pw.Hold, error) {
	const op = "postgres.DueHolds"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	hs, err := getAll(ctx, s.pool, scanHold, `SELECT `+holdColumns+` FROM holds h
		WHERE h.status = 'pending' AND h.expires_at <= $1 ORDER BY h.expires_at, h.id LIMIT $2`, now, limit)
	return hs, mapError(ctx, op, err)
}

// checkLimit rejects a limit that asks for nothing: the caller decides page
// sizes, and a non-positive one is a bug that a silent empty page would
// hide.
func checkLimit(op string, limit int) error {
	if limit <= 0 {
		return &pw.Error{Code: pw.EINVALID, Op: op, Message: "limit must be positive"}
	}
	return nil
}

// getOne runs a query for one row; pgx.ErrNoRows when there is none.
func getOne[T any](ctx context.Context, q querier, scan pgx.RowToFunc[*T], sql string, args ...any) (*T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectExactlyOneRow(rows, scan)
}

// getAll runs a query and scans every row.
func getAll[T any](ctx context.Context, q querier, scan pgx.RowToFunc[*T], sql string, args ...any) ([]*T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}
