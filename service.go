package peakwallet

import "context"

// LedgerService is what the API offers. ledger.Ledger implements it over a
// Store; http.Client implements it over the HTTP API, so the CLI, the bench
// and the tests can drive either.
//
// Money-moving calls are idempotent when ctx carries a key
// (NewContextWithIdempotencyKey on the client side, a Claim on the server
// side). Error codes each may return are listed on the method.
type LedgerService interface {
	// CreateAccount: invalid_request.
	CreateAccount(ctx context.Context, req AccountCreate) (*Account, error)
	// Account: account_not_found.
	Account(ctx context.Context, id string) (*Account, error)
	// Accounts lists accounts in ID order after the cursor.
	Accounts(ctx context.Context, page Page) ([]*Account, string, error)
	// Entries lists an account's entries newest first: account_not_found, invalid_request.
	Entries(ctx context.Context, account string, page Page) ([]*Entry, string, error)

	// CreateTransfer: invalid_request, accounts_must_be_different,
	// account_not_found, currency_mismatch, insufficient_funds, limit_exceeded.
	CreateTransfer(ctx context.Context, req TransferCreate) (*Transfer, error)
	// Transfer: not_found.
	Transfer(ctx context.Context, id string) (*Transfer, error)
	// Transfers lists transfers newest first, optionally of one account.
	Transfers(ctx context.Context, account string, page Page) ([]*Transfer, string, error)
	// CreateBatch posts up to BatchTransfersMax transfers in one commit. With
	// Atomic, all or none are applied (batch_failed names the first failure).
	CreateBatch(ctx context.Context, req BatchCreate) ([]BatchResult, error)
	// Refund: not_found, not_refundable, refund_exceeds_original, insufficient_funds.
	Refund(ctx context.Context, transferID string, req RefundCreate) (*Transfer, error)

	// CreateHold: as CreateTransfer, checked against available funds.
	CreateHold(ctx context.Context, req HoldCreate) (*Hold, error)
	// Hold: not_found.
	Hold(ctx context.Context, id string) (*Hold, error)
	// CaptureHold: not_found, hold_not_pending, hold_expired, invalid_request (amount above held).
	CaptureHold(ctx context.Context, id string, req HoldCapture) (*Transfer, error)
	// VoidHold: not_found, hold_not_pending, hold_expired.
	VoidHold(ctx context.Context, id string) (*Hold, error)
}

// Page asks for one page of a list.
type Page struct {
	Limit  int    // 1..PageLimitMax; 0 means PageLimitDefault
	Cursor string // opaque; "" for the first page
}

const (
	PageLimitDefault = 50
	PageLimitMax     = 500
)

// Claim is a server-side request's lease on its idempotency key. The
// ledger marks it done, with the rendered response, in the same
// transaction that moves the money, so a committed effect and its
// remembered answer can never be separated by a crash.
type Claim struct {
	Record *IdempotencyRecord
	// Render turns the operation's outcome into the response to remember.
	Render func(v any, err error) (status int, body []byte)
}

type claimKey struct{}
type idemKeyKey struct{}

// NewContextWithClaim returns ctx carrying the server-side claim c.
func NewContextWithClaim(ctx context.Context, c *Claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// ClaimFromContext returns the claim in ctx, or nil.
func ClaimFromContext(ctx context.Context) *Claim {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	return c
}

// NewContextWithIdempotencyKey returns ctx carrying a client-side key.
func NewContextWithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemKeyKey{}, key)
}

// IdempotencyKeyFromContext returns the client-side key in ctx, or "".
func IdempotencyKeyFromContext(ctx context.Context) string {
	k, _ := ctx.Value(idemKeyKey{}).(string)
	return k
}
