package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image/png"
	"math/big"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	pw "github.com/peakwallet/peakwallet"
)

// MFA purposes of message codes.
const (
	PurposeLogin  = "login"
	PurposeStepUp = "step_up"
)

// TOTP settings: RFC 6238's defaults, which every authenticator app
// supports. One step of skew either way absorbs clock drift.
const (
	totpPeriod        = 30
	totpSkewSteps     = 1
	RecoveryCodesN    = 10
	recoveryCodeBytes = 10 // 80 bits: SHA-256 at rest is then enough
	qrPixels          = 256
	MFACodeBytesMax   = 64
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrollment answers POST /v1/me/mfa/totp. The secret is shown this once
// (and in the URI and QR image, which carry it).
type Enrollment struct {
	Secret      string `json:"secret"`
	OTPAuthURI  string `json:"otpauth_uri"`
	QRPNGBase64 string `json:"qr_png_base64"`
}

// MFAConfirm is POST /v1/me/mfa/totp/confirm.
type MFAConfirm struct {
	Code string `json:"code"`
}

// RecoveryCodes answers a confirmed enrolment: shown once, stored hashed.
type RecoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Service) mfaOf(ctx context.Context, userID string) (*MFA, error) {
	m, _, err := s.mfaSealed(ctx, userID)
	return m, err
}

// mfaSealed is mfaOf, and the secret as the store holds it (sealed).
func (s *Service) mfaSealed(ctx context.Context, userID string) (*MFA, string, error) {
	m, err := s.store.MFA(ctx, userID)
	if pw.ErrorCode(err) == pw.ENOTFOUND {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	sealed := m.Secret
	if m.Secret, err = s.open(userID, sealed); err != nil {
		return nil, "", err
	}
	return m, sealed, nil
}

// EnrollTOTP starts a TOTP enrolment. A confirmed enrolment cannot be
// replaced this way (that would let a stolen session remove the second
// factor).
func (s *Service) EnrollTOTP(ctx context.Context) (*Enrollment, error) {
	_, u, err := s.user(ctx)
	if err != nil {
		return nil, err
	}
	if m, err := s.mfaOf(ctx, u.ID); err != nil {
		return nil, err
	} else if m.Confirmed() {
		return nil, pw.Errorf(pw.EFORBIDDEN, "TOTP is already enabled")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: u.Handle, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	img, err := key.Image(qrPixels, qrPixels)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	sealed, err := s.seal(u.ID, key.Secret())
	if err != nil {
		return nil, err
	}
	// Stored only while no enrolment is confirmed: one confirmed since the
	// check above (another request) is not replaced, and this secret,
	// never stored, is not shown.
	if stored, err := s.store.SetMFA(ctx, &MFA{UserID: u.ID, Secret: sealed}); err != nil {
		return nil, err
	} else if !stored {
		return nil, pw.Errorf(pw.EFORBIDDEN, "TOTP is already enabled")
	}
	if err := s.Audit(ctx, "mfa.totp_enroll", u.ID, nil); err != nil {
		return nil, err
	}
	return &Enrollment{Secret: key.Secret(), OTPAuthURI: key.URL(), QRPNGBase64: base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// ConfirmTOTP activates the enrolment with a first code and returns
// recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, req MFAConfirm) (*RecoveryCodes, error) {
	_, u, err := s.user(ctx)
	if err != nil {
		return nil, err
	}
	m, sealed, err := s.mfaSealed(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if m == nil || m.Confirmed() {
		return nil, pw.Errorf(pw.EFORBIDDEN, "there is no TOTP enrolment to confirm: POST /v1/me/mfa/totp first")
	}
	if err := s.checkTOTP(ctx, u.ID, m, req.Code); err != nil {
		_ = s.Audit(ctx, "mfa.totp_confirm_failure", u.ID, nil)
		return nil, pw.FieldErrorf("code", pw.EMFAREQUIRED, "the code is not valid")
	}
	out := &RecoveryCodes{RecoveryCodes: make([]string, RecoveryCodesN)}
	hashes := make([]string, RecoveryCodesN)
	for i := range out.RecoveryCodes {
		out.RecoveryCodes[i] = newRecoveryCode()
		hashes[i] = HashToken(out.RecoveryCodes[i])
	}
	// Confirmed only if the enrolment is still the one whose code was
	// checked: an enrolment started meanwhile (another tab, or someone
	// holding a session of the user's) replaced its secret, and confirming
	// that one would turn on a second factor the user never saw.
	if ok, err := s.store.ConfirmMFA(ctx, u.ID, sealed, s.clock(), hashes); err != nil {
		return nil, err
	} else if !ok {
		return nil, pw.Errorf(pw.EFORBIDDEN, "the TOTP enrolment changed while this code was checked (another enrolment was started, or this one confirmed): confirm the newest enrolment with a code from it")
	}
	if err := s.Audit(ctx, "mfa.totp_confirm", u.ID, nil); err != nil {
		return nil, err
	}
	return out, s.notify(ctx, u.Handle, "Two-factor authentication is on",
		"An authenticator app now protects your peakwallet account. If this was not you, contact support.")
}

// newRecoveryCode is 80 random bits as xxxx-xxxx-xxxx-xxxx (base32).
func newRecoveryCode() string {
	b := make([]byte, recoveryCodeBytes)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// MFA code kinds, as ParseMFACode tells them apart.
const (
	CodeDigits   = "digits"   // a TOTP or message code: 6 digits
	CodeRecovery = "recovery" // xxxx-xxxx-xxxx-xxxx
)

// ParseMFACode normalizes a code typed by a person (spaces dropped,
// lower-cased) and says which kind it is.
func ParseMFACode(s string) (code, kind string, err error) {
	bad := pw.Errorf(pw.EMFAREQUIRED, "the MFA code is not valid")
	if len(s) > MFACodeBytesMax {
		return "", "", bad
	}
	c := strings.ToLower(strings.Join(strings.Fields(s), ""))
	if len(c) == 6 && strings.Trim(c, "0123456789") == "" {
		return c, CodeDigits, nil
	}
	if len(c) == 19 && c[4] == '-' && c[9] == '-' && c[14] == '-' {
		raw := strings.ReplaceAll(c, "-", "")
		if strings.Trim(raw, "abcdefghijklmnopqrstuvwxyz234567") == "" {
			return c, CodeRecovery, nil
		}
	}
	return "", "", bad
}

// checkTOTP accepts a code of the current step (± skew) that is later
// than the last one used: a code works once, even within its 30 seconds.
func (s *Service) checkTOTP(ctx context.Context, userID string, m *MFA, code string) error {
	bad := pw.Errorf(pw.EMFAREQUIRED, "the MFA code is not valid")
	now := s.clock()
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkewSteps); d <= totpSkewSteps; d++ {
		want, err := totp.GenerateCodeCustom(m.Secret, time.Unix((step+d)*totpPeriod, 0), totpOpts)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		fresh, err := s.store.UseTOTPStep(ctx, userID, step+d)
		if err != nil {
			return err
		}
		if !fresh {
			return pw.Errorf(pw.EMFAREQUIRED, "this code was already used; wait for the next one")
		}
		return nil
	}
	return bad
}

// checkMFA verifies any second factor the user has: a TOTP code, a
// recovery code, or a message code sent for purpose and bound to link
// (otpHash; "" for a login code). Wrong codes back off like failed logins,
// per user, so a code cannot be guessed; the count is in the store, for
// every process (failures.go): one read per check.
func (s *Service) checkMFA(ctx context.Context, u *User, m *MFA, raw, purpose, link string) error {
	now := s.clock()
	key := "mfa:" + u.ID
	failed, wait, err := s.failureWait(ctx, key, s.throttle.limits.FailuresFree, now)
	if err != nil {
		return err
	}
	if wait > 0 {
		return rateLimited(wait, "too many wrong codes; wait before trying again")
	}
	if bad := s.verifyCode(ctx, u, m, raw, purpose, link); bad != nil {
		if err := s.recordFailure(ctx, key, now); err != nil {
			return err
		}
		_ = s.Audit(ctx, "mfa.failure", u.ID, map[string]string{"purpose": purpose})
		return bad
	}
	if err := s.resetFailures(ctx, key, failed); err != nil {
		return err
	}
	return s.Audit(ctx, "mfa.success", u.ID, map[string]string{"purpose": purpose})
}

func (s *Service) verifyCode(ctx context.Context, u *User, m *MFA, raw, purpose, link string) error {
	code, kind, err := ParseMFACode(raw)
	if err != nil {
		return err
	}
	switch kind {
	case CodeRecovery:
		if !m.Confirmed() {
			return pw.Errorf(pw.EMFAREQUIRED, "the MFA code is not valid")
		}
		ok, err := s.store.UseRecoveryCode(ctx, u.ID, HashToken(code), s.clock())
		if err != nil {
			return err
		}
		if !ok {
			return pw.Errorf(pw.EMFAREQUIRED, "the MFA code is not valid")
		}
		return s.Audit(ctx, "mfa.recovery_code_used", u.ID, nil)
	default:
		if m.Confirmed() {
			if err := s.checkTOTP(ctx, u.ID, m, code); err == nil || pw.ErrorCode(err) != pw.EMFAREQUIRED {
				return err
			}
		}
		ok, err := s.store.UseOTP(ctx, u.ID, purpose, s.otpHash(u.ID, link, code), s.clock())
		if err != nil {
			return err
		}
		if !ok {
			return pw.Errorf(pw.EMFAREQUIRED, "the MFA code is not valid")
		}
		return nil
	}
}

// SendOTP sends a login code by message (rate limited per user): the
// fallback for a user without their authenticator app at hand.
func (s *Service) SendOTP(ctx context.Context, u *User) error {
	return s.sendOTP(ctx, u, PurposeLogin, "", func(code string) string {
		return "Your code is " + code + ". It expires in 10 minutes. Never share it: peakwallet staff will never ask for it."
	})
}

// sendOTP sends a one-time code for purpose, bound to link (otpHash), in
// the message body(code), rate limited per user.
func (s *Service) sendOTP(ctx context.Context, u *User, purpose, link string, body func(code string) string) error {
	now := s.clock()
	l := s.throttle.limits
	if ok, wait := s.throttle.allow("otp:"+u.ID, l.OTPBurst, l.OTPEvery, now); !ok {
		return rateLimited(wait, "too many codes sent; wait before asking for another")
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	// The user's ID salts the hash, and a step-up code's payment keys it:
	// a million codes are too few to store bare, and they live OTPTTL at
	// most.
	o := &OTP{ID: pw.NewID("otp", now), UserID: u.ID, Purpose: purpose, CodeHash: s.otpHash(u.ID, link, code),
		ExpiresAt: now.Add(OTPTTL), CreatedAt: now}
	if err := s.store.CreateOTP(ctx, o); err != nil {
		return err
	}
	if err := s.Audit(ctx, "mfa.otp_send", u.ID, map[string]string{"purpose": purpose}); err != nil {
		return err
	}
	return s.notify(ctx, u.Handle, "Your peakwallet code", body(code))
}

// SendMyOTP was POST /v1/me/mfa/otp: a step-up code by message. A step-up
// code is bound to the payment it authorizes (stepUpPayment), and this
// request names none: since 2026-11-29 it is refused, and the code comes
// with the payment's challenge (to users without TOTP; users with TOTP
// answer with a recovery code when their app is not at hand).
func (s *Service) SendMyOTP(ctx context.Context) error {
	if _, _, err := s.user(ctx); err != nil {
		return err
	}
	return pw.Errorf(pw.EFORBIDDEN, "a step-up code by message is bound to its payment and comes with the payment's challenge: "+
		"repeat the payment without MFA-Code to be sent one (users without an authenticator app), or answer with a recovery code")
}
