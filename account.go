package peakwallet

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AccountKind says whose money an account holds.
type AccountKind string

const (
	AccountUser     AccountKind = "user"
	AccountMerchant AccountKind = "merchant"
	// AccountSystem stands for money outside the wallet (bank rails, cash):
	// a top-up is a transfer from a system account, a withdrawal one to it.
	// System accounts have no lower bound.
	AccountSystem AccountKind = "system"
)

// Valid reports whether k is a known kind.
func (k AccountKind) Valid() bool {
	return k == AccountUser || k == AccountMerchant || k == AccountSystem
}

// Balance of an account, all in the account's currency's minor units.
type Balance struct {
	Posted     int64 `json:"posted"`      // sum of posted entries
	PendingOut int64 `json:"pending_out"` // reserved by pending holds from this account
	PendingIn  int64 `json:"pending_in"`  // reserved by pending holds to this account
	Available  int64 `json:"available"`   // Posted - PendingOut: what can be spent before the overdraft
}

// Account is one balance in one currency.
type Account struct {
	ID             string            `json:"id"`
	Kind           AccountKind       `json:"kind"`
	Currency       Currency          `json:"currency"`
	OwnerID        string            `json:"owner_id,omitempty"`
	OverdraftLimit int64             `json:"overdraft_limit"`
	Balance        Balance           `json:"balance"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`

	// EntryCount is the number of entries posted to the account; the next
	// entry gets sequence EntryCount+1. Not part of the API.
	EntryCount int64 `json:"-"`
}

// Bounded returns whether the account has a lower bound (every kind but system).
func (a *Account) Bounded() bool { return a.Kind != AccountSystem }

// CanSpend reports whether a debit of amount from the account keeps
// available ≥ -overdraft_limit. Unbounded (system) accounts can always
// spend, within AvailableAfter's limit.
func (a *Account) CanSpend(amount int64) bool {
	if !a.Bounded() {
		return true
	}
	after, ok := a.AvailableAfter(amount)
	return ok && after >= -a.OverdraftLimit
}

// AvailableAfter returns the available balance (posted - pending_out)
// after a debit or a reservation of amount, and false when it would not
// fit in an int64. A system account has no lower bound, but its available
// balance must stay representable: until 2026-11-29 nothing checked it,
// and a system account with large holds out read a wrapped, hugely
// positive available balance (TestConformance/AvailableNeverWraps).
func (a *Account) AvailableAfter(amount int64) (int64, bool) {
	available, ok := SubInt64(a.Balance.Posted, a.Balance.PendingOut)
	if !ok {
		return 0, false
	}
	return SubInt64(available, amount)
}

// SetAvailable recomputes the derived Available field.
func (a *Account) SetAvailable() { a.Balance.Available = a.Balance.Posted - a.Balance.PendingOut }

// Limits on metadata, so that no client can store unbounded data.
const (
	MetadataKeysMax       = 20
	MetadataKeyBytesMax   = 40
	MetadataValueBytesMax = 500
	DescriptionBytesMax   = 500
	OwnerIDBytesMax       = 64
)

// ValidText reports whether s is valid UTF-8 without NUL bytes (which
// PostgreSQL's text cannot hold, and no legitimate text needs).
func ValidText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// ValidLine reports whether s is one line of text as a person reads it:
// valid UTF-8 without control characters (line breaks, tabs, NUL, the
// escape that starts a terminal's control sequence, C1), Unicode's line
// and paragraph separators (U+2028, U+2029: not controls, but mandatory
// line breaks wherever text is laid out) or bidirectional controls (which
// reorder what a console or a terminal shows, so that a note reads
// otherwise than it is). A reason kept in the audit log is read in the
// console and printed by the CLI: a line break in it would print as a
// record of its own.
func ValidLine(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
			return false
		}
	}
	return true
}

// ValidateMetadata checks the metadata limits.
func ValidateMetadata(m map[string]string) error {
	if len(m) > MetadataKeysMax {
		return FieldErrorf("metadata", EINVALID, "metadata has %d keys; at most %d are allowed", len(m), MetadataKeysMax)
	}
	for k, v := range m {
		if k == "" || len(k) > MetadataKeyBytesMax || !ValidText(k) {
			return FieldErrorf("metadata", EINVALID, "metadata key %q must be 1 to %d bytes of UTF-8 text", k, MetadataKeyBytesMax)
		}
		if len(v) > MetadataValueBytesMax || !ValidText(v) {
			return FieldErrorf("metadata", EINVALID, "metadata value for %q must be at most %d bytes of UTF-8 text", k, MetadataValueBytesMax)
		}
	}
	return nil
}

// AccountCreate is a request to open an account.
type AccountCreate struct {
	Kind           AccountKind       `json:"kind"`
	Currency       Currency          `json:"currency"`
	OwnerID        string            `json:"owner_id,omitempty"`
	OverdraftLimit int64             `json:"overdraft_limit,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// Validate checks the request without touching the store.
func (r *AccountCreate) Validate() error {
	if !r.Kind.Valid() {
		return FieldErrorf("kind", EINVALID, "kind must be one of user, merchant, system")
	}
	if _, err := ParseCurrency(string(r.Currency)); err != nil {
		return err
	}
	if r.OverdraftLimit < 0 {
		return FieldErrorf("overdraft_limit", EINVALID, "overdraft_limit must not be negative")
	}
	if r.Kind == AccountSystem && r.OverdraftLimit != 0 {
		return FieldErrorf("overdraft_limit", EINVALID, "system accounts have no overdraft_limit: they are unbounded")
	}
	if len(r.OwnerID) > OwnerIDBytesMax || !ValidText(r.OwnerID) {
		return FieldErrorf("owner_id", EINVALID, "owner_id must be at most %d bytes of UTF-8 text", OwnerIDBytesMax)
	}
	return ValidateMetadata(r.Metadata)
}
