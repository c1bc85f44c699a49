package auth

import (
	"context"
	"encoding/json"
	"strconv"

	pw "github.com/peakwallet/peakwallet"
)

// Guard is the ledger as a principal may use it: the one place where
// object-level authorization is decided. The HTTP server serves a Guard,
// so no handler can forget a check, and the rules are tested without HTTP.
//
//   - Operators see everything; only admins move money or open accounts
//     (support and risk are read-only).
//   - Merchants see and move what their accounts hold (kind merchant, owner
//     = merchant ID); a read-scoped key moves nothing.
//   - Users see and move what their wallets hold (kind user, owner = user
//     ID); payments above their threshold need a step-up.
//
// Someone else's object is not found (404), never forbidden: its existence
// does not leak. A function the principal may not use at all is forbidden.
type Guard struct {
	Ledger
	svc *Service
}

// Guard wraps the service's ledger.
func (s *Service) Guard() *Guard { return &Guard{Ledger: s.ledger, svc: s} }

func principal(ctx context.Context) (pw.Principal, error) {
	p, ok := pw.PrincipalFromContext(ctx)
	if !ok {
		return p, pw.Errorf(pw.EUNAUTHORIZED, "no principal")
	}
	return p, nil
}

// owns reports whether p may see account a.
func owns(p pw.Principal, a *pw.Account) bool {
	switch p.Kind {
	case pw.PrincipalOperator:
		return true
	case pw.PrincipalMerchant:
		return a.Kind == pw.AccountMerchant && a.OwnerID == p.ID
	case pw.PrincipalUser:
		return a.Kind == pw.AccountUser && a.OwnerID == p.ID
	}
	return false
}

// mayMove is function-level authorization for moving money.
func mayMove(p pw.Principal) error {
	switch {
	case p.IsOperator(pw.RoleAdmin), p.Kind == pw.PrincipalUser:
		return nil
	case p.Kind == pw.PrincipalMerchant && (p.Scope == "" || p.Scope == ScopeWrite):
		return nil
	}
	return pw.Errorf(pw.EFORBIDDEN, "this principal cannot move money")
}

// account returns id if p may see it, else account_not_found.
func (g *Guard) account(ctx context.Context, p pw.Principal, id string) (*pw.Account, error) {
	a, err := g.Ledger.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	if !owns(p, a) {
		return nil, pw.Errorf(pw.EACCOUNTNOTFOUND, "account %s not found", id)
	}
	return a, nil
}

// seesEither reports whether p may see an object between from and to.
func (g *Guard) seesEither(ctx context.Context, p pw.Principal, from, to string) (fromOK, toOK bool, err error) {
	if p.Kind == pw.PrincipalOperator {
		return true, true, nil
	}
	for i, id := range []string{from, to} {
		a, err := g.Ledger.Account(ctx, id)
		if err != nil && pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
			return false, false, err
		}
		ok := err == nil && owns(p, a)
		if i == 0 {
			fromOK = ok
		} else {
			toOK = ok
		}
	}
	return fromOK, toOK, nil
}

func (g *Guard) CreateAccount(ctx context.Context, req pw.AccountCreate) (*pw.Account, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case p.IsOperator(pw.RoleAdmin):
	case p.Kind == pw.PrincipalMerchant && mayMove(p) == nil:
		if req.Kind != pw.AccountMerchant || (req.OwnerID != "" && req.OwnerID != p.ID) || req.OverdraftLimit != 0 {
			return nil, pw.Errorf(pw.EFORBIDDEN, "a merchant opens only its own merchant accounts, without overdraft")
		}
		req.OwnerID = p.ID
	case p.Kind == pw.PrincipalUser:
		return nil, pw.Errorf(pw.EFORBIDDEN, "users open wallets with POST /v1/wallets")
	default:
		return nil, pw.Errorf(pw.EFORBIDDEN, "this principal cannot open accounts")
	}
	a, err := g.Ledger.CreateAccount(ctx, req)
	if err == nil && p.Kind == pw.PrincipalOperator {
		err = g.svc.Audit(ctx, "account.create", a.ID, map[string]string{"kind": string(a.Kind), "owner": a.OwnerID})
	}
	return a, err
}

func (g *Guard) Account(ctx context.Context, id string) (*pw.Account, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	return g.account(ctx, p, id)
}

func (g *Guard) Accounts(ctx context.Context, page pw.Page) ([]*pw.Account, string, error) {
	if p, _ := pw.PrincipalFromContext(ctx); !p.IsOperator() {
		return nil, "", pw.Errorf(pw.EFORBIDDEN, "only operators list all accounts; users list GET /v1/wallets")
	}
	return g.Ledger.Accounts(ctx, page)
}

func (g *Guard) Entries(ctx context.Context, account string, page pw.Page) ([]*pw.Entry, string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, "", err
	}
	if _, err := g.account(ctx, p, account); err != nil {
		return nil, "", err
	}
	return g.Ledger.Entries(ctx, account, page)
}

// payment checks a payment from from (with to_handle resolved into req's
// to): the payer must be p's, and a user's large payment must pass step-up.
func (g *Guard) payment(ctx context.Context, p pw.Principal, kind, from string, to, handle *string, amount int64, cur pw.Currency) (context.Context, error) {
	earlier := authorizedEarlier(ctx)
	if !earlier {
		if err := mayMove(p); err != nil {
			return nil, err
		}
	}
	if _, err := g.account(ctx, p, from); err != nil {
		// Only "not found" names the field: any other failure (the store
		// unreachable during an outage) is returned as it is, so that the
		// client hears "busy, retry" and not that its account is gone.
		if pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
			return nil, err
		}
		return nil, &pw.Error{Code: pw.EACCOUNTNOTFOUND, Field: "from_account", Message: "account " + from + " not found"}
	}
	payee := *handle
	if *handle != "" {
		id, err := g.svc.walletOfHandle(ctx, *handle, cur)
		if err != nil {
			return nil, err
		}
		if id == from {
			// One's own handle names the wallet paid from: refused here,
			// on the field the client sent, before a step-up asks for a
			// code (and sends one by message) for a payment that cannot
			// be made. Until 2026-11-29 the ledger refused it after the
			// step-up, on to_account, a field the request did not have
			// (TestPayingOnesOwnHandleIsRefusedOnToHandle).
			return nil, pw.FieldErrorf("to_handle", pw.ESAMEACCOUNT, "that handle is yours, and its %s wallet is the one paid from: a payment to oneself moves nothing", cur)
		}
		*to, *handle = id, ""
	} else {
		payee = *to
	}
	if !earlier {
		pay := stepUpPayment{Kind: kind, From: from, To: *to, Payee: payee, Amount: amount, Currency: cur}
		if err := g.svc.requireStepUp(ctx, p, pay); err != nil {
			return nil, err
		}
	}
	return g.operatorRecord(ctx, p, "money.move", from, map[string]string{"to": *to, "amount": itoa(amount), "currency": string(cur)}), nil
}

// AuthorizePayment checks, without moving anything, what CreateTransfer
// would check before moving req's money for the principal in ctx: that it
// may move money, owns the account paid from, and has passed a step-up if
// the amount needs one (mfa_required otherwise, with a challenge, as for
// CreateTransfer). The surge queue calls it before it accepts a payment to
// settle later, so that it never accepts what it could not pay, and
// answers at once what the client must do.
func (g *Guard) AuthorizePayment(ctx context.Context, req pw.TransferCreate) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	_, err = g.payment(ctx, p, stepUpTransfer, req.FromAccount, &req.ToAccount, &req.ToHandle, req.Amount, req.Currency)
	return err
}

// AuthorizeCancel checks that the principal in ctx may cancel pending
// intent in (a payment queued at a surge), and returns who cancels it
// (pw.CancelledByPayer or pw.CancelledByOperator) and the audit record to
// commit with the cancellation, if any (IntentStore.CancelIntent's rec).
//
//   - The payer cancels its own payment with a credential that may move
//     money: cancelling stops money that was to move, a write of money as
//     voiding a hold is, so a merchant's read-only key, which may read its
//     merchant's intents, may not cancel them
//     (TestAReadOnlyKeyCannotCancelAQueuedPayment). req.Reason is optional.
//   - An operator of any role (admin, support, risk) may stop anyone's
//     payment on the payer's behalf ("my account was taken over", "I paid
//     twice"): it moves no money, so the rule that support and risk move
//     none does not stand in the way, and stopping a payment is what a
//     support desk is asked for. A reason is required (invalid_request,
//     field reason): it is the audit record's "why".
//   - Anyone else: not found, as the intent is (existence does not leak).
//
// Every cancellation by an operator, of its own payment too, carries an
// audit record (action intent.cancel, target the intent; detail: the
// payer, the reason, the amount, currency and accounts) that the store
// writes in the cancellation's own transaction, as the ledger writes
// operators' payments' records (ADR 0033, 0038): the record exists exactly
// when the cancellation took effect; one that changed nothing (the payment
// already made, the intent already failed) leaves none.
func (g *Guard) AuthorizeCancel(ctx context.Context, in *pw.Intent, req pw.IntentCancel) (by string, rec *pw.CommitRecord, err error) {
	p, err := principal(ctx)
	if err != nil {
		return "", nil, err
	}
	by = pw.CancelledByPayer
	switch {
	case p.String() == in.Principal:
		if err := mayMove(p); err != nil {
			return "", nil, err
		}
	case p.Kind == pw.PrincipalOperator:
		by = pw.CancelledByOperator
		if err := req.Validate(true); err != nil {
			return "", nil, err
		}
	default:
		return "", nil, pw.Errorf(pw.ENOTFOUND, "intent %q not found", in.ID)
	}
	if err := req.Validate(false); err != nil {
		return "", nil, err
	}
	if p.Kind != pw.PrincipalOperator {
		return by, nil, nil
	}
	detail := map[string]string{"payer": in.Principal, "cancelled_by": by, "idempotency_key": in.IdempotencyKey}
	if req.Reason != "" {
		detail["reason"] = req.Reason
	}
	var pay pw.TransferCreate
	if json.Unmarshal(in.Body, &pay) == nil { // the body was validated when the intent was accepted
		detail["amount"], detail["currency"], detail["from"] = itoa(pay.Amount), string(pay.Currency), pay.FromAccount
		detail["to"] = pay.ToAccount
		if pay.ToHandle != "" {
			detail["to"] = pay.ToHandle
		}
	}
	return by, &pw.CommitRecord{Writer: g.svc, Record: g.svc.auditRecord(ctx, ActionIntentCancel, in.ID, detail)}, nil
}

// ActionIntentCancel is the audit action of an operator's cancellation of a
// queued payment (AuthorizeCancel).
const ActionIntentCancel = "intent.cancel"

type authorizedEarlierKey struct{}

// NewContextAuthorizedEarlier marks ctx as settling a payment that
// AuthorizePayment allowed when it was accepted (an intent of the surge
// queue, settled later by the server, not by a request): its principal's
// right to move money and its step-up were checked then, with the
// request's role, scope and MFA code, which a settlement no longer has.
// What the payment touches is checked again (the account paid from is
// still the principal's; a handle is resolved again), and an operator's
// payment is audited in its commit as always.
func NewContextAuthorizedEarlier(ctx context.Context) context.Context {
	return context.WithValue(ctx, authorizedEarlierKey{}, true)
}

func authorizedEarlier(ctx context.Context) bool {
	v, _ := ctx.Value(authorizedEarlierKey{}).(bool)
	return v
}

// CredentialLive is Service.CredentialLive: the settler asks it before it
// pays a payment authorized earlier.
func (g *Guard) CredentialLive(ctx context.Context, p pw.Principal) error {
	return g.svc.CredentialLive(ctx, p)
}

func (g *Guard) CreateTransfer(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ctx, err = g.payment(ctx, p, stepUpTransfer, req.FromAccount, &req.ToAccount, &req.ToHandle, req.Amount, req.Currency)
	if err != nil {
		return nil, err
	}
	return g.Ledger.CreateTransfer(ctx, req)
}

func (g *Guard) CreateHold(ctx context.Context, req pw.HoldCreate) (*pw.Hold, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	handle := ""
	ctx, err = g.payment(ctx, p, stepUpHold, req.FromAccount, &req.ToAccount, &handle, req.Amount, req.Currency)
	if err != nil {
		return nil, err
	}
	return g.Ledger.CreateHold(ctx, req)
}

// CreateBatch is for operators and merchants: every item must come from
// the caller's own accounts. Users pay one at a time (each may need a
// step-up).
func (g *Guard) CreateBatch(ctx context.Context, req pw.BatchCreate) ([]pw.BatchResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if p.Kind == pw.PrincipalUser {
		return nil, pw.Errorf(pw.EFORBIDDEN, "users cannot post batches")
	}
	if err := mayMove(p); err != nil {
		return nil, err
	}
	if p.Kind != pw.PrincipalOperator {
		seen := map[string]bool{}
		for i := range req.Transfers {
			t := &req.Transfers[i]
			if !seen[t.FromAccount] {
				if _, err := g.account(ctx, p, t.FromAccount); err != nil {
					return nil, err
				}
				seen[t.FromAccount] = true
			}
		}
	}
	for i := range req.Transfers {
		if t := &req.Transfers[i]; t.ToHandle != "" {
			if t.ToAccount, err = g.svc.walletOfHandle(ctx, t.ToHandle, t.Currency); err != nil {
				return nil, err
			}
			t.ToHandle = ""
		}
	}
	ctx = g.operatorRecord(ctx, p, "money.batch", "", map[string]string{"transfers": itoa(int64(len(req.Transfers)))})
	return g.Ledger.CreateBatch(ctx, req)
}

// Transfer reads a transfer p may see, with its parties.
func (g *Guard) Transfer(ctx context.Context, id string) (*pw.Transfer, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	t, err := g.transfer(ctx, p, id)
	if err != nil {
		return nil, err
	}
	ts, err := g.withParties(ctx, p, []*pw.Transfer{t})
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// transfer reads a transfer p may see, without its parties (a refund
// needs none, and is a payment: it does not pay for their read).
func (g *Guard) transfer(ctx context.Context, p pw.Principal, id string) (*pw.Transfer, error) {
	t, err := g.Ledger.Transfer(ctx, id)
	if err != nil {
		return nil, err
	}
	if from, to, err := g.seesEither(ctx, p, t.FromAccount, t.ToAccount); err != nil {
		return nil, err
	} else if !from && !to {
		return nil, pw.Errorf(pw.ENOTFOUND, "transfer %s not found", id)
	}
	return t, nil
}

func (g *Guard) Transfers(ctx context.Context, account string, page pw.Page) ([]*pw.Transfer, string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, "", err
	}
	if account == "" && !p.IsOperator() {
		return nil, "", pw.Errorf(pw.EFORBIDDEN, "only operators list all transfers; list one account's with ?account=")
	}
	if account != "" {
		if _, err := g.account(ctx, p, account); err != nil {
			return nil, "", err
		}
	}
	ts, next, err := g.Ledger.Transfers(ctx, account, page)
	if err != nil {
		return nil, "", err
	}
	if ts, err = g.withParties(ctx, p, ts); err != nil {
		return nil, "", err
	}
	return ts, next, nil
}

// Refund is the payee's: only who received the money gives it back, and
// a user above their step-up threshold only with a second factor.
func (g *Guard) Refund(ctx context.Context, transferID string, req pw.RefundCreate) (*pw.Transfer, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := mayMove(p); err != nil {
		return nil, err
	}
	t, err := g.transfer(ctx, p, transferID)
	if err != nil {
		return nil, err
	}
	if _, to, err := g.seesEither(ctx, p, t.FromAccount, t.ToAccount); err != nil {
		return nil, err
	} else if !to {
		return nil, pw.Errorf(pw.EFORBIDDEN, "only the payee can refund a transfer")
	}
	// A refund moves money out of the payee's account: a user's needs a
	// step-up above their threshold as a payment does. Absent, the amount
	// is what remains, which a concurrent refund can only lower.
	amount := req.Amount
	if amount == 0 {
		amount = t.Amount - t.RefundedAmount
	}
	// The refund's payee is the payment's payer, back to whose account the
	// money goes.
	pay := stepUpPayment{Kind: stepUpRefund, From: t.ToAccount, To: t.FromAccount, Payee: t.FromAccount, Amount: amount, Currency: t.Currency}
	if err := g.svc.requireStepUp(ctx, p, pay); err != nil {
		return nil, err
	}
	return g.Ledger.Refund(g.operatorRecord(ctx, p, "money.refund", transferID, nil), transferID, req)
}

func (g *Guard) Hold(ctx context.Context, id string) (*pw.Hold, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	h, _, _, err := g.hold(ctx, p, id)
	return h, err
}

func (g *Guard) hold(ctx context.Context, p pw.Principal, id string) (*pw.Hold, bool, bool, error) {
	h, err := g.Ledger.Hold(ctx, id)
	if err != nil {
		return nil, false, false, err
	}
	from, to, err := g.seesEither(ctx, p, h.FromAccount, h.ToAccount)
	if err != nil {
		return nil, false, false, err
	}
	if !from && !to {
		return nil, false, false, pw.Errorf(pw.ENOTFOUND, "hold %s not found", id)
	}
	return h, from, to, nil
}

// CaptureHold is the payee's.
func (g *Guard) CaptureHold(ctx context.Context, id string, req pw.HoldCapture) (*pw.Transfer, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := mayMove(p); err != nil {
		return nil, err
	}
	if _, _, to, err := g.hold(ctx, p, id); err != nil {
		return nil, err
	} else if !to {
		return nil, pw.Errorf(pw.EFORBIDDEN, "only the payee can capture a hold")
	}
	return g.Ledger.CaptureHold(g.operatorRecord(ctx, p, "money.capture", id, nil), id, req)
}

// VoidHold is either party's: releasing a reservation moves no money.
func (g *Guard) VoidHold(ctx context.Context, id string) (*pw.Hold, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := mayMove(p); err != nil {
		return nil, err
	}
	if _, _, _, err := g.hold(ctx, p, id); err != nil {
		return nil, err
	}
	return g.Ledger.VoidHold(g.operatorRecord(ctx, p, "money.void", id, nil), id)
}

// operatorRecord returns ctx with the audit record of an operator's money
// action attached to the ledger command about to be made with it: staff
// actions are the ones an audit must be able to account for. The record
// commits in the ledger's transaction, with the action (a payment the
// ledger's rules refuse is recorded too), so no movement escapes the log
// and no record names one that never reached the ledger; it costs no
// commit of its own. Other principals' ctx is returned as it is.
func (g *Guard) operatorRecord(ctx context.Context, p pw.Principal, action, target string, detail map[string]string) context.Context {
	if p.Kind != pw.PrincipalOperator {
		return ctx
	}
	return g.Ledger.WithRecord(ctx, g.svc, g.svc.auditRecord(ctx, action, target, detail))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
