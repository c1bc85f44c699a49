package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

var _ pw.IntentStore = (*Store)(nil)

const intentColumns = "id, principal, key, fingerprint, body, status, transfer_id, error_code, error_message, created_at, updated_at, authorized"

// CreateIntent implements peakwallet.IntentStore. Intents are written in
// group commits (internal/groupcommit), as the ledger writes payments:
// concurrent calls share one transaction and one fsync. One transaction
// each took about 0.3 ms of SQLite's one write connection and made the
// surge queue stop the ledger in a surge (docs/overload-journal.md,
// "Evening").
func (s *Store) CreateIntent(ctx context.Context, in *pw.Intent) (*pw.Intent, error) {
	existing, err := s.intentQ.Do(ctx, in)
	return existing, mapError("sqlite.CreateIntent", err)
}

func (s *Store) newIntentQueue() *groupcommit.Queue[*pw.Intent, *pw.Intent] {
	return &groupcommit.Queue[*pw.Intent, *pw.Intent]{Max: pw.IntentBatchWritesMax, Timeout: pw.IntentBatchTimeout, Write: s.writeIntentBatch}
}

// writeIntentBatch writes a batch in one transaction. Each intent's
// outcome: nil, the intent its key already has (in the store or earlier in
// the batch), or busy past IntentsPendingMax; or the transaction's error
// for all.
func (s *Store) writeIntentBatch(ctx context.Context, batch []*pw.Intent) ([]groupcommit.Result[*pw.Intent], error) {
	results := make([]groupcommit.Result[*pw.Intent], len(batch))
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var pending int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM intents WHERE status = 'pending'").Scan(&pending); err != nil {
		return nil, err
	}
	err = pw.CreateIntents(batch, pending,
		func(in *pw.Intent) (*pw.Intent, error) {
			return scanIntent(tx.QueryRowContext(ctx, "SELECT "+intentColumns+" FROM intents WHERE principal = ? AND key = ?",
				in.Principal, in.IdempotencyKey))
		},
		func(in *pw.Intent) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO intents ("+intentColumns+") VALUES (?, ?, ?, ?, ?, 'pending', NULL, NULL, NULL, ?, ?, ?)",
				in.ID, in.Principal, in.IdempotencyKey, in.Fingerprint, in.Body, micros(in.CreatedAt), micros(in.UpdatedAt), in.Authorized)
			return err
		},
		func(i int, ex *pw.Intent) { results[i].Value = ex },
		func(i int, err error) { results[i].Err = err })
	if err != nil {
		return nil, err
	}
	return results, tx.Commit()
}

// Intent implements peakwallet.IntentStore.
func (s *Store) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	in, err := scanIntent(s.read.QueryRowContext(ctx, "SELECT "+intentColumns+" FROM intents WHERE id = ?", id))
	return in, mapError("sqlite.Intent", err)
}

// PendingIntents implements peakwallet.IntentStore.
func (s *Store) PendingIntents(ctx context.Context, after string, limit int) ([]*pw.Intent, error) {
	const op = "sqlite.PendingIntents"
	rows, err := s.read.QueryContext(ctx, "SELECT "+intentColumns+" FROM intents WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, mapError(op, err)
	}
	defer rows.Close()
	var out []*pw.Intent
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, mapError(op, err)
		}
		out = append(out, in)
	}
	return out, mapError(op, rows.Err())
}

// FinishIntent implements peakwallet.IntentStore. Finishes are group
// committed too: one transaction each, the settler took SQLite's one write
// connection from the ledger once per settled intent (27,398 of them after
// a 30 s surge), and payments of the surge timed out behind them.
func (s *Store) FinishIntent(ctx context.Context, id, status, transferID string, e *pw.IntentError, at time.Time) error {
	_, err := s.finishQ.Do(ctx, intentFinish{id: id, status: status, transferID: transferID, err: e, at: at})
	return mapError("sqlite.FinishIntent", err)
}

// intentFinish is one FinishIntent waiting for its group commit.
type intentFinish struct {
	id, status, transferID string
	err                    *pw.IntentError
	at                     time.Time
}

func (s *Store) newFinishQueue() *groupcommit.Queue[intentFinish, struct{}] {
	return &groupcommit.Queue[intentFinish, struct{}]{Max: pw.IntentBatchWritesMax, Timeout: pw.IntentBatchTimeout, Write: s.writeFinishBatch}
}

func (s *Store) writeFinishBatch(ctx context.Context, batch []intentFinish) ([]groupcommit.Result[struct{}], error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, f := range batch {
		var code, msg sql.NullString
		if f.err != nil {
			code, msg = sql.NullString{String: f.err.Code, Valid: true}, sql.NullString{String: f.err.Message, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE intents SET status = ?, transfer_id = ?, error_code = ?, error_message = ?, updated_at = ? "+
			"WHERE id = ? AND status = 'pending'", f.status, sql.NullString{String: f.transferID, Valid: f.transferID != ""},
			code, msg, micros(f.at), f.id); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return make([]groupcommit.Result[struct{}], len(batch)), nil
}

func scanIntent(row interface{ Scan(...any) error }) (*pw.Intent, error) {
	var in pw.Intent
	var transfer, code, msg sql.NullString
	var created, updated int64
	err := row.Scan(&in.ID, &in.Principal, &in.IdempotencyKey, &in.Fingerprint, &in.Body, &in.Status,
		&transfer, &code, &msg, &created, &updated, &in.Authorized)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pw.Errorf(pw.ENOTFOUND, "intent not found")
	}
	if err != nil {
		return nil, err
	}
	in.TransferID = transfer.String
	if code.Valid {
		in.Error = &pw.IntentError{Code: code.String, Message: msg.String}
	}
	in.CreatedAt, in.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &in, nil
}
