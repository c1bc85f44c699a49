package auth

import (
	"context"
	"errors"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// SignUp is POST /v1/users.
type SignUp struct {
	Handle   string `json:"handle"`
	Password string `json:"password"`
}

// Login is POST /v1/sessions.
type Login struct {
	Handle   string `json:"handle"`
	Password string `json:"password"`
	MFACode  string `json:"mfa_code,omitempty"`
	// SendCode asks, with the right password, for a one-time login code
	// by message: the fallback without the authenticator app at hand.
	SendCode bool `json:"send_code,omitempty"`
}

// NewSession answers a login; the token is shown this once.
type NewSession struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SignUp creates a user. Rate limited per client address.
func (s *Service) SignUp(ctx context.Context, req SignUp) (*User, error) {
	now := s.clock()
	if ok, wait := s.throttle.allow("signup:"+throttleAddress(ClientAddress(ctx)), s.throttle.limits.SignUpBurst, s.throttle.limits.SignUpEvery, now); !ok {
		return nil, rateLimited(wait, "too many sign-ups from this address; try again later")
	}
	handle, err := ParseHandle(req.Handle)
	if err != nil {
		return nil, err
	}
	if err := CheckPasswordPolicy(req.Password, handle); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, req.Password)
	if err != nil {
		return nil, err
	}
	u := &User{ID: pw.NewID(pw.PrefixUser, now), Handle: handle, PasswordHash: hash, CreatedAt: now, StepUpThreshold: s.stepUpThreshold(stepUpReference)}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	ctx = pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
	return u, s.Audit(ctx, "user.signup", u.ID, nil)
}

// Login checks a handle, password and (when enrolled) MFA code, and opens
// a session. The policy (docs/security.md): per-address rate limit;
// per-address back-off after FailuresFree failures, doubling up to
// BackoffMax; after LockAfter failures the handle is locked (same capped
// back-off) for addresses it never logged in from, except to a login
// with a valid MFA code. While locked every failure
// answers the same 429, so the lock reveals nothing about the password.
func (s *Service) Login(ctx context.Context, req Login) (*NewSession, error) {
	now := s.clock()
	addr := throttleAddress(ClientAddress(ctx))
	l := s.throttle.limits
	if ok, wait := s.throttle.allow("login:"+addr, l.LoginBurst, l.LoginEvery, now); !ok {
		return nil, rateLimited(wait, "too many logins from this address; try again later")
	}
	handle, err := ParseHandle(req.Handle)
	if err != nil {
		return nil, pw.Errorf(pw.EUNAUTHORIZED, "invalid handle or password")
	}
	if len(req.Password) > PasswordBytesMax {
		return nil, pw.Errorf(pw.EUNAUTHORIZED, "invalid handle or password")
	}
	// The address's back-off is counted in the store, for every process
	// (failures.go): a primary-key read, beside the argon2 hash a login
	// costs anyway. It covers a handle's failures from the address too:
	// it counts each of them, and no success clears it, so a count per
	// handle and address (until 2026-11-29) never made anyone wait longer.
	addrKey := "addr:" + addr
	_, addrWait, err := s.failureWait(ctx, addrKey, l.FailuresFree, now)
	if err != nil {
		return nil, err
	}
	if addrWait > 0 {
		return nil, rateLimited(addrWait, "too many failed logins; wait before trying again")
	}
	u, err := s.store.UserByHandle(ctx, handle)
	if pw.ErrorCode(err) == pw.ENOTFOUND {
		// An unknown handle locks after LockAfter failures as a user's
		// does, counted in the store as a user's is (ghostKey), or the
		// lock's 429 would tell which handles exist.
		ghost := s.ghostKey(handle)
		_, locked, err := s.failureWait(ctx, ghost, l.LockAfter, now)
		if err != nil {
			return nil, err
		}
		if locked > 0 {
			// A locked user's login reads whether its address is known:
			// so does an unknown handle's (none is), or it would take
			// one read fewer.
			if _, err := s.isKnown(ctx, ghost, addr, now); err != nil {
				return nil, err
			}
		}
		if locked > 0 && req.MFACode == "" {
			return nil, rateLimited(locked, "this account is temporarily locked after failed logins; wait, or log in with your MFA code")
		}
		if _, err := s.checkPassword(ctx, s.dummyHash, req.Password); pw.ErrorCode(err) == pw.EBUSY {
			return nil, err // as a known handle's login would be
		}
		return nil, s.loginFailed(ctx, nil, handle, addrKey, locked > 0, now)
	}
	if err != nil {
		return nil, err
	}
	// The same read as an unknown handle's above (its count is none): an
	// unknown handle's login must not be told apart by one read fewer.
	if _, _, err := s.failureWait(ctx, s.ghostKey(handle), l.LockAfter, now); err != nil {
		return nil, err
	}
	locked := now.Before(u.LockedUntil)
	if locked {
		known, err := s.isKnown(ctx, u.ID, addr, now)
		if err != nil {
			return nil, err
		}
		locked = !known
	}
	if locked && req.MFACode == "" {
		return nil, rateLimited(u.LockedUntil.Sub(now), "this account is temporarily locked after failed logins; wait, or log in with your MFA code")
	}
	ok, err := s.checkPassword(ctx, u.PasswordHash, req.Password)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.loginFailed(ctx, u, handle, addrKey, locked, now)
	}
	m, err := s.mfaOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Confirmed() && req.MFACode == "" && req.SendCode:
		if err := s.SendOTP(ctx, u); err != nil {
			return nil, err
		}
		return nil, pw.Errorf(pw.EMFALOGIN, "a one-time code was sent to your handle: send it as mfa_code")
	case m.Confirmed() && req.MFACode == "":
		return nil, pw.Errorf(pw.EMFALOGIN, "this account has MFA: send mfa_code (a code from your authenticator app, a recovery code, or ask for one by message with send_code)")
	case m.Confirmed():
		if err := s.checkMFA(ctx, u, m, req.MFACode, PurposeLogin, ""); err != nil {
			return nil, s.loginFailed(ctx, u, handle, addrKey, locked, now)
		}
	case locked:
		return nil, rateLimited(u.LockedUntil.Sub(now), "this account is temporarily locked after failed logins; wait, or log in with your MFA code")
	}
	return s.openSession(ctx, u, addr, now)
}

// loginFailed records a failure everywhere it counts and returns the
// error to answer: unauthorized, or rate_limited while the handle is locked.
func (s *Service) loginFailed(ctx context.Context, u *User, handle, addrKey string, locked bool, now time.Time) error {
	if err := s.recordFailure(ctx, addrKey, now); err != nil {
		return err
	}
	target := s.handleTarget(handle) // no user's: its keyed form, not its text
	if u == nil {
		if err := s.recordFailure(ctx, s.ghostKey(handle), now); err != nil {
			return err
		}
	} else {
		target = u.ID
		// The lock is first computed from the count read before the
		// password check, in the same write as the failure; concurrent
		// failures (a burst from many addresses) all read the same count,
		// so the lock is raised again when the count the store returns
		// calls for a longer one: the lock follows the count. The usual
		// failure, alone, costs no second write.
		n := u.FailedLogins + 1
		until := s.lockAfterFailures(n, now)
		counted, err := s.store.RecordLoginFailure(ctx, u.ID, until)
		if err != nil {
			return err
		}
		if later := s.lockAfterFailures(counted, now); later.After(until) {
			if err := s.store.RaiseLoginLock(ctx, u.ID, counted, later); err != nil {
				return err
			}
		}
	}
	if err := s.Audit(ctx, "login.failure", target, nil); err != nil {
		return err
	}
	if locked {
		return rateLimited(time.Second, "this account is temporarily locked after failed logins; wait, or log in with your MFA code")
	}
	return pw.Errorf(pw.EUNAUTHORIZED, "invalid handle or password")
}

// lockAfterFailures is when a user's handle unlocks after n failed
// logins: none (the zero time) below LockAfter, then the capped back-off.
func (s *Service) lockAfterFailures(n int, now time.Time) time.Time {
	if n < s.throttle.limits.LockAfter {
		return time.Time{}
	}
	return now.Add(s.throttle.limits.backoff(n, s.throttle.limits.LockAfter))
}

// openSession opens u's session after a successful login from addr (as
// the throttles see it), and forgets u's failed logins. Not the
// address's: an attacker would clear them by logging in to an account of
// their own between guesses.
//
// The session is the last thing written but its audit record: the
// password (and code) were right, so forgetting the failures and marking
// the address stand even if the session then fails. The session is
// stored only while u's password version is the one read with the hash
// checked (Store.CreateSession): a login that checked the old password
// while a reset or change set a new one stores none and answers as a
// wrong password does (since 2026-11-29; until then its session, stored
// after the reset ended the sessions, outlived it). If the audit record
// fails, the session is ended again (EndedByLoginError): its token is
// never answered, and until 2026-11-29 such a session stayed live and
// listed, with no record of a login that opened it.
func (s *Service) openSession(ctx context.Context, u *User, addr string, now time.Time) (*NewSession, error) {
	if u.FailedLogins > 0 || !u.LockedUntil.IsZero() {
		if err := s.store.ResetLoginFailures(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	if err := s.markKnown(ctx, u.ID, addr, now); err != nil {
		return nil, err
	}
	token := NewToken(PrefixSessionToken)
	ses := &Session{ID: pw.NewID(pw.PrefixSession, now), UserID: u.ID, TokenHash: HashToken(token),
		CreatedAt: now, ExpiresAt: now.Add(s.ttl), Address: ClientAddress(ctx), PasswordVersion: u.PasswordVersion}
	err := s.store.CreateSession(ctx, ses)
	if errors.Is(err, ErrPasswordReplaced) {
		// A reset or change set a new password after u was read: the
		// password checked is no longer the password. Answered as a wrong
		// one, and not counted as one: it was right when it was checked.
		return nil, pw.Errorf(pw.EUNAUTHORIZED, "invalid handle or password")
	}
	if err != nil {
		return nil, err
	}
	actx := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID, Session: ses.ID})
	if err := s.Audit(actx, "login.success", u.ID, map[string]string{"session": ses.ID}); err != nil {
		s.endFailedSession(ctx, u.ID, ses.ID)
		return nil, err
	}
	return &NewSession{ID: ses.ID, Token: token, ExpiresAt: ses.ExpiresAt}, nil
}

// endFailedSessionTimeout bounds ending a session whose login failed.
const endFailedSessionTimeout = 5 * time.Second

// endFailedSession ends the session id of a login that answers an error,
// with a context the request's end does not cancel (a login that failed
// because its deadline passed must still end it). A failure is logged:
// the session's token was never answered, so no one holds it.
func (s *Service) endFailedSession(ctx context.Context, userID, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endFailedSessionTimeout)
	defer cancel()
	err := s.store.RevokeSession(ctx, userID, id, EndedByLoginError, s.clock())
	if err != nil {
		s.log.Warn("the session of a failed login was not ended; no one holds its token", "session", id, "err", err)
	}
}

// user returns the calling user, or forbidden for other principals.
func (s *Service) user(ctx context.Context) (pw.Principal, *User, error) {
	p, ok := pw.PrincipalFromContext(ctx)
	if !ok || p.Kind != pw.PrincipalUser {
		return p, nil, pw.Errorf(pw.EFORBIDDEN, "only a user can do this")
	}
	u, err := s.store.UserByID(ctx, p.ID)
	return p, u, err
}

// Me returns the calling user, with the step-up thresholds that apply to
// their payments now: StepUpThreshold is EUR's (whatever was stored at
// signup), StepUpThresholds each of their wallets' currency's.
func (s *Service) Me(ctx context.Context) (*User, error) {
	_, u, err := s.user(ctx)
	if err != nil {
		return nil, err
	}
	wallets, err := s.store.UserAccounts(ctx, u.ID, pw.AccountUser, WalletsMax)
	if err != nil {
		return nil, err
	}
	m, err := s.mfaOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	u.TOTPEnabled = m.Confirmed()
	u.StepUpThreshold = s.stepUpThreshold(stepUpReference)
	u.StepUpThresholds = make(StepUpThresholds, len(wallets))
	for _, w := range wallets {
		u.StepUpThresholds[w.Currency] = s.stepUpThreshold(w.Currency)
	}
	return u, nil
}

// Sessions lists the caller's live sessions, marking the current one.
func (s *Service) Sessions(ctx context.Context) ([]*Session, error) {
	p, _, err := s.user(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.store.Sessions(ctx, p.ID, s.clock(), SessionsListMax)
	for _, ses := range list {
		ses.Current = ses.ID == p.Session
	}
	return list, err
}

// EndSession ends one of the caller's sessions ("current" for this one).
// Someone else's session is not found.
func (s *Service) EndSession(ctx context.Context, id string) error {
	p, _, err := s.user(ctx)
	if err != nil {
		return err
	}
	if id == "current" {
		id = p.Session
	}
	if !pw.IDHasPrefix(id, pw.PrefixSession) {
		return pw.Errorf(pw.ENOTFOUND, "session %q not found", id)
	}
	endedBy := EndedByUser
	if id == p.Session {
		endedBy = EndedByLogout
	}
	err = s.store.RevokeSession(ctx, p.ID, id, endedBy, s.clock())
	s.auths.revoked() // whatever the store answered: it may have committed
	if err != nil {
		return err
	}
	return s.Audit(ctx, "session.end", id, nil)
}

// PasswordChange is POST /v1/me/password.
type PasswordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// ChangePassword replaces the caller's password and ends their other
// sessions. The new password is set only while the password checked is
// still the user's (Store.SetPassword, expectVersion): a change that
// checked the old password while a reset or another change completed
// (argon2id takes tens of milliseconds, twice here) sets nothing and is
// answered as a wrong current password, since that is what it now is.
// Until 2026-11-29 (later the same day as the password version) it set
// its password unconditionally: someone holding a stolen session and the
// old password who started a change just before the owner's reset
// completed set their password after it, owned the account again, and
// undid the reset silently
// (TestAChangeThatCheckedTheOldPasswordDoesNotUndoAReset).
func (s *Service) ChangePassword(ctx context.Context, req PasswordChange) error {
	p, u, err := s.user(ctx)
	if err != nil {
		return err
	}
	// Wrong current passwords back off as failed logins do, per user:
	// without it a stolen session guessed the password here without limit
	// (and the right guess changed it). While backing off, the right
	// password gets the same 429. The count is in the store, for every
	// process (failures.go).
	key, now := "password:"+u.ID, s.clock()
	failed, wait, err := s.failureWait(ctx, key, s.throttle.limits.FailuresFree, now)
	if err != nil {
		return err
	}
	if wait > 0 {
		return rateLimited(wait, "too many wrong passwords; wait before trying again")
	}
	if len(req.CurrentPassword) > PasswordBytesMax {
		if err := s.recordFailure(ctx, key, now); err != nil {
			return err
		}
		return pw.FieldErrorf("current_password", pw.EFORBIDDEN, "the current password is wrong")
	}
	ok, err := s.checkPassword(ctx, u.PasswordHash, req.CurrentPassword)
	if pw.ErrorCode(err) == pw.EBUSY {
		return err // not a wrong password: no hash was checked
	}
	if err != nil || !ok {
		if err := s.recordFailure(ctx, key, now); err != nil {
			return err
		}
		_ = s.Audit(ctx, "password.change_failure", u.ID, nil)
		return pw.FieldErrorf("current_password", pw.EFORBIDDEN, "the current password is wrong")
	}
	if err := s.resetFailures(ctx, key, failed); err != nil {
		return err
	}
	hash, err := s.newPasswordHash(ctx, u, req.NewPassword, "new_password")
	if err != nil {
		return err
	}
	err = s.replacePassword(ctx, u.ID, u.PasswordVersion, hash, p.Session, EndedByPasswordChange)
	if errors.Is(err, ErrPasswordReplaced) {
		// A reset or change set a new password after u was read: the
		// current password checked is no longer the password. Nothing was
		// written; no "password.change" record and no notice, for no change
		// was made. Not counted as a wrong password (it was right when it
		// was checked), but recorded, as a wrong one is: a change that lost
		// to a reset is what an intruder with the old password looks like.
		_ = s.Audit(ctx, "password.change_failure", u.ID, map[string]string{"reason": "password_replaced"})
		return pw.FieldErrorf("current_password", pw.EFORBIDDEN, "the current password is wrong")
	}
	if err != nil {
		return err
	}
	if err := s.Audit(ctx, "password.change", u.ID, nil); err != nil {
		return err
	}
	return s.notify(ctx, u.Handle, "Your peakwallet password was changed",
		"Your password was just changed and your other sessions were ended. If this was not you, reset your password now.")
}

// newPasswordHash checks password against the policy for u and hashes
// it: what can refuse a new password, done before anything is written.
func (s *Service) newPasswordHash(ctx context.Context, u *User, password, field string) (string, error) {
	if err := CheckPasswordPolicy(password, u.Handle); err != nil {
		if e, ok := err.(*pw.Error); ok {
			e.Field = field
		}
		return "", err
	}
	return s.hashPassword(ctx, password)
}

// replacePassword sets the user's new password hash and ends their
// sessions but keep, for the reason endedBy, in one store transaction
// (Store.SetPassword), while the user's password version is still
// expectVersion (a change: the version read with the password it
// checked) or whatever it is (AnyPasswordVersion: a reset).
//
// A reset also ends the sessions first, in a store call of its own: its
// token is spent by then, so a failure to set the password must still
// leave the sessions ended (safe; the user asks for another token), never
// an intruder's session live, as until 2026-11-29, when the password was
// set first and a failure after it left the sessions live. A change does
// not: its ending of the sessions is decided with its version check, in
// SetPassword's transaction, for a change that lost to a reset must
// leave the owner's sessions (those opened after the reset) untouched;
// until 2026-11-29 it ended them before it set its password. A failed
// change leaves the caller their session and their password, to try again.
//
// SetPassword ends the sessions in its own transaction, with the new hash
// and the new password version: a login that checked the old password
// and stored its session before is ended there, and one that stores it
// after SetPassword is refused by the store (CreateSession,
// ErrPasswordReplaced). Until 2026-11-29 (later the same day) the second
// end was a store call of its own after SetPassword, and a login that
// read the old hash before it and stored its session after it kept a
// live session after the reset meant to end them all
// (TestALoginThatCheckedTheOldPasswordKeepsNoSession).
func (s *Service) replacePassword(ctx context.Context, userID string, expectVersion int64, hash, keep, endedBy string) error {
	if expectVersion == AnyPasswordVersion {
		err := s.store.RevokeSessions(ctx, userID, keep, endedBy, s.clock())
		s.auths.revoked() // whatever the store answered: it may have committed
		if err != nil {
			return err
		}
	}
	err := s.store.SetPassword(ctx, userID, expectVersion, hash, keep, endedBy, s.clock())
	s.auths.revoked()
	return err
}

// ResetRequest is POST /v1/password-resets.
type ResetRequest struct {
	Handle string `json:"handle"`
}

// ResetMessagesPerHour is how many reset messages a handle is sent in a
// clock hour (UTC), whoever asks: the per-address rate limit alone let
// someone rotating addresses flood a user's inbox (each message also a
// live token). Counted in the store (failures.go, resetKey), for every
// process; requests over it are answered as any other.
const ResetMessagesPerHour = 3

// resetKey is the failures key counting reset requests for handle in
// now's clock hour: a keyed hash, as ghostKey's, for a user's handle and
// an unknown one alike, so both take the same write and the table does
// not collect the handles tried. One key an hour: RecordFailure restarts
// a count only after FailuresForget, far longer than the hour.
func (s *Service) resetKey(handle string, now time.Time) string {
	return "reset:" + s.keyedHash(handle) + ":" + now.Truncate(time.Hour).Format("2006010215")
}

// RequestReset sends a reset link to the handle, if it is a user's. The
// answer is the same either way, so that it reveals no handle: the same
// body, and as far as the store allows the same work: a user's handle and
// an unknown one are read and counted (resetKey) alike, and the message
// is queued, not sent (the delivery loop sends it), so a slow sender does
// not slow the answer. What still differs is a user's token and message,
// two small writes. Past ResetMessagesPerHour the handle is sent nothing,
// and no token is made; the answer is still the same.
func (s *Service) RequestReset(ctx context.Context, req ResetRequest) error {
	now := s.clock()
	if ok, wait := s.throttle.allow("otp:"+throttleAddress(ClientAddress(ctx)), s.throttle.limits.OTPBurst, s.throttle.limits.OTPEvery, now); !ok {
		return rateLimited(wait, "too many reset requests from this address; try again later")
	}
	handle, err := ParseHandle(req.Handle)
	if err != nil {
		return err
	}
	u, err := s.store.UserByHandle(ctx, handle)
	if err != nil && pw.ErrorCode(err) != pw.ENOTFOUND {
		return err
	}
	// Counted before anything is made, and decided on the count the
	// store returns: requests at once, in any process, send at most
	// ResetMessagesPerHour.
	asked, err := s.store.RecordFailure(ctx, s.resetKey(handle, now), now, now.Add(-FailuresForget), failuresSweepMax)
	if err != nil {
		return err
	}
	detail := map[string]string{}
	if asked > ResetMessagesPerHour {
		detail["limited"] = "true"
	}
	if u == nil {
		detail["known"] = "false"
		return s.Audit(ctx, "password.reset_request", s.handleTarget(handle), detail)
	}
	if asked > ResetMessagesPerHour {
		return s.Audit(ctx, "password.reset_request", u.ID, detail)
	}
	token := NewToken(PrefixResetToken)
	if err := s.store.CreateResetToken(ctx, HashToken(token), u.ID, now.Add(ResetTokenTTL)); err != nil {
		return err
	}
	if err := s.queue(ctx, u.Handle, "Reset your peakwallet password",
		"Use this token within 30 minutes to choose a new password (POST /v1/password-resets/confirm):\n\n"+token+
			"\n\nIf you did not ask for this, ignore this message: your password is unchanged. Only the newest token works."); err != nil {
		return err
	}
	return s.Audit(ctx, "password.reset_request", u.ID, nil)
}

// ResetConfirm is POST /v1/password-resets/confirm.
type ResetConfirm struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

// ConfirmReset sets a new password with a reset token and ends every session.
func (s *Service) ConfirmReset(ctx context.Context, req ResetConfirm) error {
	if p, err := ParseToken(req.Token); err != nil || p != PrefixResetToken {
		return pw.FieldErrorf("token", pw.EUNAUTHORIZED, "the reset token is invalid or expired")
	}
	// The policy is checked before the token is used up, so that a weak
	// choice can be corrected with the same token.
	if err := CheckPasswordPolicy(req.NewPassword, ""); err != nil {
		return err
	}
	userID, err := s.store.UseResetToken(ctx, HashToken(req.Token), s.clock())
	if pw.ErrorCode(err) == pw.ENOTFOUND {
		return pw.FieldErrorf("token", pw.EUNAUTHORIZED, "the reset token is invalid or expired")
	}
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	hash, err := s.newPasswordHash(ctx, u, req.NewPassword, "new_password")
	if err != nil {
		return err
	}
	// Unconditional (AnyPasswordVersion): the proof of a reset is its
	// token, single use, sent to the handle and spent above, not a
	// password read, so there is no version of its own to check. Nor the
	// version when the token was issued: any new password set since then
	// deleted the token (SetPassword), so it could not be used; and one
	// set between its use and here (a change that checked the old
	// password in the argon2 gap) must lose to the reset, which is how the
	// owner takes the account back, not make the reset fail with its
	// token spent. A change racing a reset is refused instead
	// (ChangePassword).
	if err := s.replacePassword(ctx, u.ID, AnyPasswordVersion, hash, "", EndedByPasswordReset); err != nil {
		return err
	}
	if err := s.store.ResetLoginFailures(ctx, u.ID); err != nil {
		return err
	}
	return s.Audit(pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID}), "password.reset", u.ID, nil)
}
