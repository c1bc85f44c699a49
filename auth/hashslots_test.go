package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestPasswordHashesWaitForASlot: a process runs at most PasswordHashesMax
// password hashes at once. A login, a sign-up or a password change that
// finds every slot taken waits for one within its deadline and is then
// answered busy with a Retry-After, not "wrong password": nothing was
// checked, and a client's retry is honest. Once a slot frees, the same
// login goes through. Until 2026-11-29 every request hashed at once: a
// login surge from many addresses took every core from the payments, and
// 19 MiB of memory a login.
func TestPasswordHashesWaitForASlot(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := auth.New(store, nil, auth.Options{PasswordHashesMax: 1, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	ctx := auth.NewContextWithClientAddress(context.Background(), "192.0.2.1")
	if _, err := svc.SignUp(ctx, auth.SignUp{Handle: "ann@example.com", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}

	giveBack := svc.TakePasswordHashSlots()
	for name, call := range map[string]func(context.Context) error{
		"login": func(ctx context.Context) error {
			_, err := svc.Login(ctx, auth.Login{Handle: "ann@example.com", Password: "correct horse battery"})
			return err
		},
		"login of an unknown handle": func(ctx context.Context) error {
			_, err := svc.Login(ctx, auth.Login{Handle: "bob@example.com", Password: "correct horse battery"})
			return err
		},
		"sign-up": func(ctx context.Context) error {
			_, err := svc.SignUp(ctx, auth.SignUp{Handle: "cy@example.com", Password: "correct horse battery"})
			return err
		},
	} {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := call(short)
		cancel()
		var e *pw.Error
		if pw.ErrorCode(err) != pw.EBUSY || !errors.As(err, &e) || e.Retry <= 0 {
			t.Errorf("%s with every hashing slot taken: %v; want busy with a Retry-After", name, err)
		}
	}
	if _, err := store.UserByHandle(ctx, "cy@example.com"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Errorf("the sign-up refused busy made its user: %v", err)
	}

	// A login waiting for a slot gets it when one frees, within its deadline.
	done := make(chan error, 1)
	go func() {
		_, err := svc.Login(ctx, auth.Login{Handle: "ann@example.com", Password: "correct horse battery"})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	giveBack()
	if err := <-done; err != nil {
		t.Fatalf("a login that waited for a slot: %v", err)
	}
}
