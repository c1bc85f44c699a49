package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
				switch how {
				case "reset":
					if err := svc.RequestReset(from(t, 1), auth.ResetRequest{Handle: u.Handle}); err != nil {
						t.Fatal(err)
					}
					msgs := pendingResets(t, store, u.Handle)
					if len(msgs) != 1 {
						t.Fatalf("%d reset messages, want 1", len(msgs))
					}
					err = svc.ConfirmReset(t.Context(), auth.ResetConfirm{Token: resetTokenIn(t, msgs[0].Body), NewPassword: newPassword})
				case "change":
					me := pw.NewContextWithPrincipal(from(t, 1), pw.Principal{Kind: pw.PrincipalUser, ID: u.ID, Session: owner.ID})
					err = svc.ChangePassword(me, auth.PasswordChange{CurrentPassword: password, NewPassword: newPassword})
				}
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
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
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
