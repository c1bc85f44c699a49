package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
)

// TestMapError checks the mapping from driver errors to codes without a
// database, for the failures a live server rarely shows on demand.
func TestMapError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()
	own := pw.Errorf(pw.EINSUFFICIENT, "no")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		code string
	}{
		{"nil", ctx, nil, ""},
		{"own error", ctx, fmt.Errorf("ledger: %w", own), pw.EINSUFFICIENT},
		{"transfer request key", ctx, &pgconn.PgError{Code: "23505", ConstraintName: "transfers_request_key"}, pw.EIDEMINUSE},
		{"hold request key", ctx, &pgconn.PgError{Code: "23505", ConstraintName: "holds_request_key"}, pw.EIDEMINUSE},
		{"other unique", ctx, &pgconn.PgError{Code: "23505", ConstraintName: "transfers_pkey"}, pw.EINTERNAL},
		{"serialization", ctx, &pgconn.PgError{Code: "40001"}, pw.EUNAVAILABLE},
		{"deadlock", ctx, &pgconn.PgError{Code: "40P01"}, pw.EUNAVAILABLE},
		{"admin shutdown", ctx, &pgconn.PgError{Code: "57P01"}, pw.EUNAVAILABLE},
		{"connection failure", ctx, &pgconn.PgError{Code: "08006"}, pw.EUNAVAILABLE},
		{"too many connections", ctx, &pgconn.PgError{Code: "53300"}, pw.EUNAVAILABLE},
		{"syntax", ctx, &pgconn.PgError{Code: "42601"}, pw.EINTERNAL},
		{"cancelled", cancelled, errors.New("whatever pgx said"), pw.EUNAVAILABLE},
		{"deadline", ctx, fmt.Errorf("x: %w", context.DeadlineExceeded), pw.EUNAVAILABLE},
		{"refused", ctx, &pgconn.ConnectError{}, pw.EUNAVAILABLE},
		{"reset", ctx, fmt.Errorf("read: %w", syscall.ECONNRESET), pw.EUNAVAILABLE},
		{"eof", ctx, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), pw.EUNAVAILABLE},
		{"scan bug", ctx, errors.New("cannot scan"), pw.EINTERNAL},
	} {
		err := mapError(tc.ctx, "op", tc.err)
		if got := pw.ErrorCode(err); got != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.name, got, err, tc.code)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v does not wrap its cause", tc.name, err)
		}
	}
}
