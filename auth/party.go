package auth

import (
	"context"

	pw "github.com/peakwallet/peakwallet"
)

// withParties returns copies of ts (the ledger's may be shared) with who
// holds each side, as p may know them (docs/security.md, "The other side
// of a transfer"):
//
//   - a user sees the handle of a user and the name of a merchant: the
//     handle of someone they exchanged money with, as a P2P wallet shows
//     it (the payer typed the payee's; the payee sees the payer's), and
//     the name a merchant trades under;
//   - a merchant sees another merchant's name, and of a user only that it
//     is one (data minimisation: a shop has no need of its customers'
//     email addresses or phone numbers, and many customers pay many shops);
//   - an operator sees both, as it may read everything.
//
// A system account is only "system" to all. An account whose owner is
// unknown has a party without handle or name. The holders of all the
// transfers' accounts are read at once, so a page costs one store read
// more, not one a row; a failed read fails the whole read (honest and
// simple: a history is not shown half-named).
func (g *Guard) withParties(ctx context.Context, p pw.Principal, ts []*pw.Transfer) ([]*pw.Transfer, error) {
	if len(ts) == 0 {
		return ts, nil
	}
	seen := make(map[string]bool, 2*len(ts))
	ids := make([]string, 0, 2*len(ts))
	for _, t := range ts {
		for _, id := range [...]string{t.FromAccount, t.ToAccount} {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(ids) > AccountHoldersMax {
		return nil, pw.Errorf(pw.EINTERNAL, "auth.withParties: %d accounts, more than %d", len(ids), AccountHoldersMax)
	}
	holders, err := g.svc.store.AccountHolders(ctx, ids)
	if err != nil {
		return nil, err
	}
	party := func(id string) *pw.Party {
		h, ok := holders[id]
		if !ok {
			return nil
		}
		return partyOf(p, h)
	}
	out := make([]*pw.Transfer, len(ts))
	for i, t := range ts {
		c := *t
		c.FromParty, c.ToParty = party(t.FromAccount), party(t.ToAccount)
		out[i] = &c
	}
	return out, nil
}

// partyOf is what p may know of h.
func partyOf(p pw.Principal, h AccountHolder) *pw.Party {
	party := &pw.Party{Kind: h.Kind}
	switch h.Kind {
	case pw.AccountUser:
		if p.Kind == pw.PrincipalUser || p.Kind == pw.PrincipalOperator {
			party.Handle = h.Handle
		}
	case pw.AccountMerchant:
		party.Name = h.Name
	}
	return party
}
