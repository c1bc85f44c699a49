package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
)

// SQLSTATE codes the store acts on. Errors are told apart by these codes
// (and constraint names), never by message text, which is localized.
const (
	codeUniqueViolation       = "23505"
	codeInvalidParameterValue = "22023"
	codeSerializationFailure  = "40001"
	codeDeadlockDetected      = "40P01"
	codeLockNotAvailable      = "55P03" // lock_timeout ran out (migrate.go)
	codeReadOnlyTransaction   = "25006" // a write on a standby, or with default_transaction_read_only
	codeAdminShutdown         = "57P01"
	codeCrashShutdown         = "57P02"
	codeCannotConnectNow      = "57P03"
	codeQueryCanceled         = "57014"
	classConnection           = "08" // connection_exception and friends
	classResources            = "53" // insufficient_resources, too_many_connections
)

// Unique constraints whose violation means that an idempotent request is
// being applied twice (see migrations/0001_ledger.sql).
var requestKeyConstraints = map[string]bool{
	"transfers_request_key": true,
	"holds_request_key":     true,
}

// retryable reports whether a failed transaction can simply run again: the
// server aborted it for contention, or nothing of it reached the server.
func retryable(err error) bool {
	if errors.Is(err, pw.ErrCommitUnknown) {
		return false // it may have committed: running it again could do it twice
	}
	if errors.Is(err, errNotCommitted) {
		return true // the database said so
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected
	}
	return pgconn.SafeToRetry(err)
}

// mapError turns a driver error into a *peakwallet.Error carrying op. An
// error that already is one (the ledger's own, or one mapped below) is
// returned unchanged.
func mapError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var e *pw.Error
	if errors.As(err, &e) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return mapServerError(op, pgErr, err)
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the request ran out of time", Err: err}
	}
	if unreachable(err) {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database cannot be reached", Err: err}
	}
	return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: err}
}

// mapServerError maps an error the server reported.
func mapServerError(op string, pgErr *pgconn.PgError, err error) error {
	switch {
	case pgErr.Code == codeUniqueViolation && requestKeyConstraints[pgErr.ConstraintName]:
		return &pw.Error{Code: pw.EIDEMINUSE, Op: op,
			Message: "this idempotency key has already been used by a committed request", Err: err}
	case pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected:
		// Update retried already: contention this high is overload.
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database is too contended", Err: err}
	case pgErr.Code == codeReadOnlyTransaction:
		// The server takes no writes: a standby (a failover pointed us at
		// it, or is under way), or one set read-only. Not a bug of ours:
		// busy, like any outage, until it takes writes again. Until
		// 2026-11-27 this was a 500 internal
		// (TestAReadOnlyDatabaseIsUnavailableNotInternal).
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database accepts no writes (a standby, or set read-only)",
			Err: fmt.Errorf("%w: %w", pw.ErrWritesFailing, err)}
	case pgErr.Code == codeLockNotAvailable:
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "a lock was not granted within lock_timeout", Err: err}
	case pgErr.Code == codeAdminShutdown || pgErr.Code == codeCrashShutdown ||
		pgErr.Code == codeCannotConnectNow || pgErr.Code == codeQueryCanceled ||
		strings.HasPrefix(pgErr.Code, classConnection) || strings.HasPrefix(pgErr.Code, classResources):
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database is unavailable", Err: err}
	}
	return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: err}
}

// unreachable reports whether err is a failure to talk to the server at
// all (refused, reset, timed out, closed), as opposed to a bug of ours.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
