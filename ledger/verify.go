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
	Accounts     int                   `json:"accounts"`
	Entries      int                   `json:"entries"`
	Transfers    int                   `json:"transfers"`
	PendingHolds int                   `json:"pending_holds"`
	Currencies   map[pw.Currency]int64 `json:"currency_sums"` // sum of posted balances per currency: 0 when sound
	Checks       []string              `json:"checks"`
	Violations   []string              `json:"violations"`
	ViolationsN  int                   `json:"violation_count"`
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
	"3. every entry belongs to a stored transfer and every transfer has exactly its two entries; refunds never exceed their original",
	"4. each account's entries, replayed in order, give its posted balance and each posted_balance_after",
	"5. no idempotency key posted more than one transfer",
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

// Verify reads the whole store and checks every invariant of API.md. It
// reads through the Store's public reads only, so it checks any store the
// same way. It is meant for a quiet store (peakwallet verify, tests): run
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
	if err := verifyHolds(ctx, s, r, accounts); err != nil {
		return nil, err
	}
	if err := verifyTransfers(ctx, s, r, accounts, bySide); err != nil {
		return nil, err
	}
	return r, nil
}

// verifyAccount replays one account's entries (invariant 4) and checks its bound (2).
func verifyAccount(ctx context.Context, s pw.Store, a *pw.Account, r *Report, bySide map[string]*sides) error {
	r.Accounts++
	var running, seq int64
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

// verifyHolds checks that pending amounts are exactly the pending holds (2).
func verifyHolds(ctx context.Context, s pw.Store, r *Report, accounts map[string]accountSummary) error {
	out, in := map[string]int64{}, map[string]int64{}
	// The sums are checked: until 2026-11-29 they could wrap, and holds
	// summing to 2^64 more than an account's pending amounts matched them
	// (TestVerifyDetectsTampering/pending_holds_sum_wraps).
	overflowed := map[string]bool{}
	add := func(sums map[string]int64, id string, amount int64) {
		sum, ok := pw.AddInt64(sums[id], amount)
		if !ok && !overflowed[id] {
			overflowed[id] = true
			r.violate("account %s: its pending holds overflow an int64", id)
		}
		sums[id] = sum
	}
	for after := ""; ; {
		page, err := s.PendingHolds(ctx, after, verifyPageMax)
		if err != nil {
			return err
		}
		for _, h := range page {
			r.PendingHolds++
			add(out, h.FromAccount, h.Amount)
			add(in, h.ToAccount, h.Amount)
			if accounts[h.FromAccount].currency != h.Currency || accounts[h.ToAccount].currency != h.Currency {
				r.violate("hold %s: currency %s differs from its accounts'", h.ID, h.Currency)
			}
		}
		if len(page) < verifyPageMax {
			break
		}
		after = page[len(page)-1].ID
	}
	for _, id := range slices.Sorted(maps.Keys(accounts)) {
		a := accounts[id]
		if a.pendingOut != out[id] || a.pendingIn != in[id] {
			r.violate("account %s: pending_out/in %d/%d, pending holds give %d/%d", id, a.pendingOut, a.pendingIn, out[id], in[id])
		}
	}
	return nil
}

// verifyTransfers matches every transfer with its two entries (1, 3) and
// checks refunds and request keys (3, 5).
func verifyTransfers(ctx context.Context, s pw.Store, r *Report, accounts map[string]accountSummary, bySide map[string]*sides) error {
	requestKeys := map[string]string{}
	refunded := map[string]int64{}
	amounts := map[string]int64{}
	for before := ""; ; {
		page, err := s.Transfers(ctx, before, verifyPageMax)
		if err != nil {
			return err
		}
		for _, t := range page {
			r.Transfers++
			amounts[t.ID] = t.Amount
			sd := bySide[t.ID]
			delete(bySide, t.ID)
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
			if t.RefundOf != "" {
				refunded[t.RefundOf] += t.Amount
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
	for _, id := range slices.Sorted(maps.Keys(refunded)) {
		if refunded[id] > amounts[id] {
			r.violate("transfer %s: refunds of %d exceed its amount %d", id, refunded[id], amounts[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(bySide)) {
		r.violate("entries name transfer %s, which does not exist", id)
	}
	return nil
}
