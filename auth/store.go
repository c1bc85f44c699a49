package auth

import (
	"context"
	"errors"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Store is what auth needs from storage. It lives here, not in the root
// package, because only auth uses it: the root's Store is the ledger's, and
// this one may grow with the security rules without touching every
// LedgerService user. Stores translate; every decision (hashing, expiry,
// lockout, the audit chain's hashes) is made in this package. Both stores
// pass authtest.Run.
//
// Reads of a missing object return an *pw.Error with ENOTFOUND. Inserts of
// a duplicate unique value (a taken handle) return EHANDLETAKEN for users
// and EIDEMINUSE otherwise.
type Store interface {
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByHandle(ctx context.Context, handle string) (*User, error)
	// SetPassword replaces the user's password hash, adds one to their
	// password version in the same statement, and, in the same
	// transaction, ends every reset token of theirs not yet used and
	// their sessions but keep (as RevokeSessions, for endedBy at at): a
	// new password, by a reset or a change, leaves no way back to the
	// account through an older link, nor through a login that checked the
	// old one, whose session is either stored before the new version (and
	// ended here) or refused (CreateSession). Every write of a password
	// hash but CreateUser's (version 1) goes through it.
	//
	// expectVersion is the password version the caller read with the
	// password it checked (User.PasswordVersion), for a change: the hash
	// is set only while the user's version is still that one, decided in
	// the UPDATE itself, and otherwise SetPassword returns
	// ErrPasswordReplaced having written nothing (no sessions ended, no
	// tokens deleted): a change that checked the old password must not
	// undo a reset or change that completed meanwhile.
	// AnyPasswordVersion sets it whatever the version (a reset, whose
	// proof is its token, not a password read); for a user ID that is no
	// user's it returns ENOTFOUND having written nothing (until
	// 2026-11-29 it returned nil, a reset that set no password).
	SetPassword(ctx context.Context, userID string, expectVersion int64, hash, keep, endedBy string, at time.Time) error
	// RecordLoginFailure adds one to the user's failure count and sets
	// their lock (a later lock stands), and returns the new count;
	// ResetLoginFailures clears both after a success. RaiseLoginLock sets
	// the lock (a later one stands) only while the count is still at
	// least failures, so that a success that reset it meanwhile stands:
	// for a lock computed from a count that concurrent failures raised.
	RecordLoginFailure(ctx context.Context, userID string, lockedUntil time.Time) (failures int, err error)
	RaiseLoginLock(ctx context.Context, userID string, failures int, lockedUntil time.Time) error
	ResetLoginFailures(ctx context.Context, userID string) error
	// Failures returns the failure count of key (a throttle's: an unknown
	// handle's failed logins, a user's wrong codes ...) and the time of
	// its last failure, shared by every process on the store. A run whose
	// last failure is before since is forgotten: zero, zero time.
	Failures(ctx context.Context, key string, since time.Time) (n int, last time.Time, err error)
	// RecordFailure adds one failure of key at at and returns the count,
	// atomically (concurrent failures all count): one when key's last
	// failure is before since. It also deletes at most sweep other keys
	// whose last failure is before since, oldest first, so that the
	// forgotten keys do not pile up; ResetFailures forgets key.
	RecordFailure(ctx context.Context, key string, at, since time.Time, sweep int) (int, error)
	ResetFailures(ctx context.Context, key string) error
	// KnownAddress reports whether key (a user's address: a successful
	// login from it) was marked at or after since, for every process on
	// the store. MarkKnownAddress marks key at at (a later mark stands)
	// and deletes at most sweep other keys marked before since, oldest
	// first, so that forgotten keys do not pile up.
	KnownAddress(ctx context.Context, key string, since time.Time) (bool, error)
	MarkKnownAddress(ctx context.Context, key string, at, since time.Time, sweep int) error

	// CreateSession stores s only while its user's password version is
	// still s.PasswordVersion, decided in the write itself (the row read
	// under a lock a concurrent SetPassword waits for, or on the single
	// writer): ErrPasswordReplaced, storing nothing, when a new password
	// was set since the login read the one it checked.
	CreateSession(ctx context.Context, s *Session) error
	SessionByHash(ctx context.Context, tokenHash string) (*Session, error)
	SessionByID(ctx context.Context, id string) (*Session, error)
	// Sessions lists a user's sessions that are neither revoked nor
	// expired at now, newest first, at most limit.
	Sessions(ctx context.Context, userID string, now time.Time, limit int) ([]*Session, error)
	// RevokeSession ends the user's session id, for the reason endedBy
	// (ENOTFOUND when the user has no such live session); RevokeSessions
	// ends all of them but keep, and gives those that ended by their own
	// logout endedBy too (their end time stays).
	RevokeSession(ctx context.Context, userID, id, endedBy string, at time.Time) error
	RevokeSessions(ctx context.Context, userID, keep, endedBy string, at time.Time) error

	// SetMFA stores the user's TOTP enrolment (replacing an unconfirmed
	// one) and reports false, storing nothing, when a confirmed one
	// exists; MFA returns it (ENOTFOUND when none).
	SetMFA(ctx context.Context, m *MFA) (bool, error)
	MFA(ctx context.Context, userID string) (*MFA, error)
	// UseTOTPStep records that step was used, and reports false (without
	// error) when a step at or after it already was: a code works once.
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// UseRecoveryCode consumes one unused recovery code with hash; false
	// when there is none.
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error)
	// ConfirmMFA confirms the user's enrolment and stores its recovery
	// codes, if the enrolment is still the unconfirmed one of secret; it
	// reports false, changing nothing, when it is not (another enrolment
	// replaced it after its code was checked, or it was confirmed).
	ConfirmMFA(ctx context.Context, userID, secret string, at time.Time, recoveryHashes []string) (bool, error)

	// CreateOTP stores a one-time code; UseOTP consumes the newest unused,
	// unexpired code of userID for purpose whose hash matches, counting a
	// failed attempt against it otherwise (OTPAttemptsMax attempts kill it).
	CreateOTP(ctx context.Context, o *OTP) error
	UseOTP(ctx context.Context, userID, purpose, hash string, now time.Time) (bool, error)

	CreateMerchant(ctx context.Context, m *Merchant) error
	Merchant(ctx context.Context, id string) (*Merchant, error)
	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	APIKeyByID(ctx context.Context, id string) (*APIKey, error)
	RevokeAPIKey(ctx context.Context, merchantID, id string, at time.Time) error
	CreateOperator(ctx context.Context, o *Operator) error
	OperatorByHash(ctx context.Context, hash string) (*Operator, error)
	OperatorByID(ctx context.Context, id string) (*Operator, error)
	// RevokeOperator ends an operator's key (ENOTFOUND when none is live).
	RevokeOperator(ctx context.Context, id string, at time.Time) error

	// AppendAudit appends recs, in order, in one transaction under a lock
	// on the chain's head: seal is called with the previous record (nil for
	// the first) and must fill each record's Seq, PrevHash and Hash. Two
	// appends never share a predecessor.
	AppendAudit(ctx context.Context, recs []*AuditRecord, seal func(prev *AuditRecord) error) error
	// Audit lists records with Seq > after, in Seq order.
	Audit(ctx context.Context, after int64, limit int) ([]*AuditRecord, error)
	// AuditHead returns the newest record, nil when the log is empty.
	AuditHead(ctx context.Context) (*AuditRecord, error)

	// Enqueue stores an outgoing message; Pending lists unsent ones,
	// oldest first; MarkSent records delivery and forgets the body, which
	// may hold a code.
	Enqueue(ctx context.Context, m *Message) error
	Pending(ctx context.Context, limit int) ([]*Message, error)
	MarkSent(ctx context.Context, id string, at time.Time) error

	// CreateResetToken stores a password reset token and ends the user's
	// other unused ones, in one transaction: only the newest works.
	// UseResetToken consumes an unexpired unused one and returns its user.
	CreateResetToken(ctx context.Context, hash, userID string, expires time.Time) error
	UseResetToken(ctx context.Context, hash string, now time.Time) (userID string, err error)

	// UserAccounts lists the accounts of kind owned by owner (at most
	// limit), read from the ledger's accounts table: wallets are accounts.
	UserAccounts(ctx context.Context, owner string, kind pw.AccountKind, limit int) ([]*pw.Account, error)
	// AccountHolders returns the holder of each account among ids that
	// exists (at most AccountHoldersMax ids): the account's kind and
	// owner, and the owning user's handle or merchant's name when the
	// account is of that kind and its owner exists. One read for the
	// accounts of a page of transfers.
	AccountHolders(ctx context.Context, ids []string) (map[string]AccountHolder, error)
}

// ErrPasswordReplaced is CreateSession's answer when the user's password
// was replaced (SetPassword) after the login read the one it checked: the
// session would outlive the reset or change that was meant to end it. It
// is also SetPassword's, for a change, when the password was replaced
// after the change read the one it checked: the change would undo the
// reset or change that replaced it. Login and ChangePassword answer it as
// a wrong password; elsewhere it is an internal error.
var ErrPasswordReplaced = errors.New("auth: the password was replaced after it was read")

// AnyPasswordVersion is SetPassword's expectVersion for a new password
// set whatever the user's password version (a reset). Versions start at
// 1, so no user has it.
const AnyPasswordVersion int64 = 0

// AccountHoldersMax bounds the ids of one AccountHolders: both sides of a
// full page of transfers.
const AccountHoldersMax = 2 * pw.PageLimitMax

// AccountHolder is who holds an account, as the store knows it.
type AccountHolder struct {
	Kind    pw.AccountKind
	OwnerID string
	Handle  string // the owning user's, for an account of kind user
	Name    string // the owning merchant's, for an account of kind merchant
}

// User is someone who signs up with a handle (an email address or a phone
// number) and a password.
type User struct {
	ID           string    `json:"id"`
	Handle       string    `json:"handle"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	// StepUpThreshold is EUR's step-up threshold in cents, the figure a
	// user's payments were held to in every currency until 2026-11-29.
	// The store keeps the one of the user's signup, and nothing reads it
	// for a decision since then: a payment is held to its own currency's
	// threshold (Service.stepUpThreshold). Me and SignUp answer the
	// figure that applies now (the API's step_up_threshold, kept).
	StepUpThreshold int64 `json:"step_up_threshold"`
	// StepUpThresholds (Me only) is the threshold, in minor units, of
	// each currency the user has a wallet in.
	StepUpThresholds StepUpThresholds `json:"step_up_thresholds,omitempty"`
	// TOTPEnabled (Me; false at sign-up) is true once the user has
	// confirmed an authenticator app: a step-up then asks for its code (or
	// a recovery code), and otherwise sends a code by message to the
	// handle (Service.challenge). The web app says so beside the
	// thresholds, before a payment meets the prompt.
	TOTPEnabled  bool      `json:"totp_enabled"`
	FailedLogins int       `json:"-"`
	LockedUntil  time.Time `json:"-"`
	// PasswordVersion counts the user's passwords: 1 at sign-up, one more
	// at each SetPassword. A login reads it with the hash it checks, and
	// its session is stored only while it has not changed
	// (Store.CreateSession).
	PasswordVersion int64 `json:"-"`
}

// Session is a user's login. Only the hash of its token is stored.
type Session struct {
	ID        string    `json:"id"`
	UserID    string    `json:"-"`
	TokenHash string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"-"`
	EndedBy   string    `json:"-"` // why it was revoked: EndedByLogout, ...
	Address   string    `json:"client_address,omitempty"`
	Current   bool      `json:"current"` // filled when listing
	// PasswordVersion is the user's password version the login read with
	// the password it checked (User.PasswordVersion); CreateSession only.
	PasswordVersion int64 `json:"-"`
}

// Why a session ended (Session.EndedBy). A payment a session queued at a
// surge is still paid after the session's own logout, and not after any
// other end (CredentialLive).
const (
	EndedByLogout         = "logout"          // by itself: DELETE /v1/sessions/current
	EndedByUser           = "ended"           // by another of the user's sessions
	EndedByPasswordChange = "password_change" // the user's other sessions, at a password change
	EndedByPasswordReset  = "password_reset"  // all the user's sessions, at a reset
	EndedByLoginError     = "login_error"     // by its own login, which failed after storing it: no one holds its token
)

// MFA is a user's TOTP enrolment. Secret is base32 (as in the otpauth URI).
type MFA struct {
	UserID      string
	Secret      string
	ConfirmedAt time.Time // zero until the first code is confirmed
	LastStep    int64     // the last TOTP time step used, against replay
}

// Confirmed reports whether TOTP is active.
func (m *MFA) Confirmed() bool { return m != nil && !m.ConfirmedAt.IsZero() }

// OTP is a one-time code sent by message.
type OTP struct {
	ID        string
	UserID    string
	Purpose   string // "step_up", "login"
	CodeHash  string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// OTPAttemptsMax wrong codes end a message OTP.
const OTPAttemptsMax = 5

// Merchant is a business that integrates with API keys.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is a merchant's key; only its hash and a short prefix (to tell
// keys apart in lists and logs) are stored.
type APIKey struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	Prefix     string    `json:"prefix"`
	Hash       string    `json:"-"`
	Scope      string    `json:"scope"`
	CreatedAt  time.Time `json:"created_at"`
	RevokedAt  time.Time `json:"-"`
}

// Operator is a member of staff with a role.
type Operator struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	KeyHash   string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"-"`
}

// AuditRecord is one link of the hash-chained audit log.
type AuditRecord struct {
	Seq      int64             `json:"seq"`
	At       time.Time         `json:"at"`
	Actor    string            `json:"actor"`  // "kind:id" of the principal, or "anonymous"
	Action   string            `json:"action"` // "login.success", "key.create", ...
	Target   string            `json:"target,omitempty"`
	Address  string            `json:"client_address,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// Message is an outgoing notification (a code, a reset link, an alert).
type Message struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	SentAt    time.Time `json:"sent_at"`
}
