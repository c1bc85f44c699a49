package ledger

import (
	"context"
	"fmt"
	"maps"
	"slices"

	pw "github.com/peakwallet/peakwallet"
)

// Verify limits.
const (
	verifyPageMax       = 500
	VerifyViolationsMax = 100 // violations reported; counting goes on
)

// Report is what Verify checked and found.
type Report struct {
	Accounts     int `json:"accounts"`
	Entries      int `json:"entries"`
	Transfers    int `json:"transfers"`
	Holds        int `json:"holds"` // of every status
	PendingHolds int `json:"pending_holds"`
	// Intents are the surge queue's, of every status (read when the store
	// keeps them: a pw.IntentStore).
	Intents        int                   `json:"intents"`
	PendingIntents int                   `json:"pending_intents"`
	Currencies     map[pw.Currency]int64 `json:"currency_sums"` // sum of posted balances per currency: 0 when sound
	Checks         []string              `json:"checks"`
	Violations     []string              `json:"violations"`
	ViolationsN    int                   `json:"violation_count"`
}

// OK reports whether no invariant was violated.
func (r *Report) OK() bool { return r.ViolationsN == 0 }

func (r *Report) violate(format string, args ...any) {
	r.ViolationsN++
	if len(r.Violations) < VerifyViolationsMax {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	}
}

// Checks Verify performs, in the words of API.md's invariants.
var verifyChecks = []string{
	"1. every transfer debits one account and credits another by the same amount, in one currency",
	"1. for every currency, the sum of all posted balances is exactly 0",
	"2. no bounded account has posted - pending_out below -overdraft_limit; pending amounts equal the pending holds",
	"2. no entry of a bounded account left its posted balance below -overdraft_limit",
	"3. every entry belongs to a stored transfer and every transfer has exactly its two entries; refunds never exceed their original",
	"3. a transfer's kind matches what it names: a payment no hold and no original, a capture a hold, a refund an original",
	"3. every refund runs opposite to its original, which exists and is no refund",
	"3. every capture moves its hold's parties and currency, at most the held amount, before the hold expired; no hold is captured twice",
	"3. a captured hold names its capture transfer and amount; a pending, voided or expired hold has no capture, and an expired one was due",
	"3. every hold expires 1 s to 30 days after it was made",
	"4. each account's entries, replayed in order, give its posted balance and each posted_balance_after",
	"5. no idempotency key posted more than one transfer",
	"6. every posted intent names a payment that exists, posted under the intent's idempotency key, of its request's payer, amount and currency (and payee, when named by to_account); no two intents name one transfer",
	"6. every intent is pending, posted or failed; a pending or failed one names no transfer; a failed one has an error code, a pending or posted one none",
	"6. no payment was posted under a cancelled intent's key between its acceptance and its cancellation",
}

// sides is what the entries say about one transfer.
type sides struct {
	debitAccount, creditAccount string
	debit, credit               int64
	n                           int
}

type accountSummary struct {
	currency              pw.Currency
	pendingOut, pendingIn int64
}

// refundSide is what a refund says about its original.
type refundSide struct {
	id, from, to string
	amount       int64
}

// Verify reads the whole store and checks every invariant of API.md. It
// reads through the Store's public reads only, so it checks any store the
// same way. When s keeps the surge queue too (a pw.IntentStore, as both
// stores are), it checks the queue's intents against the transfers they
// name (6). It is meant for a quiet store (peakwallet verify, tests): run
// against one under writes, balances and entries may be read at different
// moments.
func Verify(ctx context.Context, s pw.Store) (*Report, error) {
	r := &Report{Currencies: map[pw.Currency]int64{}, Checks: verifyChecks}
	bySide := map[string]*sides{}
	accounts := map[string]accountSummary{}
	for after := ""; ; {
		page, err := s.Accounts(ctx, after, verifyPageMax)
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if err := verifyAccount(ctx, s, a, r, bySide); err != nil {
				return nil, err
			}
			accounts[a.ID] = accountSummary{a.Currency, a.Balance.PendingOut, a.Balance.PendingIn}
		}
		if len(page) < verifyPageMax {
			break
		}
		after = page[len(page)-1].ID
	}
	for _, cur := range slices.Sorted(maps.Keys(r.Currencies)) {
		if sum := r.Currencies[cur]; sum != 0 {
			r.violate("posted balances of %s sum to %d, not 0", cur, sum)
		}
	}
	captures, requestKeys, err := verifyTransfers(ctx, s, r, accounts, bySide)
	if err != nil {
		return nil, err
	}
	if err := verifyHolds(ctx, s, r, accounts, captures); err != nil {
		return nil, err
	}
	if is, ok := s.(pw.IntentStore); ok {
		if err := verifyIntents(ctx, s, is, r, requestKeys); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// verifyAccount replays one account's entries (invariant 4) and checks its bound (2).
func verifyAccount(ctx context.Context, s pw.Store, a *pw.Account, r *Report, bySide map[string]*sides) error {
	r.Accounts++
	var running, seq int64
	belowOnce := false
	for {
		page, err := s.EntriesAscending(ctx, a.ID, seq, verifyPageMax)
		if err != nil {
			return err
		}
		for _, e := range page {
			r.Entries++
			if e.Seq != seq+1 {
				r.violate("account %s: entry %d follows entry %d", a.ID, e.Seq, seq)
			}
			seq = e.Seq
			next, ok := pw.AddInt64(running, e.Amount)
			if !ok {
				r.violate("account %s: balance overflows at entry %d", a.ID, e.Seq)
			}
			running = next
			if e.PostedBalanceAfter != running {
				r.violate("account %s: entry %d says balance %d, replay gives %d", a.ID, e.Seq, e.PostedBalanceAfter, running)
			}
			// The bound held at every entry, not only at the end: a debit
			// needs posted - pending_out - amount ≥ -overdraft_limit, and
			// pending_out ≥ 0, so no entry leaves posted below the bound
			// (an overdraft_limit never changes). Reported once per account.
			if a.Bounded() && running < -a.OverdraftLimit && !belowOnce {
				belowOnce = true
				r.violate("account %s: posted %d, below -overdraft_limit %d at entry %d", a.ID, running, a.OverdraftLimit, e.Seq)
			}
			sd := bySide[e.TransferID]
			if sd == nil {
				sd = &sides{}
				bySide[e.TransferID] = sd
			}
			sd.n++
			if e.Amount < 0 {
				sd.debitAccount, sd.debit = a.ID, -e.Amount
			} else {
				sd.creditAccount, sd.credit = a.ID, e.Amount
			}
		}
		if len(page) < verifyPageMax {
			break
		}
	}
	if running != a.Balance.Posted {
		r.violate("account %s: posted %d, its entries sum to %d", a.ID, a.Balance.Posted, running)
	}
	if seq != a.EntryCount {
		r.violate("account %s: %d entries, entry_count says %d", a.ID, seq, a.EntryCount)
	}
	r.Currencies[a.Currency] += a.Balance.Posted
	// Checked, as the ledger's own arithmetic: until 2026-11-29 this
	// subtraction could wrap, and an account far below its limit (posted
	// -2, pending_out MaxInt64) read as far above it
	// (TestVerifyDetectsTampering/posted_-_pending_out_wraps).
	available, ok := a.AvailableAfter(0)
	if !ok {
		r.violate("account %s: posted %d - pending_out %d overflows", a.ID, a.Balance.Posted, a.Balance.PendingOut)
	}
	if a.Bounded() && (!ok || available < -a.OverdraftLimit) {
		r.violate("account %s: posted %d - pending_out %d is below -overdraft_limit %d", a.ID, a.Balance.Posted, a.Balance.PendingOut, a.OverdraftLimit)
	}
	return nil
}

// verifyTransfers matches every transfer with its two entries (1, 3),
// checks request keys (5) and each transfer's kind, and checks refunds
// against their originals (3). It returns what the capture transfers say
// of their holds, for verifyHolds, and the transfers by request key, for
// verifyIntents.
//
// The originals of refunds are read back by ID once the pass is done (the
// newest-first pass meets a refund before its original), rather than every
// transfer's amount being kept in case it was refunded: beyond each
// transfer's sides and request key, memory grows only with the refunds and
// captures.
func verifyTransfers(ctx context.Context, s pw.Store, r *Report, accounts map[string]accountSummary, bySide map[string]*sides) (map[string]captureSide, map[string]string, error) {
	requestKeys := map[string]string{}
	refunds := map[string][]refundSide{}
	captures := map[string]captureSide{}
	for before := ""; ; {
		page, err := s.Transfers(ctx, before, verifyPageMax)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range page {
			r.Transfers++
			verifyTransfer(r, t, bySide[t.ID], accounts)
			delete(bySide, t.ID)
			// By what the transfer names, not by its kind, so that a
			// transfer whose kind was edited is still checked as what it
			// claims to be.
			if t.RefundOf != "" {
				refunds[t.RefundOf] = append(refunds[t.RefundOf], refundSide{t.ID, t.FromAccount, t.ToAccount, t.Amount})
			}
			if t.HoldID != "" {
				if other, dup := captures[t.HoldID]; dup {
					r.violate("hold %s: captured by both %s and %s", t.HoldID, other.id, t.ID)
				} else {
					captures[t.HoldID] = captureSide{t.ID, t.FromAccount, t.ToAccount, t.Amount, t.Currency, t.CreatedAt}
				}
			}
			if t.RequestKey != "" {
				if other, dup := requestKeys[t.RequestKey]; dup {
					r.violate("transfers %s and %s were posted by the same idempotent request", other, t.ID)
				}
				requestKeys[t.RequestKey] = t.ID
			}
		}
		if len(page) < verifyPageMax {
			break
		}
		before = page[len(page)-1].ID
	}
	if err := verifyRefunds(ctx, s, r, refunds); err != nil {
		return nil, nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(bySide)) {
		r.violate("entries name transfer %s, which does not exist", id)
	}
	return captures, requestKeys, nil
}

// verifyTransfer checks one transfer against its entries (sd), its
// accounts and its kind (1, 3).
func verifyTransfer(r *Report, t *pw.Transfer, sd *sides, accounts map[string]accountSummary) {
	switch {
	case sd == nil || sd.n != 2:
		r.violate("transfer %s: does not have exactly two entries", t.ID)
	case sd.debitAccount != t.FromAccount || sd.creditAccount != t.ToAccount || sd.debit != t.Amount || sd.credit != t.Amount:
		r.violate("transfer %s: entries do not debit %s and credit %s by %d", t.ID, t.FromAccount, t.ToAccount, t.Amount)
	}
	if t.FromAccount == t.ToAccount || t.Amount <= 0 {
		r.violate("transfer %s: malformed (same account or non-positive amount)", t.ID)
	}
	if accounts[t.FromAccount].currency != t.Currency || accounts[t.ToAccount].currency != t.Currency {
		r.violate("transfer %s: currency %s differs from its accounts'", t.ID, t.Currency)
	}
	if !kindMatches(t) {
		r.violate("transfer %s: a %q transfer with hold_id %q and refund_of %q", t.ID, t.Kind, t.HoldID, t.RefundOf)
	}
}

// kindMatches reports whether a transfer names what its kind says: a
// capture its hold, a refund its original, a payment neither.
func kindMatches(t *pw.Transfer) bool {
	switch t.Kind {
	case pw.TransferPayment:
		return t.HoldID == "" && t.RefundOf == ""
	case pw.TransferCapture:
		return t.HoldID != "" && t.RefundOf == ""
	case pw.TransferRefund:
		return t.HoldID == "" && t.RefundOf != ""
	}
	return false
}

// verifyRefunds checks every refund against its original, read back by ID
// a page at a time (3): the original exists and is no refund, the refund
// runs opposite to it (in its currency, since both run between the same
// two accounts, whose currency is checked), and the refunds do not exceed it.
func verifyRefunds(ctx context.Context, s pw.Store, r *Report, refunds map[string][]refundSide) error {
	for ids := range slices.Chunk(slices.Sorted(maps.Keys(refunds)), verifyPageMax) {
		originals, err := s.TransfersByID(ctx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			orig := originals[id]
			var sum int64
			overflowed := false
			for _, rf := range refunds[id] {
				switch {
				case orig == nil:
					r.violate("transfer %s: refunds transfer %s, which does not exist", rf.id, id)
					continue
				case orig.RefundOf != "" || orig.Kind == pw.TransferRefund:
					r.violate("transfer %s: refunds transfer %s, which is itself a refund", rf.id, id)
				case rf.from != orig.ToAccount || rf.to != orig.FromAccount:
					r.violate("transfer %s: does not run opposite to its original %s (%s to %s, the original %s to %s)",
						rf.id, id, rf.from, rf.to, orig.FromAccount, orig.ToAccount)
				}
				// Checked: refunds summing past the int64 limit must not
				// read as a small total. (Both stores' reads fail first on
				// such refunds, as they sum them for RefundedAmount: SQLite
				// "integer overflow", PostgreSQL "bigint out of range";
				// this holds for any store.)
				next, ok := pw.AddInt64(sum, rf.amount)
				overflowed = overflowed || !ok
				sum = next
			}
			switch {
			case orig == nil:
			case overflowed:
				r.violate("transfer %s: its refunds overflow an int64, and so exceed its amount %d", id, orig.Amount)
			case sum > orig.Amount:
				r.violate("transfer %s: refunds of %d exceed its amount %d", id, sum, orig.Amount)
			}
		}
	}
	return nil
}
