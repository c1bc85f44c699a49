package peakwallet

import "time"

// Hold statuses: pending → captured | voided | expired.
const (
	HoldPending  = "pending"
	HoldCaptured = "captured"
	HoldVoided   = "voided"
	HoldExpired  = "expired"
)

// Hold limits.
const (
	HoldExpiresInSecondsMax = 30 * 24 * 3600 // 30 days
)

// Hold reserves Amount of FromAccount's available balance for ToAccount
// until it is captured (posted, in full or in part), voided, or expires.
type Hold struct {
	ID                string            `json:"id"`
	FromAccount       string            `json:"from_account"`
	ToAccount         string            `json:"to_account"`
	Amount            int64             `json:"amount"`
	Currency          Currency          `json:"currency"`
	Status            string            `json:"status"`
	Description       string            `json:"description,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	ExpiresAt         time.Time         `json:"expires_at"`
	CapturedAmount    int64             `json:"captured_amount"`
	CaptureTransferID string            `json:"capture_transfer_id,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	RequestKey        string            `json:"-"`
}

// HoldCreate is a request to reserve funds.
type HoldCreate struct {
	FromAccount      string            `json:"from_account"`
	ToAccount        string            `json:"to_account"`
	Amount           int64             `json:"amount"`
	Currency         Currency          `json:"currency"`
	ExpiresInSeconds int64             `json:"expires_in_seconds"`
	Description      string            `json:"description,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
}

// Validate checks what can be checked without the store.
func (r *HoldCreate) Validate() error {
	t := TransferCreate{FromAccount: r.FromAccount, ToAccount: r.ToAccount, Amount: r.Amount,
		Currency: r.Currency, Description: r.Description, Metadata: r.Metadata}
	if err := t.Validate(); err != nil {
		return err
	}
	if r.ExpiresInSeconds <= 0 || r.ExpiresInSeconds > HoldExpiresInSecondsMax {
		return FieldErrorf("expires_in_seconds", EINVALID, "expires_in_seconds must be between 1 and %d", HoldExpiresInSecondsMax)
	}
	return nil
}

// HoldCapture posts a hold. Amount 0 means the whole held amount; any
// remainder is released.
type HoldCapture struct {
	Amount int64 `json:"amount,omitempty"`
}

// Validate checks what can be checked without the hold.
func (r *HoldCapture) Validate() error {
	if r.Amount < 0 {
		return FieldErrorf("amount", EINVALID, "amount must be positive, or absent for the whole hold")
	}
	return nil
}
