package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// endpoint is how a route is served and what it takes and answers; the
// makers below infer the types from the handler, so the OpenAPI document
// cannot drift from the code.
type endpoint struct {
	request  reflect.Type // nil: no body
	response reflect.Type // nil: not JSON
	list     bool
	build    func(s *Server, rt *Route) http.Handler
}

// moneyCall is the ledger call of a money-moving route.
type moneyCall[Req, Resp any] struct {
	validate func(*Req) error
	// given, when set, checks the body for what its decoding cannot
	// tell apart from an absent member.
	given func(body []byte) error
	call  func(ctx context.Context, l Ledger, r *http.Request, req *Req) (Resp, error)
}

// moneyRoute serves a money-moving POST: Idempotency-Key, strict body,
// validation (all before the key is claimed, so that a bad request does not
// use the key up), then the ledger call under the claim.
func moneyRoute[Req, Resp any](mc moneyCall[Req, Resp]) endpoint {
	var zero Resp
	return endpoint{
		request:  reflect.TypeFor[Req](),
		response: reflect.TypeOf(present(zero)),
		build: func(s *Server, rt *Route) http.Handler {
			if rt.Public || !rt.MovesMoney || rt.BodyMax <= 0 {
				panic(fmt.Sprintf("http: money route %s must be authenticated, idempotent and take a body", rt.Pattern()))
			}
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key, err := idempotencyKey(r)
				if err != nil {
					Error(w, r, err)
					return
				}
				body, err := ReadBody(w, r, rt.BodyMax)
				if err != nil {
					Error(w, r, err)
					return
				}
				req := new(Req)
				if len(body) > 0 || !rt.BodyOptional {
					if err := DecodeJSON(body, req); err != nil {
						Error(w, r, err)
						return
					}
				}
				if err := checkPathID(r); err != nil {
					Error(w, r, err)
					return
				}
				if mc.given != nil {
					if err := mc.given(body); err != nil {
						Error(w, r, err)
						return
					}
				}
				if err := mc.validate(req); err != nil {
					Error(w, r, err)
					return
				}
				// A step-up's message code is bound to the request's key
				// (auth.NewContextWithPaymentKey): a context value, no read.
				ctx := auth.NewContextWithPaymentKey(r.Context(), key)
				if code := r.Header.Get(HeaderMFACode); code != "" {
					ctx = auth.NewContextWithMFACode(ctx, code)
				}
				r = r.WithContext(ctx)
				s.serveIdempotent(w, r, rt, key, body, func(ctx context.Context) (any, error) {
					return mc.call(ctx, s.ledger, r, req)
				})
			})
		},
	}
}

// None is the body of routes that take no parameters: empty or {}.
type None struct{}

func noValidation[T any](*T) error { return nil }

var (
	createAccount = moneyCall[pw.AccountCreate, *pw.Account]{
		validate: (*pw.AccountCreate).Validate,
		call: func(ctx context.Context, l Ledger, _ *http.Request, req *pw.AccountCreate) (*pw.Account, error) {
			return l.CreateAccount(ctx, *req)
		},
	}
	createTransfer = moneyCall[pw.TransferCreate, *pw.Transfer]{
		validate: (*pw.TransferCreate).Validate,
		call: func(ctx context.Context, l Ledger, _ *http.Request, req *pw.TransferCreate) (*pw.Transfer, error) {
			return l.CreateTransfer(ctx, *req)
		},
	}
	// createBatch validates only the batch's size here: each item is
	// validated by the ledger, so that one bad item fails only itself
	// (or, with atomic, the batch).
	createBatch = moneyCall[pw.BatchCreate, []pw.BatchResult]{
		validate: (*pw.BatchCreate).Validate,
		call: func(ctx context.Context, l Ledger, _ *http.Request, req *pw.BatchCreate) ([]pw.BatchResult, error) {
			return l.CreateBatch(ctx, *req)
		},
	}
	createRefund = moneyCall[pw.RefundCreate, *pw.Transfer]{
		validate: (*pw.RefundCreate).Validate,
		given:    amountNotZero,
		call: func(ctx context.Context, l Ledger, r *http.Request, req *pw.RefundCreate) (*pw.Transfer, error) {
			return l.Refund(ctx, r.PathValue("id"), *req)
		},
	}
	createHold = moneyCall[pw.HoldCreate, *pw.Hold]{
		validate: (*pw.HoldCreate).Validate,
		call: func(ctx context.Context, l Ledger, _ *http.Request, req *pw.HoldCreate) (*pw.Hold, error) {
			return l.CreateHold(ctx, *req)
		},
	}
	captureHold = moneyCall[pw.HoldCapture, *pw.Transfer]{
		validate: (*pw.HoldCapture).Validate,
		given:    amountNotZero,
		call: func(ctx context.Context, l Ledger, r *http.Request, req *pw.HoldCapture) (*pw.Transfer, error) {
			return l.CaptureHold(ctx, r.PathValue("id"), *req)
		},
	}
	voidHold = moneyCall[None, *pw.Hold]{
		validate: noValidation[None],
		call: func(ctx context.Context, l Ledger, r *http.Request, _ *None) (*pw.Hold, error) {
			return l.VoidHold(ctx, r.PathValue("id"))
		},
	}
)

// amountNotZero refuses an amount of 0 that the client sent where an
// absent amount means "all" (a refund's remainder, a capture's whole
// hold): like a payment of 0 it is a mistake, not a request for
// everything. Until 2026-11-29 {"amount":0} refunded the whole transfer
// and captured the whole hold
// (TestAnExplicitZeroAmountRefundsAndCapturesNothing). A null, which
// decodes as absent, is refused by DecodeJSON, as for every number
// member (since the same day).
func amountNotZero(body []byte) error {
	var given struct {
		Amount *int64 `json:"amount"`
	}
	// The body was decoded strictly already: names are exact, none repeats.
	if json.Unmarshal(body, &given) == nil && given.Amount != nil && *given.Amount == 0 {
		return pw.FieldErrorf("amount", pw.EINVALID, "amount must be a positive integer count of minor units, or absent for all")
	}
	return nil
}

// idPrefixes names the ID type of each collection's {id}, and the code for
// an ID of the wrong shape: it cannot exist, so it is simply not found.
var idPrefixes = map[string]struct {
	prefix string
	code   string
}{
	"accounts":  {pw.PrefixAccount, pw.EACCOUNTNOTFOUND},
	"transfers": {pw.PrefixTransfer, pw.ENOTFOUND},
	"holds":     {pw.PrefixHold, pw.ENOTFOUND},
}

// checkPathID answers not found, without asking the store, for an {id}
// that cannot name an object of its collection.
func checkPathID(r *http.Request) error {
	id := r.PathValue("id")
	if id == "" || r.Pattern == "" {
		return nil
	}
	collection := collectionOf(r.Pattern)
	want, ok := idPrefixes[collection]
	if !ok || pw.IDHasPrefix(id, want.prefix) {
		return nil
	}
	if want.code == pw.EACCOUNTNOTFOUND {
		return pw.Errorf(want.code, "account %q not found", id)
	}
	return pw.Errorf(want.code, "%s %q not found", collection[:len(collection)-1], id)
}

// collectionOf returns the segment after /v1/ of a pattern such as
// "GET /v1/holds/{id}".
func collectionOf(pattern string) string {
	_, rest, ok := strings.Cut(pattern, "/v1/")
	if !ok {
		return ""
	}
	collection, _, _ := strings.Cut(rest, "/")
	return collection
}
