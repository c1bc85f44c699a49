package auth

import (
	"context"
	"errors"

	pw "github.com/peakwallet/peakwallet"
)

// WalletCreate is POST /v1/wallets. Nothing else can be set: kind, owner
// and overdraft limit are the server's choice (no mass assignment).
type WalletCreate struct {
	Currency pw.Currency `json:"currency"`
}

// WalletsMax bounds a user's wallets: one per supported currency.
const WalletsMax = 500

// OpenWallet opens the caller's wallet in a currency, or returns the one
// they have (created=false). One per currency holds across processes:
// the opening runs under a ledger idempotency claim named by user and
// currency, so two concurrent openings cannot both create.
func (s *Service) OpenWallet(ctx context.Context, req WalletCreate) (acc *pw.Account, created bool, err error) {
	p, ok := pw.PrincipalFromContext(ctx)
	if !ok || p.Kind != pw.PrincipalUser {
		return nil, false, pw.Errorf(pw.EFORBIDDEN, "only a user opens wallets")
	}
	cur, err := pw.ParseCurrency(string(req.Currency))
	if err != nil {
		return nil, false, err
	}
	if acc, err := s.wallet(ctx, p.ID, cur); err == nil || pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
		return acc, false, err
	}
	key := pw.IdempotencyKey{Principal: "wallet:" + p.ID, Key: string(cur)}
	claim, replay, err := s.ledger.BeginIdempotent(ctx, key, "open-wallet")
	if err != nil {
		return nil, false, err
	}
	if replay != nil {
		acc, err := s.ledger.Account(ctx, string(replay.Body))
		return acc, false, err
	}
	// Under the claim: a wallet opened before the key was forgotten (24 h)
	// is found here, and no one else can be creating one now.
	if acc, err := s.wallet(ctx, p.ID, cur); err == nil || pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
		s.ledger.ReleaseIdempotent(ctx, claim)
		return acc, false, err
	}
	render := func(v any, err error) (int, []byte) {
		if a, ok := v.(*pw.Account); ok && err == nil {
			return 201, []byte(a.ID)
		}
		return 500, nil
	}
	acc, err = s.ledger.CreateAccount(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claim, Render: render}),
		pw.AccountCreate{Kind: pw.AccountUser, Currency: cur, OwnerID: p.ID})
	if replayed := (*pw.Replayed)(nil); errors.As(err, &replayed) {
		// Another opening finished first (found by the ledger's batch).
		s.ledger.ReleaseIdempotent(ctx, claim)
		acc, err := s.ledger.Account(ctx, string(replayed.Record.Body))
		return acc, false, err
	}
	if err != nil {
		if pw.ErrorCode(err) != pw.EINTERNAL {
			s.ledger.ReleaseIdempotent(ctx, claim)
		}
		return nil, false, err
	}
	return acc, true, s.Audit(ctx, "wallet.open", acc.ID, map[string]string{"currency": string(cur)})
}

// Wallets lists the caller's wallets.
func (s *Service) Wallets(ctx context.Context) ([]*pw.Account, error) {
	p, ok := pw.PrincipalFromContext(ctx)
	if !ok || p.Kind != pw.PrincipalUser {
		return nil, pw.Errorf(pw.EFORBIDDEN, "only a user has wallets")
	}
	return s.store.UserAccounts(ctx, p.ID, pw.AccountUser, WalletsMax)
}

// wallet returns owner's wallet in cur, or account_not_found.
func (s *Service) wallet(ctx context.Context, owner string, cur pw.Currency) (*pw.Account, error) {
	list, err := s.store.UserAccounts(ctx, owner, pw.AccountUser, WalletsMax)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		if a.Currency == cur {
			return a, nil
		}
	}
	return nil, pw.Errorf(pw.EACCOUNTNOTFOUND, "no %s wallet", cur)
}

// walletOfHandle resolves a payee's handle to their wallet in cur. An
// unknown handle and a handle without such a wallet look the same.
func (s *Service) walletOfHandle(ctx context.Context, handle string, cur pw.Currency) (string, error) {
	h, err := ParseHandle(handle)
	if err != nil {
		return "", &pw.Error{Code: pw.EINVALID, Field: "to_handle", Message: "to_handle must be an email address or a phone number"}
	}
	notFound := pw.FieldErrorf("to_handle", pw.EACCOUNTNOTFOUND, "no %s wallet for that handle", cur)
	u, err := s.store.UserByHandle(ctx, h)
	if pw.ErrorCode(err) == pw.ENOTFOUND {
		return "", notFound
	}
	if err != nil {
		return "", err
	}
	acc, err := s.wallet(ctx, u.ID, cur)
	if pw.ErrorCode(err) == pw.EACCOUNTNOTFOUND {
		return "", notFound
	}
	if err != nil {
		return "", err
	}
	return acc.ID, nil
}
