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

const intentColumns = "id, principal, key, fingerprint, body, status, transfer_id, error_code, error_message, created_at, updated_at, authorized, credential"

// intentReadColumns are the columns an intent is read from: cancelled_by is
// written only by CancelIntent, never at insertion.
const intentReadColumns = intentColumns + ", cancelled_by"

// CreateIntent implements peakwallet.IntentStore. Intents are written in
// group commits (internal/groupcommit), as the ledger writes payments:
// concurrent calls share one transaction and one fsync. One transaction
// each took about 0.3 ms of SQLite's one write connection and made the
// surge queue stop the ledger in a surge (docs/overload-journal.md,
// "Evening").
func (s *Store) CreateIntent(ctx context.Context, in *pw.Intent) (*pw.Intent, error) {
	existing, err := s.intentQ.Do(ctx, in)
	if replayed := (*pw.Replayed)(nil); errors.As(err, &replayed) {
		return nil, replayed
	}
	return existing, mapError("sqlite.CreateIntent", err)
}

func (s *Store) newIntentQueue() *groupcommit.Queue[*pw.Intent, *pw.Intent] {
	return &groupcommit.Queue[*pw.Intent, *pw.Intent]{Max: pw.IntentBatchWritesMax, Timeout: pw.IntentBatchTimeout, Write: s.writeIntentBatch}
}

// writeIntentBatch writes a batch in one transaction. Each intent's
// outcome: nil, the intent its key already has (in the store or earlier in
// the batch), or busy past IntentsPendingMax; or the transaction's error
// for all.
//
// The batch's statements are multi-row, as the ledger's are: one query
// finds the keys already used, one insert writes the new intents. With a
// statement per intent, a batch made two C calls an intent, and in a surge
// a C call that blocks may then wait for a Go processor behind the surge's
// handlers, as the ledger's committer was measured to (docs/overload.md).
// Interleaved mixed surges with respond-async took more payments with
// these statements (docs/overload-journal.md, "Morning of 2026-11-27").
func (s *Store) writeIntentBatch(ctx context.Context, batch []*pw.Intent) (res []groupcommit.Result[*pw.Intent], err error) {
	err = s.trackWrite(func() error {
		res, err = s.writeIntentBatchTx(ctx, batch)
		return err
	})
	return res, err
}

func (s *Store) writeIntentBatchTx(ctx context.Context, batch []*pw.Intent) ([]groupcommit.Result[*pw.Intent], error) {
	const op = "sqlite.CreateIntent"
	results := make([]groupcommit.Result[*pw.Intent], len(batch))
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer s.stmts.prepareWanted(uncancellable(ctx)) // runs after the rollback below frees the connection
	defer sqlTx.Rollback()
	t := &tx{tx: sqlTx, store: s}
	var pending int
	if err := sqlTx.QueryRowContext(ctx, "SELECT count(*) FROM intents WHERE status = 'pending'").Scan(&pending); err != nil {
		return nil, err
	}
	stored, err := t.intentsByKey(ctx, batch)
	if err != nil {
		return nil, err
	}
	recorded, err := t.recordsByKey(ctx, batch)
	if err != nil {
		return nil, err
	}
	fresh := pw.PlanIntents(batch, pending, stored, recorded,
		func(i int, ex *pw.Intent) { results[i].Value = ex },
		func(i int, err error) { results[i].Err = err })
	if _, err := t.execRows(ctx, op, "INSERT INTO intents ("+intentColumns+") VALUES ", "", 13, len(fresh), func(args []any, i int) []any {
		in := fresh[i]
		return append(args, in.ID, in.Principal, in.IdempotencyKey, in.Fingerprint, in.Body, pw.IntentPending,
			nil, nil, nil, micros(in.CreatedAt), micros(in.UpdatedAt), in.Authorized, in.Credential)
	}); err != nil {
		return nil, err
	}
	return results, sqlTx.Commit()
}

// The look-up of a batch's keys. The SQLite of both drivers searches the
// unique (principal, key) index once per pair of the VALUES list; an older
// SQLite (the sqlite3 shell of Debian 12, 3.40.1) plans the same statement
// as a scan of the whole table, which would read every intent ever
// accepted in every batch of a surge (TestIntentLookUpSearchesTheKeyIndex).
const intentsByKeyHead, intentsByKeyTail = "SELECT " + intentReadColumns + " FROM intents WHERE (principal, key) IN (VALUES ", ")"

// intentsByKey returns the stored intents of the batch's keys.
func (t *tx) intentsByKey(ctx context.Context, batch []*pw.Intent) ([]*pw.Intent, error) {
	return queryByKeys(ctx, t, intentsByKeyHead, intentsByKeyTail, len(batch),
		func(i int) (string, string) { return batch[i].Principal, batch[i].IdempotencyKey }, scanIntent)
}

// recordsByKey returns the ledger's records of the batch's keys: the
// finished requests, from the table, and those in flight in this process,
// from memory (idempotency.go), so that a key already paid is answered as
// paid, and one held with other content as reused, not queued again. The
// write lock this transaction holds keeps them from changing meanwhile. A
// request in flight in another process (a handover) is not seen: its key
// is queued, and the intent fails reused when it settles.
func (t *tx) recordsByKey(ctx context.Context, batch []*pw.Intent) ([]*pw.IdempotencyRecord, error) {
	recs, err := queryByKeys(ctx, t, idempotencyByKeyHead, idempotencyByKeyTail, len(batch),
		func(i int) (string, string) { return batch[i].Principal, batch[i].IdempotencyKey }, scanIdempotency)
	if err != nil {
		return nil, err
	}
	keys := make([]pw.IdempotencyKey, len(batch))
	for i, in := range batch {
		keys[i] = pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}
	}
	for _, l := range t.store.leasesOf(keys) {
		rec := l.IdempotencyRecord
		recs = append(recs, &rec)
	}
	return recs, nil
}

// queryByKeys runs head + a VALUES list of n (principal, key) pairs + tail
// in statements of power-of-two sizes (chunkRows), prepared once each, and
// scans every row they return.
func queryByKeys[T any](ctx context.Context, t *tx, head, tail string, n int, key func(i int) (string, string),
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	var out []T
	for start := 0; start < n; {
		size := chunkRows(n-start, 2)
		args := make([]any, 0, 2*size)
		for i := start; i < start+size; i++ {
			principal, k := key(i)
			args = append(args, principal, k)
		}
		stmt, err := t.chunk(ctx, head, tail, 2, size)
		if err != nil {
			return nil, err
		}
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, v)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
		start += size
	}
	return out, nil
}

// Intent implements peakwallet.IntentStore.
func (s *Store) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	in, err := scanIntent(s.read.QueryRowContext(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE id = ?", id))
	return in, mapError("sqlite.Intent", err)
}

// IntentByKey implements peakwallet.IntentStore.
func (s *Store) IntentByKey(ctx context.Context, principal, key string) (*pw.Intent, error) {
	in, err := scanIntent(s.read.QueryRowContext(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE principal = ? AND key = ?", principal, key))
	return in, mapError("sqlite.IntentByKey", err)
}

// PendingIntents implements peakwallet.IntentStore.
func (s *Store) PendingIntents(ctx context.Context, after string, limit int) ([]*pw.Intent, error) {
	return s.readIntents(ctx, "sqlite.PendingIntents", "SELECT "+intentReadColumns+" FROM intents WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?", after, limit)
}

// Intents implements peakwallet.IntentStore: a range of the primary key.
func (s *Store) Intents(ctx context.Context, after string, limit int) ([]*pw.Intent, error) {
	return s.readIntents(ctx, "sqlite.Intents", "SELECT "+intentReadColumns+" FROM intents WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// PendingIntentsOf implements peakwallet.IntentStore: through the partial
// index of pending intents by (principal, id), which holds the principal's
// pending intents alone, in the order listed. Until 2026-11-28 it had none,
// and SQLite chose the principal's part of the (principal, key) index:
// every intent the principal ever queued, sorted at each page
// (TestOnesPendingIntentsAreReadThroughThePendingIntentsAlone).
func (s *Store) PendingIntentsOf(ctx context.Context, principal, after string, limit int) ([]*pw.Intent, error) {
	return s.readIntents(ctx, "sqlite.PendingIntentsOf", "SELECT "+intentReadColumns+" FROM intents "+pendingOfWhere, after, principal, limit)
}

// pendingOfWhere selects PendingIntentsOf's intents (after, principal, limit).
const pendingOfWhere = "WHERE status = 'pending' AND id > ? AND principal = ? ORDER BY id LIMIT ?"

func (s *Store) readIntents(ctx context.Context, op, query string, args ...any) ([]*pw.Intent, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
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

// PendingIntentIDs implements peakwallet.IntentStore: one range of the
// pending intents' partial index (intents_pending), which covers the read
// (TestThePendingIDsAreReadFromThePendingIntentsIndex).
func (s *Store) PendingIntentIDs(ctx context.Context, limit int) ([]string, error) {
	const op = "sqlite.PendingIntentIDs"
	rows, err := s.read.QueryContext(ctx, pendingIDsQuery, limit)
	if err != nil {
		return nil, mapError(op, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapError(op, err)
		}
		ids = append(ids, id)
	}
	return ids, mapError(op, rows.Err())
}

const pendingIDsQuery = "SELECT id FROM intents WHERE status = 'pending' ORDER BY id LIMIT ?"

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

func (s *Store) writeFinishBatch(ctx context.Context, batch []intentFinish) (res []groupcommit.Result[struct{}], err error) {
	err = s.trackWrite(func() error {
		res, err = s.writeFinishBatchTx(ctx, batch)
		return err
	})
	return res, err
}

func (s *Store) writeFinishBatchTx(ctx context.Context, batch []intentFinish) ([]groupcommit.Result[struct{}], error) {
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
	var cancelledBy string
	err := row.Scan(&in.ID, &in.Principal, &in.IdempotencyKey, &in.Fingerprint, &in.Body, &in.Status,
		&transfer, &code, &msg, &created, &updated, &in.Authorized, &in.Credential, &cancelledBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pw.Errorf(pw.ENOTFOUND, "intent not found")
	}
	if err != nil {
		return nil, err
	}
	in.TransferID = transfer.String
	if code.Valid {
		in.Error = &pw.IntentError{Code: code.String, Message: msg.String, CancelledBy: cancelledBy}
	}
	in.CreatedAt, in.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &in, nil
}

// CancelIntent implements peakwallet.IntentStore. It runs under the write
// lock, as the ledger's batches do, and marks the claim done as a batch
// does (a row inserted while the lease is still held; the caller drops the
// lease afterwards): a request under the key in this process then finds
// the row when it claims, and one in another process (a handover) finds
// it in its batch (tx.LockIdempotency asks the table while another process
// has the file open).
//
// rec (an operator's cancellation's audit record) is written in the same
// transaction through a ledger transaction's view of it (tx), as a ledger
// batch's records are: the audit head is read and moved under the same
// write lock, so its chain stays whole.
func (s *Store) CancelIntent(ctx context.Context, id string, claim *pw.IdempotencyRecord, e *pw.IntentError, at time.Time, rec *pw.CommitRecord) (in *pw.Intent, done *pw.IdempotencyRecord, err error) {
	const op = "sqlite.CancelIntent"
	err = s.trackWrite(func() error {
		in, done, err = s.cancelIntentTx(ctx, id, claim, e, at, rec)
		return err
	})
	if err != nil {
		return nil, nil, mapError(op, err)
	}
	return in, done, nil
}

func (s *Store) cancelIntentTx(ctx context.Context, id string, claim *pw.IdempotencyRecord, e *pw.IntentError, at time.Time, rec *pw.CommitRecord) (*pw.Intent, *pw.IdempotencyRecord, error) {
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer sqlTx.Rollback()
	in, err := scanIntent(sqlTx.QueryRowContext(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE id = ?", id))
	if err != nil || in.Status != pw.IntentPending {
		return in, nil, err
	}
	if in.Principal != claim.Principal || in.IdempotencyKey != claim.Key {
		return nil, nil, pw.Errorf(pw.EINVALID, "the claim is not for intent %s's key", id)
	}
	done, err := scanIdempotency(sqlTx.QueryRowContext(ctx, "SELECT "+idempotencyColumns+" FROM idempotency WHERE principal = ? AND key = ?",
		claim.Principal, claim.Key))
	switch {
	case err == nil:
		return in, done, nil // finished by a request under the key (perhaps in another process)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, nil, err
	}
	if l, ok := s.leasesOf([]pw.IdempotencyKey{claim.IdempotencyKey})[claim.IdempotencyKey]; !ok || l.Token != claim.Token {
		return nil, nil, pw.Errorf(pw.EIDEMINUSE, "another request with the intent's Idempotency-Key is in flight")
	}
	if _, err := sqlTx.ExecContext(ctx, "INSERT INTO idempotency ("+idempotencyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		claim.Principal, claim.Key, claim.Fingerprint, claim.Token, pw.IdempotencyDone, claim.Status, claim.Body,
		micros(claim.CreatedAt), micros(claim.LockedAt)); err != nil {
		return nil, nil, err
	}
	if _, err := sqlTx.ExecContext(ctx, "UPDATE intents SET status = ?, error_code = ?, error_message = ?, cancelled_by = ?, updated_at = ? WHERE id = ?",
		pw.IntentFailed, e.Code, e.Message, e.CancelledBy, micros(at), id); err != nil {
		return nil, nil, err
	}
	if rec != nil {
		if err := rec.Writer.WriteInCommit(ctx, &tx{tx: sqlTx, store: s}, []any{rec.Record}); err != nil {
			return nil, nil, err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, nil, err
	}
	in.Status, in.Error, in.UpdatedAt = pw.IntentFailed, e, fromMicros(micros(at))
	return in, nil, nil
}
