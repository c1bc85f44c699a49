package http

import (
	"context"
	"net/http"
	"reflect"
	"strconv"

	pw "github.com/peakwallet/peakwallet"
)

// CursorBytesMax bounds the opaque cursor a client sends back.
const CursorBytesMax = 512

// readRoute serves a GET of one object.
func readRoute[Resp any](call func(ctx context.Context, l Ledger, r *http.Request) (Resp, error)) endpoint {
	return endpoint{
		response: reflect.TypeFor[Resp](),
		build: func(s *Server, rt *Route) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := checkPathID(r); err != nil {
					Error(w, r, err)
					return
				}
				v, err := call(r.Context(), s.ledger, r)
				if err != nil {
					Error(w, r, err)
					return
				}
				writeJSON(w, rt.Status, v)
			})
		},
	}
}

// listRoute serves a GET of one page of a list.
func listRoute[T any](call func(ctx context.Context, l Ledger, r *http.Request, page pw.Page) ([]T, string, error)) endpoint {
	return endpoint{
		response: reflect.TypeFor[T](),
		list:     true,
		build: func(s *Server, rt *Route) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				page, err := ParsePage(r)
				if err != nil {
					Error(w, r, err)
					return
				}
				if err := checkPathID(r); err != nil {
					Error(w, r, err)
					return
				}
				items, next, err := call(r.Context(), s.ledger, r, page)
				if err != nil {
					Error(w, r, err)
					return
				}
				if items == nil {
					items = []T{} // "data": [], never null
				}
				writeJSON(w, rt.Status, List[T]{Data: items, NextCursor: next})
			})
		},
	}
}

// ParsePage reads ?limit= (1..PageLimitMax, default PageLimitDefault) and
// ?cursor= (opaque). A bad value is invalid_request, never silently clamped.
func ParsePage(r *http.Request) (pw.Page, error) {
	q := r.URL.Query()
	page := pw.Page{Limit: pw.PageLimitDefault, Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > pw.PageLimitMax {
			return pw.Page{}, pw.FieldErrorf("limit", pw.EINVALID, "limit must be an integer from 1 to %d", pw.PageLimitMax)
		}
		page.Limit = n
	}
	if len(page.Cursor) > CursorBytesMax {
		return pw.Page{}, pw.FieldErrorf("cursor", pw.EINVALID, "cursor must be at most %d bytes", CursorBytesMax)
	}
	return page, nil
}

func getAccount(ctx context.Context, l Ledger, r *http.Request) (*pw.Account, error) {
	return l.Account(ctx, r.PathValue("id"))
}

func getTransfer(ctx context.Context, l Ledger, r *http.Request) (*pw.Transfer, error) {
	return l.Transfer(ctx, r.PathValue("id"))
}

func getHold(ctx context.Context, l Ledger, r *http.Request) (*pw.Hold, error) {
	return l.Hold(ctx, r.PathValue("id"))
}

func listAccounts(ctx context.Context, l Ledger, _ *http.Request, page pw.Page) ([]*pw.Account, string, error) {
	return l.Accounts(ctx, page)
}

func listEntries(ctx context.Context, l Ledger, r *http.Request, page pw.Page) ([]*pw.Entry, string, error) {
	return l.Entries(ctx, r.PathValue("id"), page)
}

func listAccountTransfers(ctx context.Context, l Ledger, r *http.Request, page pw.Page) ([]*pw.Transfer, string, error) {
	return l.Transfers(ctx, r.PathValue("id"), page)
}

// listTransfers lists all transfers, or with ?account= those of one
// account (an unknown account is account_not_found, not an empty list).
func listTransfers(ctx context.Context, l Ledger, r *http.Request, page pw.Page) ([]*pw.Transfer, string, error) {
	account := r.URL.Query().Get("account")
	if account != "" && !pw.IDHasPrefix(account, pw.PrefixAccount) {
		return nil, "", pw.Errorf(pw.EACCOUNTNOTFOUND, "account %q not found", account)
	}
	return l.Transfers(ctx, account, page)
}
