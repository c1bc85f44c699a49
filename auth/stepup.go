package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"

	pw "github.com/peakwallet/peakwallet"
)

// Challenge is the cause of a step-up's mfa_required: the client shows it
// (challenge_id, how to answer) and repeats the request with MFA-Code.
type Challenge struct {
	ID      string   `json:"challenge_id"`
	Methods []string `json:"mfa_methods"` // "totp", "recovery_code", "message"
}

func (c *Challenge) Error() string { return "step-up challenge " + c.ID }

// ProblemExtra is shown in the problem document beside the standard members.
func (c *Challenge) ProblemExtra() map[string]any {
	return map[string]any{"challenge_id": c.ID, "mfa_methods": c.Methods}
}

// Kinds of payment a step-up authorizes, as its message names them.
const (
	stepUpTransfer = "transfer"
	stepUpHold     = "hold"
	stepUpRefund   = "refund"
)

// stepUpPayment is what a step-up authorizes. A message code is sent for
// one and bound to it (PSD2 RTS Art. 5, dynamic linking): its stored hash
// is keyed with the kind, the accounts, the amount, the currency and the
// principal's Idempotency-Key, so that the code is accepted for that
// payment alone, and its message names the amount and the payee.
type stepUpPayment struct {
	Kind     string
	From     string // the account paid from
	To       string // the account paid (a handle resolved)
	Payee    string // the payee as the message names it: the handle the request named, or To
	Amount   int64
	Currency pw.Currency
}

// link is p's canonical encoding under the principal's Idempotency-Key
// (from ctx): each field length-prefixed, so that no two payments encode
// alike.
func (p stepUpPayment) link(ctx context.Context) string {
	return string(appendFields(nil, p.Kind, p.From, p.To, strconv.FormatInt(p.Amount, 10), string(p.Currency), paymentKeyFrom(ctx)))
}

// appendFields appends each field to b length-prefixed (a uvarint), so
// that no two lists of fields encode alike.
func appendFields(b []byte, fields ...string) []byte {
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// text says what p is in the message that carries its code.
func (p stepUpPayment) text() string {
	m := pw.Money{Amount: p.Amount, Currency: p.Currency}.String()
	switch p.Kind {
	case stepUpHold:
		return "a reservation (hold) of " + m + " for " + p.Payee
	case stepUpRefund:
		return "a refund of " + m + " to " + p.Payee
	}
	return "a payment of " + m + " to " + p.Payee
}

// requireStepUp lets a user's payment through when its amount is within its
// currency's threshold (stepUpThreshold: about 100 EUR worth, or the
// operator's; until 2026-11-29 one figure of minor units for every
// currency, 100.00 EUR but 10,000 JPY, 100.00 IDR), or when the request carries a valid MFA code; otherwise it
// answers mfa_required with a challenge, sending a message code, bound to
// pay, to users without TOTP. It runs inside the idempotent request but
// before the ledger, so a challenge commits nothing: the claim is released
// and the same Idempotency-Key, repeated with MFA-Code, pays exactly once.
//
// A message code is accepted only for the payment it was sent for: a code
// repeated with another amount, payee, account, currency or key is refused
// as an invalid code (a new challenge, no message sent), counted against
// the code's attempts and the user's MFA back-off as any wrong code, and
// not spent: its own payment still takes it
// (TestAMessageCodeAuthorizesOnlyItsOwnPayment). Until 2026-11-29 a code
// was good for any payment of its user while it lived.
func (s *Service) requireStepUp(ctx context.Context, p pw.Principal, pay stepUpPayment) error {
	if p.Kind != pw.PrincipalUser || pay.Amount <= s.stepUpThreshold(pay.Currency) {
		return nil
	}
	u, err := s.store.UserByID(ctx, p.ID)
	if err != nil {
		return err
	}
	if f, _ := ctx.Value(beforeStepUpKey{}).(func(context.Context) error); f != nil {
		if err := f(ctx); err != nil {
			return err
		}
	}
	m, err := s.mfaOf(ctx, u.ID)
	if err != nil {
		return err
	}
	link := pay.link(ctx)
	code := mfaCodeFrom(ctx)
	if code != "" {
		err := s.checkMFA(ctx, u, m, code, PurposeStepUp, link)
		if err == nil || pw.ErrorCode(err) != pw.EMFAREQUIRED {
			return err
		}
		return s.challenge(ctx, u, m, nil, "", "the MFA code is not valid for this payment; repeat the request with a valid MFA-Code header")
	}
	return s.challenge(ctx, u, m, &pay, link, "this payment needs a second factor: repeat the same request (same Idempotency-Key) with the header MFA-Code")
}

// challenge answers mfa_required; to a user without TOTP it first sends a
// message code bound to send (nil: none is sent, as after a wrong code).
// A user with TOTP is offered no message code: one must be bound to a
// payment, and POST /v1/me/mfa/otp names none (since 2026-11-29).
func (s *Service) challenge(ctx context.Context, u *User, m *MFA, send *stepUpPayment, link, msg string) error {
	c := &Challenge{ID: pw.NewID(pw.PrefixChallenge, s.clock())}
	if m.Confirmed() {
		c.Methods = []string{"totp", "recovery_code"}
	} else {
		c.Methods = []string{"message"}
		if send != nil {
			// Without an authenticator app the code comes by message; a
			// rate limit here is the answer (the user has codes pending).
			what := send.text()
			err := s.sendOTP(ctx, u, PurposeStepUp, link, func(code string) string {
				return "Your code is " + code + ". It authorizes " + what + ", and nothing else: do not enter it for anything else. " +
					"It expires in 10 minutes. Never share it: peakwallet staff will never ask for it."
			})
			if err != nil {
				return err
			}
		}
	}
	if err := s.Audit(ctx, "mfa.challenge", u.ID, map[string]string{"challenge": c.ID}); err != nil {
		return err
	}
	return &pw.Error{Code: pw.EMFAREQUIRED, Message: msg, Err: c}
}

// otpHash is the stored hash of a message code of userID. A code bound to
// nothing (link "", a login code) is salted with the user's ID. A step-up
// code's hash is keyed (HMAC-SHA256 under a key derived from
// Options.SecretKey, or a fixed one without it) over the user's ID, the
// payment's link and the code: a code offered for another payment hashes
// otherwise and does not match, and a stolen database alone tells neither
// the codes nor what they were for.
func (s *Service) otpHash(userID, link, code string) string {
	if link == "" {
		return HashToken(userID + ":" + code)
	}
	mac := hmac.New(sha256.New, s.linkKey)
	mac.Write(appendFields(nil, userID, link, code))
	return hex.EncodeToString(mac.Sum(nil))
}

// linkKeyOf derives the key of step-up codes' hashes from secret (nil:
// the fixed key of tests and of servers without a secret key).
func linkKeyOf(secret []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("peakwallet: step-up codes bound to their payment"))
	return mac.Sum(nil)
}

type beforeStepUpKey struct{}

// NewContextBeforeStepUp returns ctx carrying f, which a payment that
// needs a step-up runs before its MFA code is checked or a challenge is
// made: an error from f is the check's answer, and nothing else is done
// (no code is spent, no back-off fed, no message sent). The surge queue
// checks a payment before it looks at the payment's key, and uses f to
// answer a retry of a step-up payment already made with its replay, as the
// synchronous path does by claiming the key before the Guard runs.
func NewContextBeforeStepUp(ctx context.Context, f func(context.Context) error) context.Context {
	return context.WithValue(ctx, beforeStepUpKey{}, f)
}

type paymentKeyKey struct{}

// NewContextWithPaymentKey returns ctx carrying the Idempotency-Key of the
// money request it serves: a step-up's message code is bound to it (with
// the payment), so that a code is not good for another request, and the
// same request repeated with its code is the one it was sent for.
func NewContextWithPaymentKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, paymentKeyKey{}, key)
}

func paymentKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(paymentKeyKey{}).(string)
	return k
}
