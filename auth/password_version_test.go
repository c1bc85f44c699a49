package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// pausingStore holds the first CreateSession it is given, after the
// login's password check, until release is closed: a login slowed by
// argon2 (tens of milliseconds) while a reset or change completes.
type pausingStore struct {
	auth.Store
	paused  chan struct{} // closed when a CreateSession arrives
	release chan struct{}
}

func (p *pausingStore) CreateSession(ctx context.Context, s *auth.Session) error {
	select {
	case <-p.paused:
	default:
		close(p.paused)
		select {
		case <-p.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.Store.CreateSession(ctx, s)
}

// TestALoginThatCheckedTheOldPasswordKeepsNoSession: a login that checked
// the old password and stores its session after a reset (or a change)
// set a new one answers 401, as a wrong password does, and leaves no live
// session but the changing one's. Before, the reset ended the sessions
// before and after setting the password, and a login that read the old
// hash before both and stored its session after them kept it: someone
// who knew the old password and logged in while the owner reset it kept
// a session the reset was meant to end.
func TestALoginThatCheckedTheOldPasswordKeepsNoSession(t *testing.T) {
	const password, newPassword = "correct horse battery staple", "a brand new passphrase"
	for _, how := range []string{"reset", "change"} {
		t.Run(how, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, store auth.Store) {
				ps := &pausingStore{Store: store, paused: make(chan struct{}), release: make(chan struct{})}
				svc, clk := cheapService(ps, nil)
				u, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: "race@example.com", Password: password})
				if err != nil {
					t.Fatal(err)
				}
				close(ps.paused) // the owner's own login is not held
				owner, err := svc.Login(from(t, 1), auth.Login{Handle: u.Handle, Password: password})
				if err != nil {
					t.Fatal(err)
				}
				ps.paused = make(chan struct{})

				intruder := make(chan error, 1)
				go func() {
					_, err := svc.Login(from(t, 66), auth.Login{Handle: u.Handle, Password: password})
					intruder <- err
				}()
				select {
				case <-ps.paused:
				case err := <-intruder:
					t.Fatalf("the intruder's login did not reach CreateSession: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatal("the intruder's login did not reach CreateSession in 10 s")
				}
				err = ownerReplacesThePassword(t, svc, store, u, how, owner.ID, password, newPassword)
				if err != nil {
					t.Fatal(err)
				}
				close(ps.release)
				if err := <-intruder; pw.ErrorCode(err) != pw.EUNAUTHORIZED {
					t.Errorf("a login that checked the old password, after the %s: %v, want unauthorized", how, err)
				}
				live, err := store.Sessions(t.Context(), u.ID, clk.now(), auth.SessionsListMax)
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				if how == "change" {
					want = 1 // the owner's, which changed it
				}
				if len(live) != want || (want == 1 && live[0].ID != owner.ID) {
					t.Errorf("after the %s: %d live sessions %v, want %d (the intruder's ended or never stored)", how, len(live), live, want)
				}
				if _, err := svc.Login(from(t, 2), auth.Login{Handle: u.Handle, Password: newPassword}); err != nil {
					t.Errorf("the new password: %v", err)
				}
			})
		})
	}
}

// TestASessionInsertWaitsForANewPasswordInFlight: on PostgreSQL, a
// session inserted while a new password is being set (its transaction
// holds the user's row, not yet committed) waits for it and then finds
// the new version: refused, no row. Without the insert's row lock (FOR
// SHARE) it read the old version from its snapshot and was stored at
// once, so it could commit after the new password and the ending of the
// sessions, and stay live. A transaction holding the row makes the two
// meet there deterministically.
func TestASessionInsertWaitsForANewPasswordInFlight(t *testing.T) {
	store, _, dsn := openPostgresTwice(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &auth.User{ID: pw.NewID(pw.PrefixUser, now), Handle: "inflight@example.com", PasswordHash: "$argon2id$x", CreatedAt: now, StepUpThreshold: 100}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	read, err := store.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	conn, tx := holdingTransaction(t, dsn)
	// SetPassword's first statement, its transaction still open.
	if _, err := tx.Exec(ctx, "UPDATE users SET password_hash = 'new', password_version = password_version + 1 WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	ses := &auth.Session{ID: pw.NewID(pw.PrefixSession, now), UserID: u.ID, TokenHash: "inflight", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		PasswordVersion: read.PasswordVersion}
	go func() { created <- store.CreateSession(ctx, ses) }()
	waitForLockWaiters(t, conn, 1)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-created; !errors.Is(err, auth.ErrPasswordReplaced) {
		t.Fatalf("a session inserted while a new password was set: %v, want ErrPasswordReplaced", err)
	}
	if _, err := store.SessionByHash(ctx, "inflight"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("the refused session reads %v, want not_found", err)
	}
}

// pausingPasswordStore holds the first call that would end sessions or
// set a password (RevokeSessions or SetPassword), after a change's
// password check and hashing, until release is closed: a change slowed
// by argon2 (tens of milliseconds, twice) while a reset or another change
// completes.
type pausingPasswordStore struct {
	auth.Store
	paused  chan struct{} // closed when the first such call arrives
	release chan struct{}
}

func (p *pausingPasswordStore) pause(ctx context.Context) error {
	select {
	case <-p.paused:
		return nil
	default:
		close(p.paused)
	}
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pausingPasswordStore) RevokeSessions(ctx context.Context, userID, keep, endedBy string, at time.Time) error {
	if err := p.pause(ctx); err != nil {
		return err
	}
	return p.Store.RevokeSessions(ctx, userID, keep, endedBy, at)
}

func (p *pausingPasswordStore) SetPassword(ctx context.Context, userID string, expectVersion int64, hash, keep, endedBy string, at time.Time) error {
	if err := p.pause(ctx); err != nil {
		return err
	}
	return p.Store.SetPassword(ctx, userID, expectVersion, hash, keep, endedBy, at)
}

// TestAChangeThatCheckedTheOldPasswordDoesNotUndoAReset: someone with a
// stolen session and the old password whose change checked it just
// before the owner's reset (or the owner's own change) completed sets
// nothing: the change answers 403 on current_password, as a wrong one
// does (not counted as one), the owner's new password stands, the
// intruder's does not log in, the owner's sessions stay live, and no
// "password.change" record nor notice is written for it. Before, the
// change set its password after the reset, unconditionally, and ended
// the owner's sessions: the intruder owned the account again and the
// owner's reset was undone silently.
func TestAChangeThatCheckedTheOldPasswordDoesNotUndoAReset(t *testing.T) {
	const password, ownerPassword, intruderPassword = "correct horse battery staple", "the owner's new passphrase", "the intruder's passphrase"
	const changed = "Your peakwallet password was changed"
	for _, how := range []string{"reset", "change"} {
		t.Run(how, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, store auth.Store) {
				ps := &pausingPasswordStore{Store: store, paused: make(chan struct{}), release: make(chan struct{})}
				close(ps.paused) // nothing is held until the intruder's change
				svc, clk := cheapService(ps, nil)
				u, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: "undo@example.com", Password: password})
				if err != nil {
					t.Fatal(err)
				}
				owner, err := svc.Login(from(t, 1), auth.Login{Handle: u.Handle, Password: password})
				if err != nil {
					t.Fatal(err)
				}
				stolen, err := svc.Login(from(t, 66), auth.Login{Handle: u.Handle, Password: password})
				if err != nil {
					t.Fatal(err)
				}
				ps.paused = make(chan struct{})

				intruder := make(chan error, 1)
				go func() {
					ctx := pw.NewContextWithPrincipal(from(t, 66), pw.Principal{Kind: pw.PrincipalUser, ID: u.ID, Session: stolen.ID})
					intruder <- svc.ChangePassword(ctx, auth.PasswordChange{CurrentPassword: password, NewPassword: intruderPassword})
				}()
				select {
				case <-ps.paused:
				case err := <-intruder:
					t.Fatalf("the intruder's change did not reach the store's write: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatal("the intruder's change did not reach the store's write in 10 s")
				}
				ownerSession := owner.ID // the owner's session that must outlive the intruder's change
				switch how {
				case "reset":
					if err := svc.RequestReset(from(t, 1), auth.ResetRequest{Handle: u.Handle}); err != nil {
						t.Fatal(err)
					}
					msgs := pendingResets(t, store, u.Handle)
					if len(msgs) != 1 {
						t.Fatalf("%d reset messages, want 1", len(msgs))
					}
					if err := svc.ConfirmReset(t.Context(), auth.ResetConfirm{Token: resetTokenIn(t, msgs[0].Body), NewPassword: ownerPassword}); err != nil {
						t.Fatal(err)
					}
					// The reset ended every session: the owner logs in again.
					again, err := svc.Login(from(t, 1), auth.Login{Handle: u.Handle, Password: ownerPassword})
					if err != nil {
						t.Fatal(err)
					}
					ownerSession = again.ID
				case "change":
					me := pw.NewContextWithPrincipal(from(t, 1), pw.Principal{Kind: pw.PrincipalUser, ID: u.ID, Session: owner.ID})
					if err := svc.ChangePassword(me, auth.PasswordChange{CurrentPassword: password, NewPassword: ownerPassword}); err != nil {
						t.Fatal(err)
					}
				}
				before, err := store.UserByID(t.Context(), u.ID)
				if err != nil {
					t.Fatal(err)
				}
				audited := auditActions(t, store)
				close(ps.release)

				err = <-intruder
				if e, ok := err.(*pw.Error); !ok || e.Code != pw.EFORBIDDEN || e.Field != "current_password" {
					t.Errorf("a change that checked the old password, after the %s: %v, want forbidden on current_password", how, err)
				}
				if after, err := store.UserByID(t.Context(), u.ID); err != nil || after.PasswordHash != before.PasswordHash || after.PasswordVersion != before.PasswordVersion {
					t.Errorf("after the refused change: %+v, %v; want the %s's password, version %d", after, err, how, before.PasswordVersion)
				}
				if got, err := store.SessionByID(t.Context(), ownerSession); err != nil || !got.RevokedAt.IsZero() {
					t.Errorf("the owner's session after the refused change: %+v, %v; want live", got, err)
				}
				if n, _, err := store.Failures(t.Context(), "password:"+u.ID, clk.now().Add(-auth.FailuresForget)); err != nil || n != 0 {
					t.Errorf("wrong current passwords counted: %d, %v; want none (it was right when checked)", n, err)
				}
				if got := auditActions(t, store); got["password.change"] != audited["password.change"] {
					t.Errorf("password.change records: %d, were %d before the refused change", got["password.change"], audited["password.change"])
				}
				wantNotices := 0
				if how == "change" {
					wantNotices = 1 // the owner's own
				}
				if n := messagesTo(t, store, u.Handle, changed); n != wantNotices {
					t.Errorf("%d %q notices, want %d", n, changed, wantNotices)
				}
				if _, err := svc.Login(from(t, 2), auth.Login{Handle: u.Handle, Password: ownerPassword}); err != nil {
					t.Errorf("the owner's new password: %v", err)
				}
				if _, err := svc.Login(from(t, 3), auth.Login{Handle: u.Handle, Password: intruderPassword}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
					t.Errorf("the intruder's password: %v, want unauthorized (never set)", err)
				}
			})
		})
	}
}

// auditActions counts the audit log's records by action.
func auditActions(t *testing.T, store auth.Store) map[string]int {
	t.Helper()
	recs, err := store.Audit(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range recs {
		n[r.Action]++
	}
	return n
}

// messagesTo counts the queued messages to handle whose subject is subject.
func messagesTo(t *testing.T, store auth.Store, handle, subject string) int {
	t.Helper()
	list, err := store.Pending(t.Context(), auth.OutboxDeliverMax)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range list {
		if m.To == handle && m.Subject == subject {
			n++
		}
	}
	return n
}
