package ledger

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// Account returns one account.
func (l *Ledger) Account(ctx context.Context, id string) (*pw.Account, error) {
	return l.store.Account(ctx, id)
}

// Transfer returns one transfer, with the amount refunded so far.
func (l *Ledger) Transfer(ctx context.Context, id string) (*pw.Transfer, error) {
	return l.store.Transfer(ctx, id)
}

// Hold returns one hold. A pending hold past its expiry reads "expired"
// even if the expiry loop has not released it yet.
func (l *Ledger) Hold(ctx context.Context, id string) (*pw.Hold, error) {
	h, err := l.store.Hold(ctx, id)
	if err == nil && h.Status == pw.HoldPending && !h.ExpiresAt.After(l.clock()) {
		h.Status = pw.HoldExpired
	}
	return h, err
}

// Accounts lists accounts in ID order.
func (l *Ledger) Accounts(ctx context.Context, page pw.Page) ([]*pw.Account, string, error) {
	limit, after, err := pageArgs(page, "a")
	if err != nil {
		return nil, "", err
	}
	list, err := l.store.Accounts(ctx, after, limit+1)
	return pageOf(list, limit, err, "a", func(a *pw.Account) string { return a.ID })
}

// Transfers lists transfers newest first; account, when set, filters.
// An account's transfers are read through its entries (one per transfer,
// newest first), so their cursor is an entry sequence.
func (l *Ledger) Transfers(ctx context.Context, account string, page pw.Page) ([]*pw.Transfer, string, error) {
	if account == "" {
		limit, before, err := pageArgs(page, "t")
		if err != nil {
			return nil, "", err
		}
		list, err := l.store.Transfers(ctx, before, limit+1)
		return pageOf(list, limit, err, "t", func(t *pw.Transfer) string { return t.ID })
	}
	entries, next, err := l.entriesPage(ctx, account, page, "at")
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.TransferID
	}
	byID, err := l.store.TransfersByID(ctx, ids)
	if err != nil {
		return nil, "", err
	}
	list := make([]*pw.Transfer, 0, len(entries))
	for _, id := range ids {
		t, ok := byID[id]
		if !ok {
			return nil, "", l.broken("entry names transfer %s, which does not exist", id)
		}
		list = append(list, t)
	}
	return list, next, nil
}

// Entries lists an account's entries newest first.
func (l *Ledger) Entries(ctx context.Context, account string, page pw.Page) ([]*pw.Entry, string, error) {
	return l.entriesPage(ctx, account, page, "e")
}

// entriesPage reads one page of an account's entries; tag keeps the
// cursors of the entry and transfer lists apart.
func (l *Ledger) entriesPage(ctx context.Context, account string, page pw.Page, tag string) ([]*pw.Entry, string, error) {
	limit, cur, err := pageArgs(page, tag)
	if err != nil {
		return nil, "", err
	}
	var before int64
	if cur != "" {
		if before, err = strconv.ParseInt(cur, 10, 64); err != nil || before <= 0 {
			return nil, "", errCursor
		}
	}
	if _, err := l.store.Account(ctx, account); err != nil {
		return nil, "", err
	}
	list, err := l.store.Entries(ctx, account, before, limit+1)
	return pageOf(list, limit, err, tag, func(e *pw.Entry) string { return strconv.FormatInt(e.Seq, 10) })
}

var errCursor = pw.Errorf(pw.EINVALID, "cursor is not one this list returned")

// pageArgs checks the limit and decodes the cursor, which is opaque to
// clients: base64url of a list tag and a position, so that a cursor of one
// list is refused by another.
func pageArgs(p pw.Page, tag string) (limit int, pos string, err error) {
	limit = p.Limit
	if limit == 0 {
		limit = pw.PageLimitDefault
	}
	if limit < 1 || limit > pw.PageLimitMax {
		return 0, "", pw.Errorf(pw.EINVALID, "limit must be between 1 and %d", pw.PageLimitMax)
	}
	if p.Cursor == "" {
		return limit, "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return 0, "", errCursor
	}
	pos, ok := strings.CutPrefix(string(raw), tag+":")
	if !ok || pos == "" {
		return 0, "", errCursor
	}
	return limit, pos, nil
}

// pageOf trims the one extra item fetched to learn whether a next page exists.
func pageOf[T any](list []T, limit int, err error, tag string, pos func(T) string) ([]T, string, error) {
	if err != nil {
		return nil, "", err
	}
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit]
	return list, base64.RawURLEncoding.EncodeToString([]byte(tag + ":" + pos(list[limit-1]))), nil
}
