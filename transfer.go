package peakwallet

import "time"

// TransferKind says why money moved.
type TransferKind string

const (
	TransferPayment TransferKind = "payment" // a plain transfer (top-ups and withdrawals included)
	TransferCapture TransferKind = "capture" // the posting of a captured hold
	TransferRefund  TransferKind = "refund"  // money returned against an earlier transfer
)

// TransferPosted is the only status a transfer has: transfers are immutable
// and exist only once posted.
const TransferPosted = "posted"

// Transfer moves Amount from FromAccount to ToAccount. It is immutable;
// corrections are new transfers.
type Transfer struct {
	ID          string            `json:"id"`
	Kind        TransferKind      `json:"kind"`
	FromAccount string            `json:"from_account"`
	ToAccount   string            `json:"to_account"`
	Amount      int64             `json:"amount"`
	Currency    Currency          `json:"currency"`
	Status      string            `json:"status"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	HoldID      string            `json:"hold_id,omitempty"`   // for captures
	RefundOf    string            `json:"refund_of,omitempty"` // for refunds
	CreatedAt   time.Time         `json:"created_at"`

	// RefundedAmount is derived (the sum of refunds against this transfer),
	// filled on reads; it is not stored on the transfer.
	RefundedAmount int64 `json:"refunded_amount"`

	// FromParty and ToParty say who holds each side: filled on a
	// principal's reads of transfers (auth.Guard), never stored, and
	// absent from the answers of the requests that make transfers.
	FromParty *Party `json:"from_party,omitempty"`
	ToParty   *Party `json:"to_party,omitempty"`

	// RequestKey names the idempotent request that created the transfer
	// ("principal\x00key" plus "\x00i" for the i-th item of a batch). It is
	// unique, so no idempotency key can move money twice. Not part of the API.
	RequestKey string `json:"-"`
}

// TransferCreate is a request to move money.
type TransferCreate struct {
	FromAccount string `json:"from_account"`
	ToAccount   string `json:"to_account,omitempty"`
	// ToHandle names the payee by handle instead of ToAccount: their
	// wallet in Currency. It is resolved (and cleared) above the ledger.
	ToHandle    string            `json:"to_handle,omitempty"`
	Amount      int64             `json:"amount"`
	Currency    Currency          `json:"currency"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// HandleBytesMax bounds a user's handle (an email address is at most 254).
const HandleBytesMax = 254

// Validate checks everything that can be checked without the store.
func (r *TransferCreate) Validate() error {
	if r.FromAccount == "" || (r.ToAccount == "") == (r.ToHandle == "") {
		return FieldErrorf("to_account", EINVALID, "from_account and exactly one of to_account and to_handle are required")
	}
	if len(r.ToHandle) > HandleBytesMax || !ValidText(r.ToHandle) {
		return FieldErrorf("to_handle", EINVALID, "to_handle must be at most %d bytes of text", HandleBytesMax)
	}
	// An account ID that is not text (a NUL byte, invalid UTF-8) names no
	// account, and PostgreSQL's text cannot even be asked for it: not
	// found, as an unknown account is, before any store is. Until
	// 2026-11-29 PostgreSQL failed the read, a 500; and a payment to such
	// an account accepted by the surge queue failed internal at each
	// settlement, which the settler takes for "not now": it stayed
	// pending, and held its account's later intents and each settling
	// pass up for good (TestAnAccountIDNoStoreCanHoldIsNotFound).
	for _, a := range [...]struct{ field, id string }{{"from_account", r.FromAccount}, {"to_account", r.ToAccount}} {
		if !ValidText(a.id) {
			return FieldErrorf(a.field, EACCOUNTNOTFOUND, "account %q not found", a.id)
		}
	}
	if r.FromAccount == r.ToAccount {
		return FieldErrorf("to_account", ESAMEACCOUNT, "from_account and to_account must be different")
	}
	if err := ValidateAmount(r.Amount); err != nil {
		return err
	}
	if _, err := ParseCurrency(string(r.Currency)); err != nil {
		return err
	}
	if err := ValidateDescription(r.Description); err != nil {
		return err
	}
	return ValidateMetadata(r.Metadata)
}

// ValidateAmount requires a strictly positive amount of minor units.
func ValidateAmount(amount int64) error {
	if amount <= 0 {
		return FieldErrorf("amount", EINVALID, "amount must be a positive integer count of minor units")
	}
	return nil
}

// ValidateDescription bounds free text.
func ValidateDescription(s string) error {
	if len(s) > DescriptionBytesMax || !ValidText(s) {
		return FieldErrorf("description", EINVALID, "description must be at most %d bytes of UTF-8 text", DescriptionBytesMax)
	}
	return nil
}

// BatchTransfersMax is the most transfers one batch request may carry.
const BatchTransfersMax = 8190

// BatchCreate is a request to post many transfers in one commit.
type BatchCreate struct {
	Atomic    bool             `json:"atomic"`
	Transfers []TransferCreate `json:"transfers"`
}

// Validate checks the batch's size; each item is validated on its own so
// that one bad item fails only itself (or the whole batch when atomic).
func (r *BatchCreate) Validate() error {
	if len(r.Transfers) == 0 {
		return FieldErrorf("transfers", EINVALID, "transfers must hold at least one transfer")
	}
	if len(r.Transfers) > BatchTransfersMax {
		return FieldErrorf("transfers", EINVALID, "a batch holds at most %d transfers, not %d", BatchTransfersMax, len(r.Transfers))
	}
	return nil
}

// BatchResult is the outcome of one item of a batch.
type BatchResult struct {
	Status   string    `json:"status"` // "posted" or "failed"
	Transfer *Transfer `json:"transfer,omitempty"`
	Error    *Error    `json:"-"`
}

// RefundCreate asks to return money against a transfer. Amount 0 means
// "all that remains".
type RefundCreate struct {
	Amount      int64  `json:"amount,omitempty"`
	Description string `json:"description,omitempty"`
}

// Validate checks what can be checked without the store.
func (r *RefundCreate) Validate() error {
	if r.Amount < 0 {
		return FieldErrorf("amount", EINVALID, "amount must be positive, or absent for all that remains")
	}
	return ValidateDescription(r.Description)
}
