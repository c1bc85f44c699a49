package auth

import (
	"context"

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

// stepUp lets a user's payment of amount through when it is within their
// threshold, or when the request carries a valid MFA code; otherwise it
// answers mfa_required with a challenge, sending a message code to users
// without TOTP. It runs inside the idempotent request but before the
// ledger, so a challenge commits nothing: the claim is released and the
// same Idempotency-Key, repeated with MFA-Code, pays exactly once.
func (s *Service) requireStepUp(ctx context.Context, p pw.Principal, amount int64) error {
	if p.Kind != pw.PrincipalUser {
		return nil
	}
	u, err := s.store.UserByID(ctx, p.ID)
	if err != nil {
		return err
	}
	if amount <= u.StepUpThreshold {
		return nil
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
	code := mfaCodeFrom(ctx)
	if code != "" {
		err := s.checkMFA(ctx, u, m, code, PurposeStepUp)
		if err == nil || pw.ErrorCode(err) != pw.EMFAREQUIRED {
			return err
		}
		return s.challenge(ctx, u, m, "the MFA code is not valid; repeat the request with a valid MFA-Code header", false)
	}
	return s.challenge(ctx, u, m, "this payment needs a second factor: repeat the same request (same Idempotency-Key) with the header MFA-Code", true)
}

func (s *Service) challenge(ctx context.Context, u *User, m *MFA, msg string, send bool) error {
	c := &Challenge{ID: pw.NewID(pw.PrefixChallenge, s.clock())}
	if m.Confirmed() {
		c.Methods = []string{"totp", "recovery_code", "message"}
	} else {
		c.Methods = []string{"message"}
		if send {
			// Without an authenticator app the code comes by message; a
			// rate limit here is the answer (the user has codes pending).
			if err := s.SendOTP(ctx, u, PurposeStepUp); err != nil {
				return err
			}
		}
	}
	if err := s.Audit(ctx, "mfa.challenge", u.ID, map[string]string{"challenge": c.ID}); err != nil {
		return err
	}
	return &pw.Error{Code: pw.EMFAREQUIRED, Message: msg, Err: c}
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
