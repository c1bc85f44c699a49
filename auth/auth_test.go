package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery staple", auth.Argon2Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry OWASP's parameters", h)
	}
	for pass, want := range map[string]bool{"correct horse battery staple": true, "correct horse battery stapl": false, "": false} {
		if ok, err := auth.CheckPassword(h, pass); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v", pass, ok, err)
		}
	}
	// NFKC: the same password typed as a composed or decomposed é matches.
	h2, _ := auth.HashPassword("caf\u00e9 au lait!", auth.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if ok, _ := auth.CheckPassword(h2, "cafe\u0301 au lait!"); !ok {
		t.Error("decomposed é did not match")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5"} {
		if ok, err := auth.CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pass, want := range map[string]string{
		"short":                      pw.EWEAKPASSWORD,
		"password":                   pw.EWEAKPASSWORD, // common
		"PASSWORD1":                  pw.EWEAKPASSWORD, // common, case-insensitively
		"baseball":                   pw.EWEAKPASSWORD,
		"ann@example.com":            pw.EWEAKPASSWORD, // the handle
		"anne.smith":                 "",               // no composition rules
		"ééééééééé":                  "",
		"correct horse battery":      "",
		strings.Repeat("x", 257):     pw.EWEAKPASSWORD,
		"with a nul \x00 inside it!": pw.EWEAKPASSWORD,
	} {
		err := auth.CheckPasswordPolicy(pass, "ann@example.com")
		if pw.ErrorCode(err) != want && !(want == "" && err == nil) {
			t.Errorf("%.20q: %v, want %q", pass, err, want)
		}
	}
	if !auth.IsCommonPassword("iloveyou") && !auth.IsCommonPassword("12345678") {
		t.Error("the common-password list is empty")
	}
}

func TestParseHandle(t *testing.T) {
	for in, want := range map[string]string{
		"Ann@Example.COM":    "ann@example.com",
		" ann@example.com ":  "ann@example.com",
		"+49 (151) 234-5678": "+491512345678",
		"+4915123456789":     "+4915123456789",
		"ann":                "", "ann@": "", "@example.com": "", "ann@example": "", "a@b@example.com": "",
		"ann@.example.com": "", "ann@example..com": "", "+0123456789": "", "+12": "", "+1234567890123456": "",
		"ann smith@example.com": "", "<ann>@example.com": "", "+49 151 x": "",
	} {
		got, err := auth.ParseHandle(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseHandle(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestTokens(t *testing.T) {
	for _, p := range []string{auth.PrefixSessionToken, auth.PrefixMerchantKey, auth.PrefixOperatorKey, auth.PrefixResetToken} {
		tok := auth.NewToken(p)
		if got, err := auth.ParseToken(tok); err != nil || got != p {
			t.Errorf("ParseToken(%s) = %q, %v", tok, got, err)
		}
		if _, err := auth.ParseToken(tok + "A"); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			t.Errorf("a longer token parsed: %v", err)
		}
		if auth.NewToken(p) == tok || len(auth.HashToken(tok)) != 64 {
			t.Error("tokens repeat or hash oddly")
		}
	}
}

func TestParseMFACode(t *testing.T) {
	for in, kind := range map[string]string{
		"123456": auth.CodeDigits, " 123 456 ": auth.CodeDigits, "ABCD-EFGH-2345-67AB": auth.CodeRecovery,
		"12345": "", "1234567": "", "abcd-efgh-1111-abcd": "", "": "", "12345x": "",
	} {
		_, got, err := auth.ParseMFACode(in)
		if got != kind || (kind == "") != (err != nil) {
			t.Errorf("ParseMFACode(%q) = %q, %v; want %q", in, got, err, kind)
		}
	}
}

func TestChainHash(t *testing.T) {
	r := &auth.AuditRecord{Seq: 1, At: time.Unix(1e9, 123456789), Actor: "user:usr_1", Action: "login.success", Detail: map[string]string{"b": "2", "a": "1"}}
	h := auth.ChainHash(auth.GenesisHash, r)
	r.At = r.At.Truncate(time.Microsecond) // stores keep microseconds; the hash already did
	if auth.ChainHash(auth.GenesisHash, r) != h {
		t.Fatal("hash depends on sub-microsecond time")
	}
	r.Detail["a"] = "x"
	if auth.ChainHash(auth.GenesisHash, r) == h {
		t.Fatal("hash ignores the detail")
	}
	if auth.ChainHash(strings.Repeat("1", 64), r) == auth.ChainHash(auth.GenesisHash, r) {
		t.Fatal("hash ignores the previous hash")
	}
}

// TestSealedSecrets: with a secret key, the TOTP secret in the store is
// sealed, and enrolment still works end to end.
func TestSealedSecrets(t *testing.T) {
	st := newMemStore(t)
	key := make([]byte, auth.SecretKeyBytes)
	key[0] = 7
	now := time.Unix(1.9e9, 0)
	svc := auth.New(st, nil, auth.Options{SecretKey: key, Now: func() time.Time { return now }, Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	ctx := t.Context()
	u, err := svc.SignUp(ctx, auth.SignUp{Handle: "s@example.com", Password: "sealed secrets here"})
	if err != nil {
		t.Fatal(err)
	}
	ctx = pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
	en, err := svc.EnrollTOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.MFA(ctx, u.ID)
	if strings.Contains(m.Secret, en.Secret) || !strings.HasPrefix(m.Secret, "sealed1:") {
		t.Fatalf("stored secret %q is not sealed", m.Secret)
	}
	code, _ := totp.GenerateCode(en.Secret, now)
	if _, err := svc.ConfirmTOTP(ctx, auth.MFAConfirm{Code: code}); err != nil {
		t.Fatalf("confirm with a sealed secret: %v", err)
	}
	other := auth.New(st, nil, auth.Options{SecretKey: make([]byte, auth.SecretKeyBytes), Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	if _, err := other.Login(t.Context(), auth.Login{Handle: "s@example.com", Password: "sealed secrets here"}); pw.ErrorCode(err) != pw.EINTERNAL {
		t.Fatalf("login under the wrong key: %v, want internal (the secret cannot be opened)", err)
	}
}

// enrolRacingStore runs enrol just before a confirmation reaches the
// store, as a second enrolment (another tab, or someone holding one of the
// user's sessions) landing between a code's check and its confirmation.
type enrolRacingStore struct {
	auth.Store
	enrol func()
}

func (s *enrolRacingStore) ConfirmMFA(ctx context.Context, userID, secret string, at time.Time, hashes []string) (bool, error) {
	if s.enrol != nil {
		enrol := s.enrol
		s.enrol = nil
		enrol()
	}
	return s.Store.ConfirmMFA(ctx, userID, secret, at, hashes)
}

// TestAnEnrolmentReplacedWhileItsCodeIsCheckedIsNotConfirmed: a code is
// checked against the enrolment read at the start of the confirmation; an
// enrolment started meanwhile replaces the secret. Until 2026-11-29 the
// confirmation then turned on the new secret, one the user never saw (a
// second factor they cannot answer, or one chosen by whoever started it).
// Now the confirmation is refused and the newest enrolment stays
// unconfirmed, to be confirmed with a code from it.
func TestAnEnrolmentReplacedWhileItsCodeIsCheckedIsNotConfirmed(t *testing.T) {
	st := &enrolRacingStore{Store: newMemStore(t)}
	now := time.Unix(1.9e9, 0)
	svc := auth.New(st, nil, auth.Options{Now: func() time.Time { return now }, Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	ctx := t.Context()
	u, err := svc.SignUp(ctx, auth.SignUp{Handle: "race@example.com", Password: "racing enrolments here"})
	if err != nil {
		t.Fatal(err)
	}
	ctx = pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
	first, err := svc.EnrollTOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var second *auth.Enrollment
	st.enrol = func() {
		if second, err = svc.EnrollTOTP(ctx); err != nil {
			t.Error(err)
		}
	}
	code, _ := totp.GenerateCode(first.Secret, now)
	if _, err := svc.ConfirmTOTP(ctx, auth.MFAConfirm{Code: code}); pw.ErrorCode(err) != pw.EFORBIDDEN {
		t.Fatalf("confirming the first enrolment after a second replaced it: %v, want forbidden", err)
	}
	if m, err := st.MFA(ctx, u.ID); err != nil || m.Confirmed() {
		t.Fatalf("after the refused confirmation: %+v, %v; want the second enrolment unconfirmed", m, err)
	}
	code, _ = totp.GenerateCode(second.Secret, now.Add(30*time.Second))
	now = now.Add(30 * time.Second)
	if _, err := svc.ConfirmTOTP(ctx, auth.MFAConfirm{Code: code}); err != nil {
		t.Fatalf("confirming the newest enrolment with its own code: %v", err)
	}
}
