package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
)

// querier is what both the pool (reads) and a transaction (Tx) offer, so
// that a read is written once for both.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Column lists, in the order the scan functions below expect. Optional
// references are stored as NULL and read back as "".
const (
	accountColumns = `a.id, a.kind, a.currency, a.owner_id, a.overdraft_limit, a.posted, a.pending_out,
		a.pending_in, a.entry_count, a.metadata, a.created_at`
	// The refunded amount is derived, never stored, so that the immutable
	// transfer row is never updated; transfers_refund_of makes it cheap.
	transferColumns = `t.id, t.kind, t.from_account, t.to_account, t.amount, t.currency, t.description,
		t.metadata, COALESCE(t.hold_id, ''), COALESCE(t.refund_of, ''), t.request_key, t.created_at,
		(SELECT COALESCE(SUM(r.amount), 0)::bigint FROM transfers r WHERE r.refund_of = t.id)`
	holdColumns = `h.id, h.from_account, h.to_account, h.amount, h.currency, h.status, h.description,
		h.metadata, h.expires_at, h.captured_amount, COALESCE(h.capture_transfer_id, ''), h.request_key,
		h.created_at, h.updated_at`
	entryColumns = `e.account_id, e.seq, e.transfer_id, e.amount, e.posted_balance_after, e.description,
		e.created_at`
	idempotencyColumns = `i.principal, i.key, i.fingerprint, i.token, i.state, i.status, i.body,
		i.created_at, i.locked_at`
)

func scanAccount(row pgx.CollectableRow) (*pw.Account, error) {
	var a pw.Account
	err := row.Scan(&a.ID, &a.Kind, &a.Currency, &a.OwnerID, &a.OverdraftLimit, &a.Balance.Posted,
		&a.Balance.PendingOut, &a.Balance.PendingIn, &a.EntryCount, &a.Metadata, &a.CreatedAt)
	if err != nil {
		return nil, err
	}
	a.Metadata = nilIfEmpty(a.Metadata)
	a.CreatedAt = a.CreatedAt.UTC()
	a.SetAvailable()
	return &a, nil
}

func scanTransfer(row pgx.CollectableRow) (*pw.Transfer, error) {
	var t pw.Transfer
	var requestKey []byte
	err := row.Scan(&t.ID, &t.Kind, &t.FromAccount, &t.ToAccount, &t.Amount, &t.Currency, &t.Description,
		&t.Metadata, &t.HoldID, &t.RefundOf, &requestKey, &t.CreatedAt, &t.RefundedAmount)
	if err != nil {
		return nil, err
	}
	// Transfers exist only once posted, so the status is not stored.
	t.Status = pw.TransferPosted
	t.Metadata = nilIfEmpty(t.Metadata)
	t.RequestKey = string(requestKey)
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

func scanHold(row pgx.CollectableRow) (*pw.Hold, error) {
	var h pw.Hold
	var requestKey []byte
	err := row.Scan(&h.ID, &h.FromAccount, &h.ToAccount, &h.Amount, &h.Currency, &h.Status, &h.Description,
		&h.Metadata, &h.ExpiresAt, &h.CapturedAmount, &h.CaptureTransferID, &requestKey,
		&h.CreatedAt, &h.UpdatedAt)
	if err != nil {
		return nil, err
	}
	h.Metadata = nilIfEmpty(h.Metadata)
	h.RequestKey = string(requestKey)
	h.ExpiresAt = h.ExpiresAt.UTC()
	h.CreatedAt = h.CreatedAt.UTC()
	h.UpdatedAt = h.UpdatedAt.UTC()
	return &h, nil
}

func scanEntry(row pgx.CollectableRow) (*pw.Entry, error) {
	var e pw.Entry
	err := row.Scan(&e.AccountID, &e.Seq, &e.TransferID, &e.Amount, &e.PostedBalanceAfter, &e.Description,
		&e.CreatedAt)
	if err != nil {
		return nil, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return &e, nil
}

func scanIdempotency(row pgx.CollectableRow) (*pw.IdempotencyRecord, error) {
	var r pw.IdempotencyRecord
	err := row.Scan(&r.Principal, &r.Key, &r.Fingerprint, &r.Token, &r.State, &r.Status, &r.Body,
		&r.CreatedAt, &r.LockedAt)
	if err != nil {
		return nil, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.LockedAt = r.LockedAt.UTC()
	return &r, nil
}

// nilIfEmpty reads an empty metadata object back as no metadata, as it was
// written (encodeMetadata stores both as NULL).
func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// encodeMetadata returns m as JSON text, or nil (NULL) when m is empty.
func encodeMetadata(m map[string]string) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// nullText returns nil (NULL) for "", for optional references.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nullBytes returns nil (NULL) for "", so that unset request keys never
// collide in their UNIQUE constraint.
func nullBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}
