package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// The auth.Store half of the SQLite store: rows in and out, no decisions.

var _ auth.Store = (*Store)(nil)

// never is how "not yet" (not revoked, not used) is stored.
func microsOr0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func timeOr0(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

func notFound(noun string) error { return pw.Errorf(pw.ENOTFOUND, "%s not found", noun) }

// exec runs a write and returns the rows it changed.
func (s *Store) exec(ctx context.Context, op, q string, args ...any) (int64, error) {
	var res sql.Result
	err := s.trackWrite(func() (err error) {
		res, err = s.write.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return 0, mapError(op, err)
	}
	n, err := res.RowsAffected()
	return n, mapError(op, err)
}

// writeRow is QueryRowContext(...).Scan(dest...) on the writer, for an
// UPDATE … RETURNING, counted by readiness (trackWrite).
func (s *Store) writeRow(ctx context.Context, q string, args []any, dest ...any) error {
	return s.trackWrite(func() error { return s.write.QueryRowContext(ctx, q, args...).Scan(dest...) })
}

func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	_, err := s.exec(ctx, "sqlite.CreateUser", "INSERT INTO users (id, handle, password_hash, step_up_threshold, created_at) VALUES (?, ?, ?, ?, ?)",
		u.ID, u.Handle, u.PasswordHash, u.StepUpThreshold, micros(u.CreatedAt))
	if pw.ErrorCode(err) == pw.EIDEMINUSE {
		return pw.FieldErrorf("handle", pw.EHANDLETAKEN, "this handle is taken")
	}
	return err
}

const userCols = "id, handle, password_hash, step_up_threshold, failed_logins, locked_until, created_at, password_version"

func scanUser(r scanner) (*auth.User, error) {
	var u auth.User
	var locked, created int64
	if err := r.Scan(&u.ID, &u.Handle, &u.PasswordHash, &u.StepUpThreshold, &u.FailedLogins, &locked, &created, &u.PasswordVersion); err != nil {
		return nil, err
	}
	u.LockedUntil, u.CreatedAt = timeOr0(locked), fromMicros(created)
	return &u, nil
}

// row reads one row with scan, mapping no rows to not_found.
func row[T any](ctx context.Context, db *sql.DB, op, noun string, scan func(scanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, notFound(noun)
	}
	return v, mapError(op, err)
}

// rows reads every row of q with scan.
func rows[T any](ctx context.Context, db *sql.DB, op string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapError(op, err)
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, mapError(op, err)
		}
		out = append(out, v)
	}
	return out, mapError(op, rs.Err())
}

func (s *Store) UserByID(ctx context.Context, id string) (*auth.User, error) {
	return row(ctx, s.read, "sqlite.UserByID", "user", scanUser, "SELECT "+userCols+" FROM users WHERE id = ?", id)
}

func (s *Store) UserByHandle(ctx context.Context, handle string) (*auth.User, error) {
	return row(ctx, s.read, "sqlite.UserByHandle", "user", scanUser, "SELECT "+userCols+" FROM users WHERE handle = ?", handle)
}

// SetPassword: one transaction on the single writer, so a change's
// version check (expectVersion) and its new hash are one step: another
// SetPassword is wholly before it (the version has moved on: nothing
// written, ErrPasswordReplaced) or wholly after it.
func (s *Store) SetPassword(ctx context.Context, userID string, expectVersion int64, hash, keep, endedBy string, at time.Time) error {
	replaced := false
	err := s.tx(ctx, "sqlite.SetPassword", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ?, password_version = password_version + 1 WHERE id = ? AND (? = 0 OR password_version = ?)", hash, userID, expectVersion, expectVersion)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 && expectVersion == auth.AnyPasswordVersion {
			return notFound("user") // no such user: rolled back, nothing written
		}
		if n == 0 {
			replaced = true // nothing else is written: the transaction commits no change
			return nil
		}
		if _, err := tx.ExecContext(ctx, deleteUnusedResetTokensSQL, userID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, revokeSessionsSQL, micros(at), endedBy, userID, keep)
		return err
	})
	if err == nil && replaced {
		return auth.ErrPasswordReplaced
	}
	return err
}

func (s *Store) RecordLoginFailure(ctx context.Context, userID string, lockedUntil time.Time) (int, error) {
	var n int
	err := s.writeRow(ctx, "UPDATE users SET failed_logins = failed_logins + 1, locked_until = max(locked_until, ?) WHERE id = ? RETURNING failed_logins",
		[]any{microsOr0(lockedUntil), userID}, &n)
	return n, mapError("sqlite.RecordLoginFailure", err)
}

func (s *Store) RaiseLoginLock(ctx context.Context, userID string, failures int, lockedUntil time.Time) error {
	_, err := s.exec(ctx, "sqlite.RaiseLoginLock", "UPDATE users SET locked_until = max(locked_until, ?) WHERE id = ? AND failed_logins >= ?",
		microsOr0(lockedUntil), userID, failures)
	return err
}

func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := s.exec(ctx, "sqlite.ResetLoginFailures", "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?", userID)
	return err
}

func (s *Store) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	var n int
	var last int64
	err := s.read.QueryRowContext(ctx, "SELECT failures, last_failure_at FROM failures WHERE key = ? AND last_failure_at >= ?", key, micros(since)).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, mapError("sqlite.Failures", err)
	}
	return n, fromMicros(last), nil
}

func (s *Store) RecordFailure(ctx context.Context, key string, at, since time.Time, sweep int) (int, error) {
	var n int
	err := s.tx(ctx, "sqlite.RecordFailure", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM failures WHERE key IN
			(SELECT key FROM failures WHERE last_failure_at < ? AND key <> ? ORDER BY last_failure_at LIMIT ?)`, micros(since), key, sweep); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO failures (key, failures, last_failure_at) VALUES (?, 1, ?)
			ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN last_failure_at < ? THEN 1 ELSE failures + 1 END, last_failure_at = excluded.last_failure_at
			RETURNING failures`, key, micros(at), micros(since)).Scan(&n)
	})
	return n, err
}

func (s *Store) ResetFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "sqlite.ResetFailures", "DELETE FROM failures WHERE key = ?", key)
	return err
}

func (s *Store) KnownAddress(ctx context.Context, key string, since time.Time) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM known_addresses WHERE key = ? AND known_at >= ?", key, micros(since)).Scan(&n)
	return n > 0, mapError("sqlite.KnownAddress", err)
}

func (s *Store) MarkKnownAddress(ctx context.Context, key string, at, since time.Time, sweep int) error {
	return s.tx(ctx, "sqlite.MarkKnownAddress", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM known_addresses WHERE key IN
			(SELECT key FROM known_addresses WHERE known_at < ? AND key <> ? ORDER BY known_at LIMIT ?)`, micros(since), key, sweep); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO known_addresses (key, known_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET known_at = max(known_at, excluded.known_at)`, key, micros(at))
		return err
	})
}

// CreateSession inserts the session from the user's row only while its
// password version is the one the login read: one statement on the single
// writer, so a SetPassword is either before it (nothing inserted) or after
// it (and ends the session it finds).
func (s *Store) CreateSession(ctx context.Context, ses *auth.Session) error {
	n, err := s.exec(ctx, "sqlite.CreateSession", "INSERT INTO sessions (id, user_id, token_hash, address, created_at, expires_at) "+
		"SELECT ?, id, ?, ?, ?, ? FROM users WHERE id = ? AND password_version = ?",
		ses.ID, ses.TokenHash, ses.Address, micros(ses.CreatedAt), micros(ses.ExpiresAt), ses.UserID, ses.PasswordVersion)
	if err == nil && n == 0 {
		return auth.ErrPasswordReplaced
	}
	return err
}

const sessionCols = "id, user_id, token_hash, address, created_at, expires_at, revoked_at, ended_by"

func scanSession(r scanner) (*auth.Session, error) {
	var ses auth.Session
	var created, expires, revoked int64
	if err := r.Scan(&ses.ID, &ses.UserID, &ses.TokenHash, &ses.Address, &created, &expires, &revoked, &ses.EndedBy); err != nil {
		return nil, err
	}
	ses.CreatedAt, ses.ExpiresAt, ses.RevokedAt = fromMicros(created), fromMicros(expires), timeOr0(revoked)
	return &ses, nil
}

func (s *Store) SessionByHash(ctx context.Context, hash string) (*auth.Session, error) {
	return row(ctx, s.read, "sqlite.SessionByHash", "session", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE token_hash = ?", hash)
}

func (s *Store) SessionByID(ctx context.Context, id string) (*auth.Session, error) {
	return row(ctx, s.read, "sqlite.SessionByID", "session", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE id = ?", id)
}

func (s *Store) Sessions(ctx context.Context, userID string, now time.Time, limit int) ([]*auth.Session, error) {
	return rows(ctx, s.read, "sqlite.Sessions", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE user_id = ? AND revoked_at = 0 AND expires_at > ? ORDER BY id DESC LIMIT ?",
		userID, micros(now), limit)
}

func (s *Store) RevokeSession(ctx context.Context, userID, id, endedBy string, at time.Time) error {
	n, err := s.exec(ctx, "sqlite.RevokeSession", "UPDATE sessions SET revoked_at = ?, ended_by = ? WHERE id = ? AND user_id = ? AND revoked_at = 0", micros(at), endedBy, id, userID)
	if err == nil && n == 0 {
		return notFound("session")
	}
	return err
}

// deleteUnusedResetTokensSQL ends a user's reset tokens not yet used
// (argument: userID), for CreateResetToken (only the newest works) and
// SetPassword (a new password ends them all).
const deleteUnusedResetTokensSQL = "DELETE FROM reset_tokens WHERE user_id = ? AND used_at = 0"

// revokeSessionsSQL ends a user's sessions but one (arguments: at,
// endedBy, userID, keep), for RevokeSessions and SetPassword.
const revokeSessionsSQL = "UPDATE sessions SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END, ended_by = ? " +
	"WHERE user_id = ? AND id <> ? AND (revoked_at = 0 OR ended_by = '" + auth.EndedByLogout + "')"

func (s *Store) RevokeSessions(ctx context.Context, userID, keep, endedBy string, at time.Time) error {
	_, err := s.exec(ctx, "sqlite.RevokeSessions", revokeSessionsSQL, micros(at), endedBy, userID, keep)
	return err
}

func (s *Store) SetMFA(ctx context.Context, m *auth.MFA) (bool, error) {
	n, err := s.exec(ctx, "sqlite.SetMFA", "INSERT INTO mfa (user_id, secret) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0 WHERE mfa.confirmed_at = 0",
		m.UserID, m.Secret)
	return n == 1, err
}

func (s *Store) MFA(ctx context.Context, userID string) (*auth.MFA, error) {
	return row(ctx, s.read, "sqlite.MFA", "mfa", func(r scanner) (*auth.MFA, error) {
		var m auth.MFA
		var confirmed int64
		err := r.Scan(&m.UserID, &m.Secret, &confirmed, &m.LastStep)
		m.ConfirmedAt = timeOr0(confirmed)
		return &m, err
	}, "SELECT user_id, secret, confirmed_at, last_step FROM mfa WHERE user_id = ?", userID)
}

func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	n, err := s.exec(ctx, "sqlite.UseTOTPStep", "UPDATE mfa SET last_step = ? WHERE user_id = ? AND last_step < ?", step, userID, step)
	return n == 1, err
}

func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error) {
	n, err := s.exec(ctx, "sqlite.UseRecoveryCode", "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at = 0", micros(at), userID, hash)
	return n == 1, err
}

func (s *Store) ConfirmMFA(ctx context.Context, userID, secret string, at time.Time, hashes []string) (bool, error) {
	confirmed := false
	err := s.tx(ctx, "sqlite.ConfirmMFA", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE mfa SET confirmed_at = ? WHERE user_id = ? AND secret = ? AND confirmed_at = 0", micros(at), userID, secret)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err // no recovery codes for an enrolment not confirmed
		}
		confirmed = true
		if _, err := tx.ExecContext(ctx, "DELETE FROM recovery_codes WHERE user_id = ?", userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, "INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)", userID, h); err != nil {
				return err
			}
		}
		return nil
	})
	return confirmed && err == nil, err
}

// tx runs fn in one write transaction.
func (s *Store) tx(ctx context.Context, op string, fn func(tx *sql.Tx) error) (err error) {
	s.writes.begin()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		s.writes.end(false, err)
		return mapError(op, err)
	}
	defer func() { s.writes.end(true, err) }() // readiness (ready.go)
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return mapError(op, err)
	}
	return mapError(op, tx.Commit())
}

func (s *Store) CreateOTP(ctx context.Context, o *auth.OTP) error {
	_, err := s.exec(ctx, "sqlite.CreateOTP", "INSERT INTO otps (id, user_id, purpose, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		o.ID, o.UserID, o.Purpose, o.CodeHash, micros(o.CreatedAt), micros(o.ExpiresAt))
	return err
}

func (s *Store) UseOTP(ctx context.Context, userID, purpose, hash string, now time.Time) (bool, error) {
	ok := false
	err := s.tx(ctx, "sqlite.UseOTP", func(tx *sql.Tx) error {
		var id, want string
		err := tx.QueryRowContext(ctx, "SELECT id, code_hash FROM otps WHERE user_id = ? AND purpose = ? AND used_at = 0 AND expires_at > ? AND attempts < ? ORDER BY id DESC LIMIT 1",
			userID, purpose, micros(now), auth.OTPAttemptsMax).Scan(&id, &want)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if want == hash {
			ok = true
			_, err = tx.ExecContext(ctx, "UPDATE otps SET used_at = ? WHERE id = ?", micros(now), id)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE otps SET attempts = attempts + 1 WHERE id = ?", id)
		}
		return err
	})
	return ok, err
}

func (s *Store) CreateMerchant(ctx context.Context, m *auth.Merchant) error {
	_, err := s.exec(ctx, "sqlite.CreateMerchant", "INSERT INTO merchants (id, name, created_at) VALUES (?, ?, ?)", m.ID, m.Name, micros(m.CreatedAt))
	return err
}

func (s *Store) Merchant(ctx context.Context, id string) (*auth.Merchant, error) {
	return row(ctx, s.read, "sqlite.Merchant", "merchant", func(r scanner) (*auth.Merchant, error) {
		var m auth.Merchant
		var created int64
		err := r.Scan(&m.ID, &m.Name, &created)
		m.CreatedAt = fromMicros(created)
		return &m, err
	}, "SELECT id, name, created_at FROM merchants WHERE id = ?", id)
}

func (s *Store) CreateAPIKey(ctx context.Context, k *auth.APIKey) error {
	_, err := s.exec(ctx, "sqlite.CreateAPIKey", "INSERT INTO api_keys (id, merchant_id, prefix, hash, scope, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		k.ID, k.MerchantID, k.Prefix, k.Hash, k.Scope, micros(k.CreatedAt))
	return err
}

func scanAPIKey(r scanner) (*auth.APIKey, error) {
	var k auth.APIKey
	var created, revoked int64
	err := r.Scan(&k.ID, &k.MerchantID, &k.Prefix, &k.Hash, &k.Scope, &created, &revoked)
	k.CreatedAt, k.RevokedAt = fromMicros(created), timeOr0(revoked)
	return &k, err
}

const apiKeyCols = "id, merchant_id, prefix, hash, scope, created_at, revoked_at"

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*auth.APIKey, error) {
	return row(ctx, s.read, "sqlite.APIKeyByHash", "key", scanAPIKey, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = ?", hash)
}

func (s *Store) APIKeyByID(ctx context.Context, id string) (*auth.APIKey, error) {
	return row(ctx, s.read, "sqlite.APIKeyByID", "key", scanAPIKey, "SELECT "+apiKeyCols+" FROM api_keys WHERE id = ?", id)
}

func (s *Store) RevokeAPIKey(ctx context.Context, merchantID, id string, at time.Time) error {
	n, err := s.exec(ctx, "sqlite.RevokeAPIKey", "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND merchant_id = ? AND revoked_at = 0", micros(at), id, merchantID)
	if err == nil && n == 0 {
		return notFound("key")
	}
	return err
}

func (s *Store) CreateOperator(ctx context.Context, o *auth.Operator) error {
	_, err := s.exec(ctx, "sqlite.CreateOperator", "INSERT INTO operators (id, name, role, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
		o.ID, o.Name, o.Role, o.KeyHash, micros(o.CreatedAt))
	return err
}

func scanOperator(r scanner) (*auth.Operator, error) {
	var o auth.Operator
	var created, revoked int64
	err := r.Scan(&o.ID, &o.Name, &o.Role, &o.KeyHash, &created, &revoked)
	o.CreatedAt, o.RevokedAt = fromMicros(created), timeOr0(revoked)
	return &o, err
}

const operatorCols = "id, name, role, key_hash, created_at, revoked_at"

func (s *Store) OperatorByHash(ctx context.Context, hash string) (*auth.Operator, error) {
	return row(ctx, s.read, "sqlite.OperatorByHash", "operator", scanOperator, "SELECT "+operatorCols+" FROM operators WHERE key_hash = ?", hash)
}

func (s *Store) OperatorByID(ctx context.Context, id string) (*auth.Operator, error) {
	return row(ctx, s.read, "sqlite.OperatorByID", "operator", scanOperator, "SELECT "+operatorCols+" FROM operators WHERE id = ?", id)
}

func (s *Store) RevokeOperator(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, "sqlite.RevokeOperator", "UPDATE operators SET revoked_at = ? WHERE id = ? AND revoked_at = 0", micros(at), id)
	if err == nil && n == 0 {
		return notFound("operator")
	}
	return err
}

const auditCols = "seq, at, actor, action, target, address, detail, prev_hash, hash"

func scanAudit(r scanner) (*auth.AuditRecord, error) {
	var a auth.AuditRecord
	var at int64
	var detail sql.NullString
	if err := r.Scan(&a.Seq, &at, &a.Actor, &a.Action, &a.Target, &a.Address, &detail, &a.PrevHash, &a.Hash); err != nil {
		return nil, err
	}
	a.At = fromMicros(at)
	if detail.Valid && detail.String != "" {
		if err := json.Unmarshal([]byte(detail.String), &a.Detail); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

func (s *Store) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	return s.tx(ctx, "sqlite.AppendAudit", func(sqlTx *sql.Tx) error {
		return (&tx{tx: sqlTx, store: s}).AppendAudit(ctx, recs, seal)
	})
}

// AppendAudit chains recs after the head and inserts them, in a write
// transaction: its own (Store.AppendAudit) or a ledger batch's (see
// auth.Service.WriteInCommit). BEGIN IMMEDIATE holds SQLite's one write
// lock, so the head cannot move meanwhile.
func (t *tx) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	if len(recs) == 0 {
		return nil
	}
	prev, err := scanAudit(t.tx.QueryRowContext(ctx, "SELECT "+auditCols+" FROM audit WHERE seq = (SELECT seq FROM audit_head WHERE id = 1)"))
	if errors.Is(err, sql.ErrNoRows) {
		prev, err = nil, nil
	}
	if err != nil {
		return err
	}
	if err := seal(prev); err != nil {
		return err
	}
	// Many rows a statement: a ledger batch carries a record for each of
	// its operators' payments, and the committer waits for every statement.
	if _, err := t.execRows(ctx, "sqlite.AppendAudit", "INSERT INTO audit ("+auditCols+") VALUES ", "", 9, len(recs),
		func(args []any, i int) []any {
			r := recs[i]
			return append(args, r.Seq, micros(r.At), r.Actor, r.Action, r.Target, r.Address, encodeMetadata(r.Detail), r.PrevHash, r.Hash)
		}); err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, "UPDATE audit_head SET seq = ? WHERE id = 1", recs[len(recs)-1].Seq)
	return err
}

func (s *Store) Audit(ctx context.Context, after int64, limit int) ([]*auth.AuditRecord, error) {
	return rows(ctx, s.read, "sqlite.Audit", scanAudit, "SELECT "+auditCols+" FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
}

func (s *Store) AuditHead(ctx context.Context) (*auth.AuditRecord, error) {
	recs, err := rows(ctx, s.read, "sqlite.AuditHead", scanAudit, "SELECT "+auditCols+" FROM audit ORDER BY seq DESC LIMIT 1")
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

func (s *Store) Enqueue(ctx context.Context, m *auth.Message) error {
	_, err := s.exec(ctx, "sqlite.Enqueue", "INSERT INTO outbox (id, recipient, subject, body, created_at) VALUES (?, ?, ?, ?, ?)",
		m.ID, m.To, m.Subject, m.Body, micros(m.CreatedAt))
	return err
}

func (s *Store) Pending(ctx context.Context, limit int) ([]*auth.Message, error) {
	return rows(ctx, s.read, "sqlite.Pending", func(r scanner) (*auth.Message, error) {
		var m auth.Message
		var created int64
		err := r.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &created)
		m.CreatedAt = fromMicros(created)
		return &m, err
	}, "SELECT id, recipient, subject, body, created_at FROM outbox WHERE sent_at = 0 ORDER BY id LIMIT ?", limit)
}

func (s *Store) MarkSent(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, "sqlite.MarkSent", "UPDATE outbox SET sent_at = ?, body = '' WHERE id = ?", micros(at), id)
	return err
}

func (s *Store) CreateResetToken(ctx context.Context, hash, userID string, expires time.Time) error {
	return s.tx(ctx, "sqlite.CreateResetToken", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, deleteUnusedResetTokensSQL, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO reset_tokens (hash, user_id, expires_at) VALUES (?, ?, ?)", hash, userID, micros(expires))
		return err
	})
}

func (s *Store) UseResetToken(ctx context.Context, hash string, now time.Time) (string, error) {
	var userID string
	err := s.writeRow(ctx, "UPDATE reset_tokens SET used_at = ? WHERE hash = ? AND used_at = 0 AND expires_at > ? RETURNING user_id",
		[]any{micros(now), hash, micros(now)}, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("reset token")
	}
	return userID, mapError("sqlite.UseResetToken", err)
}

func (s *Store) UserAccounts(ctx context.Context, owner string, kind pw.AccountKind, limit int) ([]*pw.Account, error) {
	return queryAll(ctx, s.read, scanAccount, "SELECT "+accountCols+" FROM accounts WHERE owner_id = ? AND kind = ? ORDER BY id LIMIT ?", owner, string(kind), limit)
}

// holderQuery reads accounts with their owners' handles and names; %s is
// the list of ids (queryIn).
const holderQuery = `SELECT a.id, a.kind, a.owner_id, COALESCE(u.handle, ''), COALESCE(m.name, '')
	FROM accounts a
	LEFT JOIN users u ON a.kind = 'user' AND u.id = a.owner_id
	LEFT JOIN merchants m ON a.kind = 'merchant' AND m.id = a.owner_id
	WHERE a.id IN (%s)`

type holderRow struct {
	id string
	h  auth.AccountHolder
}

func (s *Store) AccountHolders(ctx context.Context, ids []string) (map[string]auth.AccountHolder, error) {
	rs, err := queryIn(ctx, s.read, func(r scanner) (holderRow, error) {
		var row holderRow
		var kind string
		err := r.Scan(&row.id, &kind, &row.h.OwnerID, &row.h.Handle, &row.h.Name)
		row.h.Kind = pw.AccountKind(kind)
		return row, err
	}, holderQuery, ids)
	if err != nil {
		return nil, err
	}
	m := make(map[string]auth.AccountHolder, len(rs))
	for _, r := range rs {
		m[r.id] = r.h
	}
	return m, nil
}
