package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ClaimIdempotency inserts rec, or takes over a stale lease, or returns the
// existing record. The claim is committed without its own fsync
// (synchronous=NORMAL): in WAL mode the next durable commit syncs it too,
// and a claim lost in a crash only frees a key whose request, not yet
// committed, moved nothing.
func (s *Store) ClaimIdempotency(ctx context.Context, rec *pw.IdempotencyRecord, staleBefore time.Time) (*pw.IdempotencyRecord, error) {
	const op = "sqlite.ClaimIdempotency"
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return nil, mapError(op, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return nil, mapError(op, err)
	}
	defer func() {
		// The connection must not return to the pool without durability:
		// if this fails, the connection is discarded.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapError(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "INSERT INTO idempotency (principal, key, fingerprint, token, state, created_at, locked_at) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (principal, key) DO NOTHING",
		rec.Principal, rec.Key, rec.Fingerprint, rec.Token, rec.State, micros(rec.CreatedAt), micros(rec.LockedAt))
	if err != nil {
		return nil, mapError(op, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, mapError(op, tx.Commit())
	}
	res, err = tx.ExecContext(ctx, "UPDATE idempotency SET token = ?, locked_at = ? "+
		"WHERE principal = ? AND key = ? AND fingerprint = ? AND state = 'in_flight' AND locked_at < ?",
		rec.Token, micros(rec.LockedAt), rec.Principal, rec.Key, rec.Fingerprint, micros(staleBefore))
	if err != nil {
		return nil, mapError(op, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, mapError(op, tx.Commit())
	}
	var ex pw.IdempotencyRecord
	var created, locked int64
	err = tx.QueryRowContext(ctx, "SELECT principal, key, fingerprint, token, state, status, body, created_at, locked_at FROM idempotency WHERE principal = ? AND key = ?",
		rec.Principal, rec.Key).Scan(&ex.Principal, &ex.Key, &ex.Fingerprint, &ex.Token, &ex.State, &ex.Status, &ex.Body, &created, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pw.Errorf(pw.EIDEMINUSE, "the key was released while claiming it; retry")
	}
	if err != nil {
		return nil, mapError(op, err)
	}
	ex.CreatedAt, ex.LockedAt = fromMicros(created), fromMicros(locked)
	return &ex, mapError(op, tx.Commit())
}

// ReleaseIdempotency forgets an in-flight key still owned by token.
func (s *Store) ReleaseIdempotency(ctx context.Context, key pw.IdempotencyKey, token string) error {
	_, err := s.write.ExecContext(ctx, "DELETE FROM idempotency WHERE principal = ? AND key = ? AND token = ? AND state = 'in_flight'",
		key.Principal, key.Key, token)
	return mapError("sqlite.ReleaseIdempotency", err)
}

// DeleteIdempotencyBefore forgets keys first seen before t.
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM idempotency WHERE created_at < ?", micros(t))
	if err != nil {
		return 0, mapError("sqlite.DeleteIdempotencyBefore", err)
	}
	return res.RowsAffected()
}
