package http_test

import (
	"strconv"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestAResetTokenDoesNotOutliveANewPassword: a password set by a reset or
// a change ends every reset token still outstanding. Before, a second
// token asked for (by the user twice, or by an intruder with the mailbox)
// still reset the password after the first had been used, and one issued
// before a password change still took the account back.
func TestAResetTokenDoesNotOutliveANewPassword(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "reset@example.com", 0)
	first := e.MustResetToken(t, a.Handle)
	second := e.MustResetToken(t, a.Handle)
	e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+first+`","new_password":"a brand new passphrase"}`).Want(t, 204, "")
	e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+second+`","new_password":"the intruder's passphrase"}`).Want(t, 401, pw.EUNAUTHORIZED)

	a.Password = "a brand new passphrase"
	e.MustLogin(t, a, "")
	third := e.MustResetToken(t, a.Handle)
	e.Do(t, "POST", "/v1/me/password", a.Token, `{"current_password":"a brand new passphrase","new_password":"yet another passphrase"}`).Want(t, 204, "")
	e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+third+`","new_password":"the intruder's passphrase"}`).Want(t, 401, pw.EUNAUTHORIZED)
	a.Password = "yet another passphrase"
	e.MustLogin(t, a, "")
}

// TestALockedHandleAndAnUnknownOneAnswerAlike: LockAfter failures from
// many addresses lock a user's handle (429 to a new address); the same
// failures on a handle no one has must answer the same, or the lock tells
// which handles exist (docs/security.md: login does not reveal them).
func TestALockedHandleAndAnUnknownOneAnswerAlike(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	e.MustPerson(t, "known@example.com", 0)
	answers := map[string]string{}
	for _, handle := range []string{"known@example.com", "ghost@example.com"} {
		for i := 0; i < testLimits.LockAfter; i++ {
			ctx := auth.NewContextWithClientAddress(t.Context(), "198.51.100."+strconv.Itoa(i))
			_, err := e.Auth.Login(ctx, auth.Login{Handle: handle, Password: "wrong guess number " + strconv.Itoa(i)})
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("%s failure %d: %v", handle, i, err)
			}
		}
		for _, mfa := range []string{"", "123456"} {
			ctx := auth.NewContextWithClientAddress(t.Context(), "203.0.113.9")
			_, err := e.Auth.Login(ctx, auth.Login{Handle: handle, Password: "one more wrong guess", MFACode: mfa})
			answers[handle+" mfa="+mfa] = pw.ErrorCode(err) + ": " + pw.ErrorMessage(err)
		}
	}
	for _, mfa := range []string{"", "123456"} {
		known, ghost := answers["known@example.com mfa="+mfa], answers["ghost@example.com mfa="+mfa]
		if known != ghost {
			t.Errorf("mfa_code %q: a locked user's handle answers %q, an unknown handle %q", mfa, known, ghost)
		}
		if !strings.HasPrefix(known, pw.ERATELIMITED) {
			t.Errorf("mfa_code %q: a locked handle answers %q, want rate_limited", mfa, known)
		}
	}
}
