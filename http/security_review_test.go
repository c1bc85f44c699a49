package http_test

import (
	"testing"

	pw "github.com/peakwallet/peakwallet"
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
