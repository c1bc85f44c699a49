package ledger

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// outcome is what one command produced inside a batch. Outcomes are handed
// to the waiting callers only after the batch's transaction committed.
type outcome struct {
	result any
	err    error
}

// batch is the working state of one store transaction: the locked accounts
// (working copies), the holds and transfers the commands refer to, and the
// changes to write. Rules are applied to commands one at a time, in order,
// against this state; the store sees only the netted result.
type batch struct {
	l         *Ledger
	now       time.Time
	accounts  map[string]*pw.Account
	posted0   map[string]int64 // posted balances when locked, for the invariant check
	touched   map[string]bool
	holds     map[string]*pw.Hold
	transfers map[string]*pw.Transfer
	idem      map[pw.IdempotencyKey]*pw.IdempotencyRecord // the claimed keys' records, locked
	ch        pw.Changes
}

// apply runs cmds inside tx and returns one outcome per command. It is
// called again from scratch if the store retries the transaction.
func (l *Ledger) apply(ctx context.Context, tx pw.Tx, cmds []*command) ([]outcome, *pw.Changes, error) {
	b := &batch{l: l, now: l.clock(), touched: map[string]bool{}}
	if err := b.load(ctx, tx, cmds); err != nil {
		return nil, nil, err
	}
	b.expireDue()
	outs := make([]outcome, len(cmds))
	for i, c := range cmds {
		outs[i] = b.run(c)
	}
	for _, id := range slices.Sorted(maps.Keys(b.touched)) {
		a := b.accounts[id]
		a.SetAvailable()
		b.ch.Balances = append(b.ch.Balances, a)
	}
	if err := b.checkInvariants(); err != nil {
		return nil, nil, err
	}
	if b.ch.Empty() {
		return outs, &b.ch, nil
	}
	// Entries in key order: the stores' B-trees take ordered inserts much
	// faster than ones scattered over the index.
	slices.SortFunc(b.ch.Entries, func(x, y *pw.Entry) int {
		if c := strings.Compare(x.AccountID, y.AccountID); c != 0 {
			return c
		}
		return cmp.Compare(x.Seq, y.Seq)
	})
	if err := tx.Write(ctx, &b.ch); err != nil {
		return nil, nil, err
	}
	return outs, &b.ch, nil
}

// load reads and locks everything the commands refer to. Accounts are
// locked first, in ID order; the holds and transfers are read again after
// that, because only those locks make their state stable.
func (b *batch) load(ctx context.Context, tx pw.Tx, cmds []*command) error {
	accountIDs := map[string]bool{}
	holdIDs := map[string]bool{}
	transferIDs := map[string]bool{}
	// An account ID that is not text (a NUL byte, invalid UTF-8) names no
	// account, and PostgreSQL cannot be asked for it: it is not read, and
	// the command naming it fails account_not_found on its own. Until
	// 2026-11-29 a batch item naming one (batch items are checked one by
	// one as they apply, after this) failed the whole store transaction
	// on PostgreSQL: the batch request was a 500, and every command
	// committed with it, other clients' payments, was retried one by one
	// (TestABatchItemNamingNoTextAccountFailsAlone).
	account := func(ids ...string) {
		for _, id := range ids {
			if pw.ValidText(id) {
				accountIDs[id] = true
			}
		}
	}
	var keys []pw.IdempotencyKey
	for _, c := range cmds {
		if c.claim != nil {
			keys = append(keys, c.claim.Record.IdempotencyKey)
		}
		switch c.op {
		case opTransfer:
			account(c.transfer.FromAccount, c.transfer.ToAccount)
		case opBatch:
			for _, t := range c.batch.Transfers {
				account(t.FromAccount, t.ToAccount)
			}
		case opHold:
			account(c.hold.FromAccount, c.hold.ToAccount)
		case opRefund:
			transferIDs[c.targetID] = true
		case opCapture, opVoid, opExpire:
			holdIDs[c.targetID] = true
		}
	}
	// Learn the accounts of the holds and transfers referred to (they
	// never change).
	if len(holdIDs) > 0 {
		holds, err := tx.Holds(ctx, slices.Collect(maps.Keys(holdIDs)))
		if err != nil {
			return err
		}
		for _, h := range holds {
			accountIDs[h.FromAccount], accountIDs[h.ToAccount] = true, true
		}
	}
	if len(transferIDs) > 0 {
		transfers, err := tx.Transfers(ctx, slices.Collect(maps.Keys(transferIDs)))
		if err != nil {
			return err
		}
		for _, t := range transfers {
			accountIDs[t.FromAccount], accountIDs[t.ToAccount] = true, true
		}
	}
	var err error
	if b.accounts, err = tx.LockAccounts(ctx, slices.Sorted(maps.Keys(accountIDs))); err != nil {
		return err
	}
	if err := b.lockDueHolds(ctx, tx, holdIDs); err != nil {
		return err
	}
	b.posted0 = make(map[string]int64, len(b.accounts))
	for id, a := range b.accounts {
		b.posted0[id] = a.Balance.Posted
	}
	if len(holdIDs) > 0 {
		if b.holds, err = tx.Holds(ctx, slices.Collect(maps.Keys(holdIDs))); err != nil {
			return err
		}
	}
	if len(transferIDs) > 0 {
		if b.transfers, err = tx.Transfers(ctx, slices.Collect(maps.Keys(transferIDs))); err != nil {
			return err
		}
	}
	if len(keys) > 0 {
		if b.idem, err = tx.LockIdempotency(ctx, keys); err != nil {
			return err
		}
	}
	return nil
}

// lockDueHolds finds the holds past their expiry on the locked accounts,
// adds them to holdIDs (expireDue releases them) and locks their other
// accounts too. Only an account with pending amounts can have a pending
// hold, so a batch of plain payments asks nothing. The second round of
// locks is again in ID order; on PostgreSQL it can meet another batch's in
// a deadlock, which the database detects and the store retries.
func (b *batch) lockDueHolds(ctx context.Context, tx pw.Tx, holdIDs map[string]bool) error {
	var pending []string
	for id, a := range b.accounts {
		if a.Balance.PendingOut > 0 || a.Balance.PendingIn > 0 {
			pending = append(pending, id)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	slices.Sort(pending)
	due, err := tx.DueHolds(ctx, pending, b.now)
	if err != nil {
		return err
	}
	extra := map[string]bool{}
	for _, h := range due {
		holdIDs[h.ID] = true
		for _, id := range []string{h.FromAccount, h.ToAccount} {
			if _, locked := b.accounts[id]; !locked {
				extra[id] = true
			}
		}
	}
	if len(extra) == 0 {
		return nil
	}
	more, err := tx.LockAccounts(ctx, slices.Sorted(maps.Keys(extra)))
	if err != nil {
		return err
	}
	maps.Copy(b.accounts, more)
	return nil
}

// run applies one command and, when it carries an idempotency claim,
// records its rendered outcome in the same transaction.
func (b *batch) run(c *command) outcome {
	if c.claim != nil {
		switch rec := b.idem[c.claim.Record.IdempotencyKey]; {
		case rec != nil && rec.State == pw.IdempotencyDone && rec.Fingerprint != c.claim.Record.Fingerprint:
			return outcome{err: pw.KeyReusedError()}
		case rec != nil && rec.State == pw.IdempotencyDone:
			// Another request with this key and content finished first,
			// unseen by the claim (pw.Replayed): it is not run again, and
			// its answer is replayed.
			return outcome{err: &pw.Replayed{Record: rec}}
		case rec == nil || rec.Token != c.claim.Record.Token:
			// Our lease was lost (it went stale and another request took
			// the key over, or it was released): that request owns the key now.
			return outcome{err: pw.Errorf(pw.EIDEMINUSE, "another request with this Idempotency-Key is in flight")}
		}
	}
	var o outcome
	switch c.op {
	case opAccount:
		o.result, o.err = b.createAccount(c.account)
	case opTransfer:
		o.result, o.err = b.transfer(c.transfer, pw.TransferPayment, c.requestKey(0))
	case opBatch:
		o.result, o.err = b.transferBatch(c)
	case opRefund:
		o.result, o.err = b.refund(c.targetID, c.refund, c.requestKey(0))
	case opHold:
		o.result, o.err = b.createHold(c.hold, c.requestKey(0))
	case opCapture:
		o.result, o.err = b.capture(c.targetID, c.capture, c.requestKey(0))
	case opVoid:
		o.result, o.err = b.void(c.targetID)
	case opExpire:
		// Done by expireDue before any command ran.
	default:
		panic(fmt.Sprintf("ledger: unknown op %d", c.op))
	}
	if c.claim != nil {
		rec := *c.claim.Record
		rec.State = pw.IdempotencyDone
		rec.Status, rec.Body = c.claim.Render(o.result, o.err)
		b.ch.Idempotency = append(b.ch.Idempotency, &rec)
	}
	return o
}

// checkInvariants asserts, before anything is written, that the batch's
// entries sum to zero per currency and that every changed balance moved by
// exactly the sum of its new entries. A failure is a bug in the ledger: the
// transaction is rolled back and the error logged loudly.
func (b *batch) checkInvariants() error {
	sums := map[pw.Currency]int64{}
	perAccount := map[string]int64{}
	for _, e := range b.ch.Entries {
		a := b.accounts[e.AccountID]
		sums[a.Currency] += e.Amount
		perAccount[e.AccountID] += e.Amount
	}
	for cur, s := range sums {
		if s != 0 {
			return b.l.broken("entries of %s sum to %d, not 0", cur, s)
		}
	}
	for _, a := range b.ch.Balances {
		if a.Balance.Posted != b.posted0[a.ID]+perAccount[a.ID] {
			return b.l.broken("account %s posted %d, expected %d", a.ID, a.Balance.Posted, b.posted0[a.ID]+perAccount[a.ID])
		}
		available, ok := a.AvailableAfter(0)
		if !ok {
			return b.l.broken("account %s: posted %d - pending_out %d overflows", a.ID, a.Balance.Posted, a.Balance.PendingOut)
		}
		if a.Bounded() && available < -a.OverdraftLimit {
			return b.l.broken("account %s below its limit", a.ID)
		}
		if a.Balance.PendingOut < 0 || a.Balance.PendingIn < 0 {
			return b.l.broken("account %s has negative pending amounts", a.ID)
		}
	}
	return nil
}

// broken reports a violated invariant: a bug, never a client's mistake.
func (l *Ledger) broken(format string, args ...any) error {
	err := &pw.Error{Code: pw.EINTERNAL, Op: "ledger.invariant", Message: fmt.Sprintf(format, args...)}
	l.log.Error("ledger invariant violated; batch rolled back", "err", err)
	return err
}
