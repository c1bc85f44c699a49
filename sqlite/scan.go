package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Column lists, in the order the scan functions read them.
const (
	accountCols  = "id, kind, currency, owner_id, overdraft_limit, posted, pending_out, pending_in, entry_count, metadata, created_at"
	transferCols = "t.id, t.kind, t.from_account, t.to_account, t.amount, t.currency, t.description, t.metadata, t.hold_id, t.refund_of, t.request_key, t.created_at, " +
		"(SELECT coalesce(sum(r.amount), 0) FROM transfers r WHERE r.refund_of = t.id)"
	holdCols  = "id, from_account, to_account, amount, currency, status, description, metadata, expires_at, captured_amount, capture_transfer_id, request_key, created_at, updated_at"
	entryCols = "account_id, seq, transfer_id, amount, posted_balance_after, description, created_at"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type scanner interface{ Scan(dest ...any) error }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func encodeMetadata(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

func decodeMetadata(s sql.NullString) (map[string]string, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var m map[string]string
	return m, json.Unmarshal([]byte(s.String), &m)
}

// nullable stores "" as NULL, for optional references and unique keys.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func scanAccount(r scanner) (*pw.Account, error) {
	var a pw.Account
	var meta sql.NullString
	var created int64
	err := r.Scan(&a.ID, &a.Kind, &a.Currency, &a.OwnerID, &a.OverdraftLimit, &a.Balance.Posted,
		&a.Balance.PendingOut, &a.Balance.PendingIn, &a.EntryCount, &meta, &created)
	if err != nil {
		return nil, err
	}
	a.CreatedAt = fromMicros(created)
	a.SetAvailable()
	a.Metadata, err = decodeMetadata(meta)
	return &a, err
}

func scanTransfer(r scanner) (*pw.Transfer, error) {
	var t pw.Transfer
	var meta, holdID, refundOf, requestKey sql.NullString
	var created int64
	err := r.Scan(&t.ID, &t.Kind, &t.FromAccount, &t.ToAccount, &t.Amount, &t.Currency, &t.Description,
		&meta, &holdID, &refundOf, &requestKey, &created, &t.RefundedAmount)
	if err != nil {
		return nil, err
	}
	t.Status = pw.TransferPosted
	t.HoldID, t.RefundOf, t.RequestKey = holdID.String, refundOf.String, requestKey.String
	t.CreatedAt = fromMicros(created)
	t.Metadata, err = decodeMetadata(meta)
	return &t, err
}

func scanHold(r scanner) (*pw.Hold, error) {
	var h pw.Hold
	var meta, captureID, requestKey sql.NullString
	var expires, created, updated int64
	err := r.Scan(&h.ID, &h.FromAccount, &h.ToAccount, &h.Amount, &h.Currency, &h.Status, &h.Description,
		&meta, &expires, &h.CapturedAmount, &captureID, &requestKey, &created, &updated)
	if err != nil {
		return nil, err
	}
	h.CaptureTransferID, h.RequestKey = captureID.String, requestKey.String
	h.ExpiresAt, h.CreatedAt, h.UpdatedAt = fromMicros(expires), fromMicros(created), fromMicros(updated)
	h.Metadata, err = decodeMetadata(meta)
	return &h, err
}

func scanEntry(r scanner) (*pw.Entry, error) {
	var e pw.Entry
	var created int64
	err := r.Scan(&e.AccountID, &e.Seq, &e.TransferID, &e.Amount, &e.PostedBalanceAfter, &e.Description, &created)
	e.CreatedAt = fromMicros(created)
	return &e, err
}

// queryAll runs a query and scans every row.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapError("sqlite.query", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapError("sqlite.scan", err)
		}
		out = append(out, v)
	}
	return out, mapError("sqlite.query", rows.Err())
}

// inChunkMax bounds the ids in one IN (…) list.
const inChunkMax = 500

// queryIn runs query (which has one "%s" for a "?, ?, …" list) over ids in
// chunks and returns all rows.
func queryIn[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, ids []string) ([]T, error) {
	var out []T
	for len(ids) > 0 {
		n := min(len(ids), inChunkMax)
		args := make([]any, n)
		for i := range n {
			args[i] = ids[i]
		}
		rows, err := queryAll(ctx, q, scan, strings.Replace(query, "%s", placeholders(n), 1), args...)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		ids = ids[n:]
	}
	return out, nil
}

func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
