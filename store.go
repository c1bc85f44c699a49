package peakwallet

import (
	"context"
	"time"
)

// Store is durable storage for the ledger. Stores translate (driver error
// codes to domain errors) but never decide: every rule of money lives in
// ledger/, which runs inside Update. Both stores pass storetest.Run.
type Store interface {
	// Update runs fn in one write transaction and commits it durably
	// (fsync'd) when fn returns nil; any error rolls everything back. A
	// store may run fn again after a serialization failure, so fn must not
	// have effects outside tx.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error

	// Reads fill every field, RequestKey and EntryCount included. They
	// return an *Error with ENOTFOUND (EACCOUNTNOTFOUND for accounts) when
	// the object does not exist.
	Account(ctx context.Context, id string) (*Account, error)
	Transfer(ctx context.Context, id string) (*Transfer, error)
	Hold(ctx context.Context, id string) (*Hold, error)

	// Accounts lists accounts with ID > after, in ID order.
	Accounts(ctx context.Context, after string, limit int) ([]*Account, error)
	// Transfers lists all transfers, newest first, with ID < before (all if
	// before is ""). An account's transfers are found through its entries
	// and TransfersByID: that saves two indexes on every transfer insert.
	Transfers(ctx context.Context, before string, limit int) ([]*Transfer, error)
	// TransfersByID returns the transfers that exist among ids.
	TransfersByID(ctx context.Context, ids []string) (map[string]*Transfer, error)
	// Entries lists an account's entries newest first with Seq < before
	// (all if before is 0).
	Entries(ctx context.Context, account string, before int64, limit int) ([]*Entry, error)
	// EntriesAscending lists an account's entries oldest first with Seq > after.
	EntriesAscending(ctx context.Context, account string, after int64, limit int) ([]*Entry, error)
	// Holds lists every hold, whatever its status, with ID > after, in ID
	// order (for Verify, which checks captured and released holds too).
	Holds(ctx context.Context, after string, limit int) ([]*Hold, error)
	// PendingHolds lists pending holds with ID > after, in ID order.
	PendingHolds(ctx context.Context, after string, limit int) ([]*Hold, error)
	// DueHolds lists pending holds with expires_at ≤ now, oldest due first.
	DueHolds(ctx context.Context, now time.Time, limit int) ([]*Hold, error)

	// ClaimIdempotency inserts rec as in flight. If the key exists it
	// returns the existing record instead, unless that record is in flight
	// with LockedAt before staleBefore: then rec takes the lease over (the
	// owner died before committing) and nil is returned.
	ClaimIdempotency(ctx context.Context, rec *IdempotencyRecord, staleBefore time.Time) (*IdempotencyRecord, error)
	// ReleaseIdempotency forgets an in-flight key still owned by token,
	// after a request that certainly committed nothing.
	ReleaseIdempotency(ctx context.Context, key IdempotencyKey, token string) error
	// DeleteIdempotencyBefore forgets keys first seen before t.
	DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error)

	// Ping is the readiness check (/readyz): nil when the store can be
	// read and written, as far as it can tell quickly and without writing
	// while writes work (load balancers call it every second or so).
	Ping(ctx context.Context) error
	Close() error
}

// Tx is a write transaction. Every mutable row (balances, hold states, the
// refunds of a transfer, idempotency leases) is changed only while the
// accounts it belongs to are locked through LockAccounts, so those locks
// serialize writers across processes sharing one database.
type Tx interface {
	// LockAccounts locks the accounts (in ID order, so that two
	// transactions never deadlock) and returns those that exist.
	LockAccounts(ctx context.Context, ids []string) (map[string]*Account, error)
	// Holds returns the holds that exist among ids.
	Holds(ctx context.Context, ids []string) (map[string]*Hold, error)
	// Transfers returns the transfers that exist among ids, with
	// RefundedAmount filled.
	Transfers(ctx context.Context, ids []string) (map[string]*Transfer, error)
	// DueHolds returns pending holds from or to any of accounts whose
	// expires_at ≤ now.
	DueHolds(ctx context.Context, accounts []string, now time.Time) ([]*Hold, error)
	// LockIdempotency locks the keys' records and returns each that exists:
	// in flight (State, Token) or finished (State, Fingerprint, Status and
	// Body, the remembered answer).
	LockIdempotency(ctx context.Context, keys []IdempotencyKey) (map[IdempotencyKey]*IdempotencyRecord, error)
	// Write applies a batch of changes with as few statements as the store can.
	Write(ctx context.Context, c *Changes) error
}

// A CommitWriter writes records that must commit together with ledger
// commands, in the transaction that commits them: the audit log's record
// of an operator's payment, so that no payment exists without its record.
// Callers attach a record to a command's context (ledger.Ledger.WithRecord).
type CommitWriter interface {
	// WriteInCommit writes recs, the records of one batch's commands made
	// with this writer, in the batch's order, inside tx after the
	// commands' own changes. An error fails the whole batch. tx may be
	// retried (see Store.Update), so this must not act outside tx.
	WriteInCommit(ctx context.Context, tx Tx, recs []any) error
}

// A CommitRecord is a record and the writer that writes it inside the
// transaction that commits what it records: a ledger command's
// (ledger.Ledger.WithRecord) or a store's own, such as
// IntentStore.CancelIntent's.
type CommitRecord struct {
	Writer CommitWriter
	Record any
}

// Changes is everything one ledger batch writes.
type Changes struct {
	NewAccounts []*Account
	// Balances holds the final balance (and EntryCount) of every account the
	// batch changed: one update per account however many transfers touched it.
	Balances    []*Account
	Transfers   []*Transfer
	Entries     []*Entry
	NewHolds    []*Hold
	HoldUpdates []*Hold // Status, CapturedAmount, CaptureTransferID, UpdatedAt
	// Idempotency records to mark done (matched by key and Token).
	Idempotency []*IdempotencyRecord
}

// Empty reports whether c writes nothing.
func (c *Changes) Empty() bool {
	return len(c.NewAccounts)+len(c.Balances)+len(c.Transfers)+len(c.Entries)+
		len(c.NewHolds)+len(c.HoldUpdates)+len(c.Idempotency) == 0
}
