package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// The auth.Store half of the PostgreSQL store: rows in and out, no decisions.

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

// rowScanner is what pgx.Row and pgx.Rows share.
type rowScanner interface{ Scan(dest ...any) error }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func notFound(noun string) error { return pw.Errorf(pw.ENOTFOUND, "%s not found", noun) }

// exec runs a write and returns the rows it changed.
func (s *Store) exec(ctx context.Context, op, q string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, mapError(ctx, op, err)
	}
	return tag.RowsAffected(), nil
}

func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	_, err := s.exec(ctx, "postgres.CreateUser", "INSERT INTO users (id, handle, password_hash, step_up_threshold, created_at) VALUES ($1, $2, $3, $4, $5)",
		u.ID, u.Handle, u.PasswordHash, u.StepUpThreshold, micros(u.CreatedAt))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
		return pw.FieldErrorf("handle", pw.EHANDLETAKEN, "this handle is taken")
	}
	return err
}

const userCols = "id, handle, password_hash, step_up_threshold, failed_logins, locked_until, created_at, password_version"

func scanUser(r rowScanner) (*auth.User, error) {
	var u auth.User
	var locked, created int64
	if err := r.Scan(&u.ID, &u.Handle, &u.PasswordHash, &u.StepUpThreshold, &u.FailedLogins, &locked, &created, &u.PasswordVersion); err != nil {
		return nil, err
	}
	u.LockedUntil, u.CreatedAt = timeOr0(locked), fromMicros(created)
	return &u, nil
}

// row reads one row with scan, mapping no rows to not_found.
func row[T any](ctx context.Context, db *pgxpool.Pool, op, noun string, scan func(rowScanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(db.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		var zero T
		return zero, notFound(noun)
	}
	return v, mapError(ctx, op, err)
}

// rows reads every row of q with scan.
func rows[T any](ctx context.Context, db *pgxpool.Pool, op string, scan func(rowScanner) (T, error), q string, args ...any) ([]T, error) {
	rs, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, mapError(ctx, op, err)
		}
		out = append(out, v)
	}
	return out, mapError(ctx, op, rs.Err())
}

func (s *Store) UserByID(ctx context.Context, id string) (*auth.User, error) {
	return row(ctx, s.pool, "postgres.UserByID", "user", scanUser, "SELECT "+userCols+" FROM users WHERE id = $1", id)
}

func (s *Store) UserByHandle(ctx context.Context, handle string) (*auth.User, error) {
	return row(ctx, s.pool, "postgres.UserByHandle", "user", scanUser, "SELECT "+userCols+" FROM users WHERE handle = $1", handle)
}

// SetPassword: the sessions are ended by a statement after the UPDATE of
// the user, which waited for any session insert holding the row (FOR
// SHARE, CreateSession) to commit; under READ COMMITTED that statement
// reads a snapshot taken after it, so it ends that session too. A
// change's UPDATE (expectVersion) that waits for another SetPassword
// holding the row checks its version again on the committed row, the new
// version, and updates nothing: ErrPasswordReplaced.
func (s *Store) SetPassword(ctx context.Context, userID string, expectVersion int64, hash, keep, endedBy string, at time.Time) error {
	replaced := false
	err := s.authTx(ctx, "postgres.SetPassword", func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE users SET password_hash = $1, password_version = password_version + 1 WHERE id = $2 AND ($3::bigint = 0 OR password_version = $3)", hash, userID, expectVersion)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 && expectVersion == auth.AnyPasswordVersion {
			return notFound("user") // no such user: rolled back, nothing written
		}
		if res.RowsAffected() == 0 {
			replaced = true // nothing else is written: the transaction commits no change
			return nil
		}
		if _, err := tx.Exec(ctx, deleteUnusedResetTokensSQL, userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, revokeSessionsSQL, micros(at), endedBy, userID, keep)
		return err
	})
	if err == nil && replaced {
		return auth.ErrPasswordReplaced
	}
	return err
}

func (s *Store) RecordLoginFailure(ctx context.Context, userID string, lockedUntil time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "UPDATE users SET failed_logins = failed_logins + 1, locked_until = GREATEST(locked_until, $1) WHERE id = $2 RETURNING failed_logins",
		microsOr0(lockedUntil), userID).Scan(&n)
	return n, mapError(ctx, "postgres.RecordLoginFailure", err)
}

func (s *Store) RaiseLoginLock(ctx context.Context, userID string, failures int, lockedUntil time.Time) error {
	_, err := s.exec(ctx, "postgres.RaiseLoginLock", "UPDATE users SET locked_until = GREATEST(locked_until, $1) WHERE id = $2 AND failed_logins >= $3",
		microsOr0(lockedUntil), userID, failures)
	return err
}

func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := s.exec(ctx, "postgres.ResetLoginFailures", "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = $1", userID)
	return err
}

func (s *Store) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	var n int
	var last int64
	err := s.pool.QueryRow(ctx, "SELECT failures, last_failure_at FROM failures WHERE key = $1 AND last_failure_at >= $2", key, micros(since)).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, mapError(ctx, "postgres.Failures", err)
	}
	return n, fromMicros(last), nil
}

// RecordFailure is one statement: the sweep skips rows another sweep (or
// a failure of that key) holds rather than wait for them, and the upsert
// counts concurrent failures of one key one after the other.
func (s *Store) RecordFailure(ctx context.Context, key string, at, since time.Time, sweep int) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `WITH swept AS (
			DELETE FROM failures WHERE key IN (SELECT key FROM failures WHERE last_failure_at < $3 AND key <> $1
				ORDER BY last_failure_at LIMIT $4 FOR UPDATE SKIP LOCKED))
		INSERT INTO failures (key, failures, last_failure_at) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN failures.last_failure_at < $3 THEN 1 ELSE failures.failures + 1 END,
			last_failure_at = excluded.last_failure_at
		RETURNING failures`, key, micros(at), micros(since), sweep).Scan(&n)
	return n, mapError(ctx, "postgres.RecordFailure", err)
}

func (s *Store) ResetFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "postgres.ResetFailures", "DELETE FROM failures WHERE key = $1", key)
	return err
}

func (s *Store) KnownAddress(ctx context.Context, key string, since time.Time) (bool, error) {
	var known bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM known_addresses WHERE key = $1 AND known_at >= $2)", key, micros(since)).Scan(&known)
	return known, mapError(ctx, "postgres.KnownAddress", err)
}

// MarkKnownAddress is one statement, as RecordFailure: the sweep skips
// rows another sweep (or a mark of that key) holds rather than wait.
func (s *Store) MarkKnownAddress(ctx context.Context, key string, at, since time.Time, sweep int) error {
	_, err := s.exec(ctx, "postgres.MarkKnownAddress", `WITH swept AS (
			DELETE FROM known_addresses WHERE key IN (SELECT key FROM known_addresses WHERE known_at < $3 AND key <> $1
				ORDER BY known_at LIMIT $4 FOR UPDATE SKIP LOCKED))
		INSERT INTO known_addresses (key, known_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET known_at = GREATEST(known_addresses.known_at, excluded.known_at)`,
		key, micros(at), micros(since), sweep)
	return err
}

// CreateSession inserts the session from the user's row only while its
// password version is the one the login read. FOR SHARE: the row is read
// under a lock that a SetPassword's UPDATE waits for (and that waits for
// one in progress, then sees its new version), so a session inserted
// with the old version commits before the new password does, and the
// sessions ended after it include it. Without the lock, under READ
// COMMITTED, an insert that read the old version from its snapshot could
// commit after the new password and the ending of the sessions, live.
// The foreign key's own lock (FOR KEY SHARE) does not conflict with an
// update of the hash.
func (s *Store) CreateSession(ctx context.Context, ses *auth.Session) error {
	n, err := s.exec(ctx, "postgres.CreateSession", "INSERT INTO sessions (id, user_id, token_hash, address, created_at, expires_at) "+
		"SELECT $1, id, $2, $3, $4, $5 FROM users WHERE id = $6 AND password_version = $7 FOR SHARE",
		ses.ID, ses.TokenHash, ses.Address, micros(ses.CreatedAt), micros(ses.ExpiresAt), ses.UserID, ses.PasswordVersion)
	if err == nil && n == 0 {
		return auth.ErrPasswordReplaced
	}
	return err
}

const sessionCols = "id, user_id, token_hash, address, created_at, expires_at, revoked_at, ended_by"

func scanSession(r rowScanner) (*auth.Session, error) {
	var ses auth.Session
	var created, expires, revoked int64
	if err := r.Scan(&ses.ID, &ses.UserID, &ses.TokenHash, &ses.Address, &created, &expires, &revoked, &ses.EndedBy); err != nil {
		return nil, err
	}
	ses.CreatedAt, ses.ExpiresAt, ses.RevokedAt = fromMicros(created), fromMicros(expires), timeOr0(revoked)
	return &ses, nil
}

func (s *Store) SessionByHash(ctx context.Context, hash string) (*auth.Session, error) {
	return row(ctx, s.pool, "postgres.SessionByHash", "session", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE token_hash = $1", hash)
}

func (s *Store) SessionByID(ctx context.Context, id string) (*auth.Session, error) {
	return row(ctx, s.pool, "postgres.SessionByID", "session", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE id = $1", id)
}

func (s *Store) Sessions(ctx context.Context, userID string, now time.Time, limit int) ([]*auth.Session, error) {
	return rows(ctx, s.pool, "postgres.Sessions", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE user_id = $1 AND revoked_at = 0 AND expires_at > $2 ORDER BY id DESC LIMIT $3",
		userID, micros(now), limit)
}

func (s *Store) RevokeSession(ctx context.Context, userID, id, endedBy string, at time.Time) error {
	n, err := s.exec(ctx, "postgres.RevokeSession", "UPDATE sessions SET revoked_at = $1, ended_by = $2 WHERE id = $3 AND user_id = $4 AND revoked_at = 0", micros(at), endedBy, id, userID)
	if err == nil && n == 0 {
		return notFound("session")
	}
	return err
}

// deleteUnusedResetTokensSQL ends a user's reset tokens not yet used
// (argument: userID), for CreateResetToken (only the newest works) and
// SetPassword (a new password ends them all).
const deleteUnusedResetTokensSQL = "DELETE FROM reset_tokens WHERE user_id = $1 AND used_at = 0"

// revokeSessionsSQL ends a user's sessions but one (arguments: at,
// endedBy, userID, keep), for RevokeSessions and SetPassword.
const revokeSessionsSQL = "UPDATE sessions SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END, ended_by = $2 " +
	"WHERE user_id = $3 AND id <> $4 AND (revoked_at = 0 OR ended_by = '" + auth.EndedByLogout + "')"

func (s *Store) RevokeSessions(ctx context.Context, userID, keep, endedBy string, at time.Time) error {
	_, err := s.exec(ctx, "postgres.RevokeSessions", revokeSessionsSQL, micros(at), endedBy, userID, keep)
	return err
}

func (s *Store) SetMFA(ctx context.Context, m *auth.MFA) (bool, error) {
	n, err := s.exec(ctx, "postgres.SetMFA", "INSERT INTO mfa (user_id, secret) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0 WHERE mfa.confirmed_at = 0",
		m.UserID, m.Secret)
	return n == 1, err
}

func (s *Store) MFA(ctx context.Context, userID string) (*auth.MFA, error) {
	return row(ctx, s.pool, "postgres.MFA", "mfa", func(r rowScanner) (*auth.MFA, error) {
		var m auth.MFA
		var confirmed int64
		err := r.Scan(&m.UserID, &m.Secret, &confirmed, &m.LastStep)
		m.ConfirmedAt = timeOr0(confirmed)
		return &m, err
	}, "SELECT user_id, secret, confirmed_at, last_step FROM mfa WHERE user_id = $1", userID)
}

func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	n, err := s.exec(ctx, "postgres.UseTOTPStep", "UPDATE mfa SET last_step = $1 WHERE user_id = $2 AND last_step < $3", step, userID, step)
	return n == 1, err
}

func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error) {
	n, err := s.exec(ctx, "postgres.UseRecoveryCode", "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at = 0", micros(at), userID, hash)
	return n == 1, err
}

func (s *Store) ConfirmMFA(ctx context.Context, userID, secret string, at time.Time, hashes []string) (bool, error) {
	confirmed := false
	err := s.authTx(ctx, "postgres.ConfirmMFA", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE mfa SET confirmed_at = $1 WHERE user_id = $2 AND secret = $3 AND confirmed_at = 0", micros(at), userID, secret)
		if err != nil || tag.RowsAffected() != 1 {
			return err // no recovery codes for an enrolment not confirmed
		}
		confirmed = true
		if _, err := tx.Exec(ctx, "DELETE FROM recovery_codes WHERE user_id = $1", userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, "INSERT INTO recovery_codes (user_id, hash) VALUES ($1, $2)", userID, h); err != nil {
				return err
			}
		}
		return nil
	})
	return confirmed && err == nil, err
}

// tx runs fn in one write transaction.
func (s *Store) authTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapError(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return mapError(ctx, op, err)
	}
	return mapError(ctx, op, commitError(op, tx.Commit(ctx)))
}

func (s *Store) CreateOTP(ctx context.Context, o *auth.OTP) error {
	_, err := s.exec(ctx, "postgres.CreateOTP", "INSERT INTO otps (id, user_id, purpose, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
		o.ID, o.UserID, o.Purpose, o.CodeHash, micros(o.CreatedAt), micros(o.ExpiresAt))
	return err
}

func (s *Store) UseOTP(ctx context.Context, userID, purpose, hash string, now time.Time) (bool, error) {
	ok := false
	err := s.authTx(ctx, "postgres.UseOTP", func(tx pgx.Tx) error {
		// FOR UPDATE: two processes checking the same code take turns, and
		// the second sees it used (it is skipped: no row, not accepted).
		// Without the lock both read it unused and both accepted it.
		var id, want string
		err := tx.QueryRow(ctx, "SELECT id, code_hash FROM otps WHERE user_id = $1 AND purpose = $2 AND used_at = 0 AND expires_at > $3 AND attempts < $4 ORDER BY id DESC LIMIT 1 FOR UPDATE",
			userID, purpose, micros(now), auth.OTPAttemptsMax).Scan(&id, &want)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if want == hash {
			ok = true
			_, err = tx.Exec(ctx, "UPDATE otps SET used_at = $1 WHERE id = $2", micros(now), id)
		} else {
			_, err = tx.Exec(ctx, "UPDATE otps SET attempts = attempts + 1 WHERE id = $1", id)
		}
		return err
	})
	return ok, err
}

func (s *Store) CreateMerchant(ctx context.Context, m *auth.Merchant) error {
	_, err := s.exec(ctx, "postgres.CreateMerchant", "INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)", m.ID, m.Name, micros(m.CreatedAt))
	return err
}

func (s *Store) Merchant(ctx context.Context, id string) (*auth.Merchant, error) {
	return row(ctx, s.pool, "postgres.Merchant", "merchant", func(r rowScanner) (*auth.Merchant, error) {
		var m auth.Merchant
		var created int64
		err := r.Scan(&m.ID, &m.Name, &created)
		m.CreatedAt = fromMicros(created)
		return &m, err
	}, "SELECT id, name, created_at FROM merchants WHERE id = $1", id)
}

func (s *Store) CreateAPIKey(ctx context.Context, k *auth.APIKey) error {
	_, err := s.exec(ctx, "postgres.CreateAPIKey", "INSERT INTO api_keys (id, merchant_id, prefix, hash, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
		k.ID, k.MerchantID, k.Prefix, k.Hash, k.Scope, micros(k.CreatedAt))
	return err
}

func scanAPIKey(r rowScanner) (*auth.APIKey, error) {
	var k auth.APIKey
	var created, revoked int64
	err := r.Scan(&k.ID, &k.MerchantID, &k.Prefix, &k.Hash, &k.Scope, &created, &revoked)
	k.CreatedAt, k.RevokedAt = fromMicros(created), timeOr0(revoked)
	return &k, err
}

const apiKeyCols = "id, merchant_id, prefix, hash, scope, created_at, revoked_at"

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*auth.APIKey, error) {
	return row(ctx, s.pool, "postgres.APIKeyByHash", "key", scanAPIKey, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = $1", hash)
}

func (s *Store) APIKeyByID(ctx context.Context, id string) (*auth.APIKey, error) {
	return row(ctx, s.pool, "postgres.APIKeyByID", "key", scanAPIKey, "SELECT "+apiKeyCols+" FROM api_keys WHERE id = $1", id)
}

func (s *Store) RevokeAPIKey(ctx context.Context, merchantID, id string, at time.Time) error {
	n, err := s.exec(ctx, "postgres.RevokeAPIKey", "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND merchant_id = $3 AND revoked_at = 0", micros(at), id, merchantID)
	if err == nil && n == 0 {
		return notFound("key")
	}
	return err
}

func (s *Store) CreateOperator(ctx context.Context, o *auth.Operator) error {
	_, err := s.exec(ctx, "postgres.CreateOperator", "INSERT INTO operators (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
		o.ID, o.Name, o.Role, o.KeyHash, micros(o.CreatedAt))
	return err
}

func scanOperator(r rowScanner) (*auth.Operator, error) {
	var o auth.Operator
	var created, revoked int64
	err := r.Scan(&o.ID, &o.Name, &o.Role, &o.KeyHash, &created, &revoked)
	o.CreatedAt, o.RevokedAt = fromMicros(created), timeOr0(revoked)
	return &o, err
}

const operatorCols = "id, name, role, key_hash, created_at, revoked_at"

func (s *Store) OperatorByHash(ctx context.Context, hash string) (*auth.Operator, error) {
	return row(ctx, s.pool, "postgres.OperatorByHash", "operator", scanOperator, "SELECT "+operatorCols+" FROM operators WHERE key_hash = $1", hash)
}

func (s *Store) OperatorByID(ctx context.Context, id string) (*auth.Operator, error) {
	return row(ctx, s.pool, "postgres.OperatorByID", "operator", scanOperator, "SELECT "+operatorCols+" FROM operators WHERE id = $1", id)
}

func (s *Store) RevokeOperator(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, "postgres.RevokeOperator", "UPDATE operators SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0", micros(at), id)
	if err == nil && n == 0 {
		return notFound("operator")
	}
	return err
}

const auditCols = "seq, at, actor, action, target, address, detail, prev_hash, hash"

func scanAudit(r rowScanner) (*auth.AuditRecord, error) {
	var a auth.AuditRecord
	var at int64
	var detail *string
	if err := r.Scan(&a.Seq, &at, &a.Actor, &a.Action, &a.Target, &a.Address, &detail, &a.PrevHash, &a.Hash); err != nil {
		return nil, err
	}
	a.At = fromMicros(at)
	if detail != nil && *detail != "" {
		if err := json.Unmarshal([]byte(*detail), &a.Detail); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

func (s *Store) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	return s.authTx(ctx, "postgres.AppendAudit", func(tx pgx.Tx) error { return appendAudit(ctx, tx, recs, seal) })
}

// AppendAudit appends to the audit log inside a ledger transaction (see
// auth.Service.WriteInCommit), as Store.AppendAudit does in one of its own.
// The ledger has locked its accounts by then, and every transaction takes
// the audit head last, so the two kinds of lock never deadlock.
func (t *tx) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	return appendAudit(ctx, t.tx, recs, seal)
}

// insertAudit inserts many records in one statement, a column an array.
const insertAudit = `INSERT INTO audit (` + auditCols + `)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[])`

// appendAudit chains recs after the head and inserts them, in two round
// trips: a ledger batch carries a record for each of its operators'
// payments, and the committer waits for every round trip.
func appendAudit(ctx context.Context, tx pgx.Tx, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	if len(recs) == 0 {
		return nil
	}
	var head pgx.Batch
	// The head row's lock makes appends take turns, across processes.
	head.Queue("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
	head.Queue("SELECT " + auditCols + " FROM audit WHERE seq = (SELECT seq FROM audit_head WHERE id = 1)")
	br := tx.SendBatch(ctx, &head)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	prev, err := scanAudit(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		prev, err = nil, nil
	}
	if err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	if err := seal(prev); err != nil {
		return err
	}
	n := len(recs)
	seqs, ats := make([]int64, n), make([]int64, n)
	actors, actions, targets, addresses := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	details, prevs, hashes := make([]*string, n), make([]string, n), make([]string, n)
	for i, rec := range recs {
		seqs[i], ats[i], actors[i], actions[i] = rec.Seq, micros(rec.At), rec.Actor, rec.Action
		targets[i], addresses[i], prevs[i], hashes[i] = rec.Target, rec.Address, rec.PrevHash, rec.Hash
		if details[i], err = encodeMetadata(rec.Detail); err != nil {
			return err
		}
	}
	var write pgx.Batch
	write.Queue(insertAudit, seqs, ats, actors, actions, targets, addresses, details, prevs, hashes)
	write.Queue("UPDATE audit_head SET seq = $1 WHERE id = 1", recs[len(recs)-1].Seq)
	return tx.SendBatch(ctx, &write).Close()
}

func (s *Store) Audit(ctx context.Context, after int64, limit int) ([]*auth.AuditRecord, error) {
	return rows(ctx, s.pool, "postgres.Audit", scanAudit, "SELECT "+auditCols+" FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
}

func (s *Store) AuditHead(ctx context.Context) (*auth.AuditRecord, error) {
	recs, err := rows(ctx, s.pool, "postgres.AuditHead", scanAudit, "SELECT "+auditCols+" FROM audit ORDER BY seq DESC LIMIT 1")
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

func (s *Store) Enqueue(ctx context.Context, m *auth.Message) error {
	_, err := s.exec(ctx, "postgres.Enqueue", "INSERT INTO outbox (id, recipient, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
		m.ID, m.To, m.Subject, m.Body, micros(m.CreatedAt))
	return err
}

func (s *Store) Pending(ctx context.Context, limit int) ([]*auth.Message, error) {
	return rows(ctx, s.pool, "postgres.Pending", func(r rowScanner) (*auth.Message, error) {
		var m auth.Message
		var created int64
		err := r.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &created)
		m.CreatedAt = fromMicros(created)
		return &m, err
	}, "SELECT id, recipient, subject, body, created_at FROM outbox WHERE sent_at = 0 ORDER BY id LIMIT $1", limit)
}

func (s *Store) MarkSent(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, "postgres.MarkSent", "UPDATE outbox SET sent_at = $1, body = '' WHERE id = $2", micros(at), id)
	return err
}

func (s *Store) CreateResetToken(ctx context.Context, hash, userID string, expires time.Time) error {
	return s.authTx(ctx, "postgres.CreateResetToken", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, deleteUnusedResetTokensSQL, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO reset_tokens (hash, user_id, expires_at) VALUES ($1, $2, $3)", hash, userID, micros(expires))
		return err
	})
}

func (s *Store) UseResetToken(ctx context.Context, hash string, now time.Time) (string, error) {
	var userID string
	err := s.pool.QueryRow(ctx, "UPDATE reset_tokens SET used_at = $1 WHERE hash = $2 AND used_at = 0 AND expires_at > $3 RETURNING user_id",
		micros(now), hash, micros(now)).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("reset token")
	}
	return userID, mapError(ctx, "postgres.UseResetToken", err)
}

func (s *Store) UserAccounts(ctx context.Context, owner string, kind pw.AccountKind, limit int) ([]*pw.Account, error) {
	return getAll(ctx, s.pool, scanAccount, "SELECT "+accountColumns+" FROM accounts a WHERE a.owner_id = $1 AND a.kind = $2 ORDER BY a.id LIMIT $3", owner, string(kind), limit)
}

func (s *Store) AccountHolders(ctx context.Context, ids []string) (map[string]auth.AccountHolder, error) {
	const op = "postgres.AccountHolders"
	m := make(map[string]auth.AccountHolder, len(ids))
	if len(ids) == 0 {
		return m, nil
	}
	rs, err := s.pool.Query(ctx, `SELECT a.id, a.kind, a.owner_id, COALESCE(u.handle, ''), COALESCE(m.name, '')
		FROM accounts a
		LEFT JOIN users u ON a.kind = 'user' AND u.id = a.owner_id
		LEFT JOIN merchants m ON a.kind = 'merchant' AND m.id = a.owner_id
		WHERE a.id = ANY($1)`, ids)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	defer rs.Close()
	for rs.Next() {
		var id, kind string
		var h auth.AccountHolder
		if err := rs.Scan(&id, &kind, &h.OwnerID, &h.Handle, &h.Name); err != nil {
			return nil, mapError(ctx, op, err)
		}
		h.Kind = pw.AccountKind(kind)
		m[id] = h
	}
	return m, mapError(ctx, op, rs.Err())
}
