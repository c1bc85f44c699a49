package peakwallet

import "time"

// Entry is one side of a transfer on one account: negative for a debit,
// positive for a credit. Seq numbers an account's entries from 1.
type Entry struct {
	AccountID          string    `json:"account_id"`
	Seq                int64     `json:"seq"`
	TransferID         string    `json:"transfer_id"`
	Amount             int64     `json:"amount"`
	PostedBalanceAfter int64     `json:"posted_balance_after"`
	Description        string    `json:"description,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
}
