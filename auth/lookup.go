package auth

import (
	"context"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ActionUserLookup is the audit action of an operator's look-up of a user
// by handle (LookUpUser) or ID (LookUpUserByID): found or not, every
// look-up is recorded.
const ActionUserLookup = "user.lookup"

// CustomerView is a user as support sees them (GET /v1/users?handle=,
// GET /v1/users/{id}):
// what a support desk needs to help, and nothing secret — no password
// hash, TOTP secret, code or token. It is its own type, not User, so
// that a field added to User later is not shown to operators unless
// someone adds it here.
type CustomerView struct {
	ID        string    `json:"id"`
	Handle    string    `json:"handle"`
	CreatedAt time.Time `json:"created_at"`
	// TOTPEnabled is true once the user has confirmed an authenticator
	// app (a code is then asked at login and for a step-up).
	TOTPEnabled bool `json:"totp_enabled"`
	// FailedLogins counts the failed logins since the last success.
	FailedLogins int `json:"failed_logins"`
	// Locked is true while the handle is locked after failed logins
	// (for addresses the user never logged in from; docs/security.md),
	// until LockedUntil.
	Locked      bool       `json:"locked"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	// Wallets are the user's accounts of kind user, with their balances,
	// in ID order (at most WalletsMax).
	Wallets []*pw.Account `json:"wallets"`
}

// LookUpUser finds the user whose handle is handle (parsed as ParseHandle
// does, so any spelling of it) for an operator of any role: the support
// desk starts from the handle a customer writes from. Errors:
// invalid_request (field handle), user_not_found (field handle),
// forbidden (not an operator: the route's Access refuses first; this is
// the service's own check, as requireAdmin is).
//
// Every look-up is audited (ActionUserLookup; the user found, or the
// handle asked for, by its keyed form (handleTarget), with known=false),
// before anything of the user is read beyond their row: a look-up whose
// record cannot be written fails, so no operator reads a customer's data
// unrecorded.
func (s *Service) LookUpUser(ctx context.Context, handle string) (*CustomerView, error) {
	return s.lookUpUser(ctx, "handle", handle, ParseHandle, s.store.UserByHandle)
}

// LookUpUserByID is LookUpUser by the user's ID (usr_…), as an account
// names its owner: the same roles, view and audit (the ID asked for,
// known=false, when no user has it). Errors: user_not_found (field id;
// also, unaudited, for what is not a user ID at all: no one can have it,
// and the log is not given text no one checked), forbidden.
func (s *Service) LookUpUserByID(ctx context.Context, id string) (*CustomerView, error) {
	return s.lookUpUser(ctx, "id", id, parseUserID, s.store.UserByID)
}

// parseUserID lets through only a well-formed user ID.
func parseUserID(id string) (string, error) {
	if !pw.IDHasPrefix(id, pw.PrefixUser) {
		return "", pw.FieldErrorf("id", pw.EUSERNOTFOUND, "no user has that id")
	}
	return id, nil
}

// lookUpUser is every look-up of a user by an operator: the key asked for
// (field names it in errors) is parsed, the user read by it with find,
// the look-up audited, and only then the rest of the view read.
func (s *Service) lookUpUser(ctx context.Context, field, key string, parse func(string) (string, error),
	find func(context.Context, string) (*User, error)) (*CustomerView, error) {
	if p, _ := pw.PrincipalFromContext(ctx); !p.IsOperator() {
		return nil, pw.Errorf(pw.EFORBIDDEN, "only an operator can look up a user")
	}
	k, err := parse(key)
	if err != nil {
		return nil, err
	}
	u, err := find(ctx, k)
	if pw.ErrorCode(err) == pw.ENOTFOUND {
		// A handle no one has is recorded by its keyed form, not its
		// text (handleTarget); an ID asked for names no person and is
		// recorded as it is.
		target := k
		if field == "handle" {
			target = s.handleTarget(k)
		}
		if err := s.Audit(ctx, ActionUserLookup, target, map[string]string{"known": "false"}); err != nil {
			return nil, err
		}
		return nil, pw.FieldErrorf(field, pw.EUSERNOTFOUND, "no user has that %s", field)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Audit(ctx, ActionUserLookup, u.ID, nil); err != nil {
		return nil, err
	}
	m, err := s.mfaOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	wallets, err := s.store.UserAccounts(ctx, u.ID, pw.AccountUser, WalletsMax)
	if err != nil {
		return nil, err
	}
	if wallets == nil {
		wallets = []*pw.Account{}
	}
	v := &CustomerView{ID: u.ID, Handle: u.Handle, CreatedAt: u.CreatedAt, TOTPEnabled: m.Confirmed(),
		FailedLogins: u.FailedLogins, Wallets: wallets}
	if now := s.clock(); now.Before(u.LockedUntil) {
		until := u.LockedUntil
		v.Locked, v.LockedUntil = true, &until
	}
	return v, nil
}
