package peakwallet

// Party is who holds one side of a transfer, as the principal reading the
// transfer may know them: the account's kind, and the handle of a user or
// the name of a merchant where the reader may see it (auth.Guard decides,
// docs/security.md). A system account is the wallet's own: top-ups come
// from one, withdrawals go to one.
type Party struct {
	Kind   AccountKind `json:"kind"`
	Handle string      `json:"handle,omitempty"` // a user's, when the reader may see it
	Name   string      `json:"name,omitempty"`   // a merchant's
}
