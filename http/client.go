package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ResponseBytesMax bounds a response the client reads (a full batch's
// answer is a few MiB).
const ResponseBytesMax = 64 << 20

// Client implements peakwallet.LedgerService over the HTTP API, so that the
// CLI, the bench and the tests go through the real API.
//
// Money-moving calls send the Idempotency-Key in ctx
// (peakwallet.NewContextWithIdempotencyKey), or a fresh random one. To
// retry a call whose outcome is unknown (a network error), retry with the
// same key, which its error names (IdempotencyKey): it cannot move money
// twice.
type Client struct {
	base  string
	token string
	hc    *http.Client
	retry RetryPolicy
	// baseErr says why base cannot be called (checkBaseURL); nil if it can.
	baseErr error
}

var _ pw.LedgerService = (*Client)(nil)

// NewClient returns a client of the API at baseURL (such as
// "http://127.0.0.1:8080") with a bearer token; hc nil means
// http.DefaultClient. The client keeps a copy of *hc (sharing its
// Transport and Jar) that follows only reads' redirects: a change made to
// *hc afterwards (its Timeout, say) is not seen.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimRight(baseURL, "/")
	return &Client{base: base, baseErr: checkBaseURL(base), token: token, hc: followReadsOnly(hc), retry: DefaultRetryPolicy}
}

// checkBaseURL returns why base cannot be called: it does not parse, or is
// not an http or https URL with a host ("127.0.0.1:8080", without its
// scheme, is one or the other).
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not an http or https URL", base)
	case u.Host == "":
		return fmt.Errorf("%q has no host", base)
	}
	return nil
}

// RedirectsMax bounds the redirects a read follows (net/http's own limit).
const RedirectsMax = 10

// followReadsOnly returns a copy of hc (hc itself is left as it is, for
// its other users) that follows redirects of reads only. net/http follows
// a 301, 302 or 303 to a POST (or a DELETE) with a GET of the new
// location, without the body: the GET's 200 was decoded as the payment's
// answer, and a payment that was never made read as paid
// (TestClientPaymentRedirectedToAGetIsNotPaid). A 307 or 308 would send
// the POST again to wherever the redirect points. The API never redirects
// a write: such a redirect comes from something in front of it (a proxy
// sending http to https, a wrong base path), and the call fails with it
// (responseError).
func followReadsOnly(hc *http.Client) *http.Client {
	cc := *hc
	follow := hc.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
			return http.ErrUseLastResponse
		}
		if follow != nil {
			return follow(req, via)
		}
		if len(via) >= RedirectsMax {
			return fmt.Errorf("stopped after %d redirects", RedirectsMax)
		}
		return nil
	}
	return &cc
}

// CreateAccount implements peakwallet.LedgerService.
func (c *Client) CreateAccount(ctx context.Context, req pw.AccountCreate) (*pw.Account, error) {
	var a pw.Account
	return result(&a, c.money(ctx, "/v1/accounts", req, &a))
}

// Account implements peakwallet.LedgerService.
func (c *Client) Account(ctx context.Context, id string) (*pw.Account, error) {
	var a pw.Account
	return result(&a, c.get(ctx, "/v1/accounts/"+url.PathEscape(id), nil, &a))
}

// Accounts implements peakwallet.LedgerService.
func (c *Client) Accounts(ctx context.Context, page pw.Page) ([]*pw.Account, string, error) {
	return list[*pw.Account](ctx, c, "/v1/accounts", page, nil)
}

// Entries implements peakwallet.LedgerService.
func (c *Client) Entries(ctx context.Context, account string, page pw.Page) ([]*pw.Entry, string, error) {
	return list[*pw.Entry](ctx, c, "/v1/accounts/"+url.PathEscape(account)+"/entries", page, nil)
}

// CreateTransfer implements peakwallet.LedgerService.
func (c *Client) CreateTransfer(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, error) {
	var t pw.Transfer
	return result(&t, c.money(ctx, "/v1/transfers", req, &t))
}

// Transfer implements peakwallet.LedgerService.
func (c *Client) Transfer(ctx context.Context, id string) (*pw.Transfer, error) {
	var t pw.Transfer
	return result(&t, c.get(ctx, "/v1/transfers/"+url.PathEscape(id), nil, &t))
}

// Transfers implements peakwallet.LedgerService.
func (c *Client) Transfers(ctx context.Context, account string, page pw.Page) ([]*pw.Transfer, string, error) {
	q := url.Values{}
	if account != "" {
		q.Set("account", account)
	}
	return list[*pw.Transfer](ctx, c, "/v1/transfers", page, q)
}

// CreateBatch implements peakwallet.LedgerService.
func (c *Client) CreateBatch(ctx context.Context, req pw.BatchCreate) ([]pw.BatchResult, error) {
	var resp BatchResponse
	if err := c.money(ctx, "/v1/transfers/batch", req, &resp); err != nil {
		return nil, err
	}
	out := make([]pw.BatchResult, len(resp.Results))
	for i, item := range resp.Results {
		out[i] = pw.BatchResult{Status: item.Status, Transfer: item.Transfer}
		if item.Error != nil {
			// As responseError reads a problem: its field and its outcome
			// too (until 2026-11-29 only the code and the detail were
			// kept: TestClientBatchKeepsEachItemsField).
			out[i].Error = &pw.Error{Code: item.Error.Code, Message: item.Error.Detail, Field: item.Error.Field, Err: item.Error.Cause()}
		}
	}
	return out, nil
}

// Refund implements peakwallet.LedgerService.
func (c *Client) Refund(ctx context.Context, transferID string, req pw.RefundCreate) (*pw.Transfer, error) {
	var t pw.Transfer
	return result(&t, c.money(ctx, "/v1/transfers/"+url.PathEscape(transferID)+"/refunds", req, &t))
}

// CreateHold implements peakwallet.LedgerService.
func (c *Client) CreateHold(ctx context.Context, req pw.HoldCreate) (*pw.Hold, error) {
	var h pw.Hold
	return result(&h, c.money(ctx, "/v1/holds", req, &h))
}

// Hold implements peakwallet.LedgerService.
func (c *Client) Hold(ctx context.Context, id string) (*pw.Hold, error) {
	var h pw.Hold
	return result(&h, c.get(ctx, "/v1/holds/"+url.PathEscape(id), nil, &h))
}

// CaptureHold implements peakwallet.LedgerService.
func (c *Client) CaptureHold(ctx context.Context, id string, req pw.HoldCapture) (*pw.Transfer, error) {
	var t pw.Transfer
	return result(&t, c.money(ctx, "/v1/holds/"+url.PathEscape(id)+"/capture", req, &t))
}

// VoidHold implements peakwallet.LedgerService.
func (c *Client) VoidHold(ctx context.Context, id string) (*pw.Hold, error) {
	var h pw.Hold
	return result(&h, c.money(ctx, "/v1/holds/"+url.PathEscape(id)+"/void", None{}, &h))
}

// Status returns the server's state and load (GET /v1/status).
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return result(&s, c.get(ctx, "/v1/status", nil, &s))
}

// Currencies returns the supported currencies (GET /v1/currencies).
func (c *Client) Currencies(ctx context.Context) ([]CurrencyInfo, error) {
	var l List[CurrencyInfo]
	if err := c.get(ctx, "/v1/currencies", nil, &l); err != nil {
		return nil, err
	}
	return l.Data, nil
}

// Ready returns nil when the server answers /readyz with 200.
func (c *Client) Ready(ctx context.Context) error {
	var h Health
	return c.get(ctx, "/readyz", nil, &h)
}

// result returns v, or nil and err when the call failed.
func result[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// list fetches one page; pass the returned cursor in the next Page to
// follow it ("" is the last page).
func list[T any](ctx context.Context, c *Client, path string, page pw.Page, q url.Values) ([]T, string, error) {
	if q == nil {
		q = url.Values{}
	}
	if page.Limit != 0 {
		q.Set("limit", strconv.Itoa(page.Limit))
	}
	if page.Cursor != "" {
		q.Set("cursor", page.Cursor)
	}
	var l List[T]
	if err := c.get(ctx, path, q, &l); err != nil {
		return nil, "", err
	}
	return l.Data, l.NextCursor, nil
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.do(ctx, http.MethodGet, path, nil, "", out)
}

// money POSTs a money-moving request with its Idempotency-Key.
func (c *Client) money(ctx context.Context, path string, in, out any) error {
	cl, err := moneyRequest(ctx, path, in, out)
	if err != nil {
		return err
	}
	return c.send(ctx, cl)
}

// moneyRequest is the POST of a money-moving request: its body, and the
// Idempotency-Key in ctx or a fresh one, the same for every attempt.
func moneyRequest(ctx context.Context, path string, in, out any) (*call, error) {
	key := pw.IdempotencyKeyFromContext(ctx)
	if key == "" {
		key = NewIdempotencyKey()
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("http.Client: encode %T: %w", in, err)
	}
	return &call{method: http.MethodPost, path: path, body: body, key: key, out: out}, nil
}

// newRequest is a request to the API with the client's token, accepting
// accept or a problem.
//
// A request that cannot be made (the base URL cannot be called, the path
// does not parse) is invalid_request: nothing was sent, and sending it
// again cannot help. Until 2026-11-29 its error read as no answer, and a
// payment was tried for its whole backoff and ended outcome_unknown, "may
// have been applied" (TestClientCallThatCannotBeMadeIsNoUnknownOutcome).
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Request, error) {
	op := "http.Client " + method + " " + path
	if c.baseErr != nil {
		return nil, &pw.Error{Code: pw.EINVALID, Op: op, Message: "the client's base URL cannot be called; nothing was sent", Err: c.baseErr}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, &pw.Error{Code: pw.EINVALID, Op: op, Message: "the request cannot be made; nothing was sent", Err: err}
	}
	req.Header.Set("Accept", accept+", "+contentTypeProblem)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// call is one API call: its request, and where its answer goes.
type call struct {
	method, path string
	body         []byte
	key          string // Idempotency-Key, if any
	out          any    // a 2xx answer's body
	// accepted, when set, allows an asynchronous answer (Prefer:
	// respond-async) and receives a 202's body instead of out.
	accepted any
	// idempotent marks a POST without a key that is idempotent by what it
	// does (cancelling an intent: a second arrival finds it cancelled and
	// answers the same), and so may be sent again after a lost answer.
	idempotent bool
	status     int // the last attempt's status
}

// doOnce sends one attempt; send (retry.go) retries it.
func (c *Client) doOnce(ctx context.Context, cl *call) error {
	method, path, body := cl.method, cl.path, cl.body
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, path, rd, contentTypeJSON)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentTypeJSON)
	}
	if cl.key != "" {
		req.Header.Set(HeaderIdempotencyKey, cl.key)
	}
	var prefer []string
	if cl.accepted != nil {
		prefer = append(prefer, "respond-async")
	}
	if w := PreferWait(ctx.Deadline()); w != "" {
		prefer = append(prefer, w)
	} else if _, ok := ctx.Deadline(); ok {
		return fmt.Errorf("http.Client: %s %s: not sent: %w", method, path, errNoTimeLeft)
	}
	if len(prefer) > 0 {
		req.Header.Set("Prefer", strings.Join(prefer, ", "))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("http.Client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, ResponseBytesMax))
	if err != nil {
		return fmt.Errorf("http.Client: %s %s: read response: %w", method, path, err)
	}
	cl.status = resp.StatusCode
	if resp.StatusCode >= 300 {
		return responseError(method, path, resp, data)
	}
	out := cl.out
	if resp.StatusCode == http.StatusAccepted && cl.accepted != nil {
		out = cl.accepted
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("http.Client: %s %s: decode %d response: %w", method, path, resp.StatusCode, err)
	}
	return nil
}

// responseError turns a problem into the *peakwallet.Error it stands for,
// by its code member: codes are never rebuilt from the status. A response
// that is not a problem (a proxy's error page) is an internal error.
func responseError(method, path string, resp *http.Response, data []byte) error {
	op := "http.Client " + method + " " + path
	var p Problem
	if err := json.Unmarshal(data, &p); err == nil && p.Code != "" {
		return &pw.Error{Code: p.Code, Message: p.Detail, Field: p.Field, Op: op, Retry: ParseRetryAfter(resp.Header.Get("Retry-After")),
			Err: p.Cause()}
	}
	snippet := data
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	unexpected := fmt.Errorf("unexpected %s response (%s): %q", resp.Status, resp.Header.Get("Content-Type"), snippet)
	if resp.StatusCode < 400 && method != http.MethodGet && method != http.MethodHead {
		// A redirect of a write, not followed (followReadsOnly): not the
		// API's answer, and no sign that the API saw the request. It is
		// not sent again: the same redirect would come back.
		return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: unexpected,
			Message: fmt.Sprintf("redirected to %q, which the API never does for a %s: the request was not followed there; check the client's base URL", resp.Header.Get("Location"), method)}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// A gateway's rate limit (a proxy's, an API gateway's): it
		// refused the request before passing it on, as the API's own
		// 429 does, and the call is retried as after that one
		// (ErrGatewayRefused), no sooner than its Retry-After. Until
		// 2026-11-29 it was a final "internal" error
		// (TestClientRetriesAGatewaysRateLimit).
		return &gatewayError{op: op, retry: ParseRetryAfter(resp.Header.Get("Retry-After")), err: unexpected, refused: true}
	}
	if resp.StatusCode >= 500 {
		// Not the API's answer but a gateway's (a proxy or load balancer
		// in front of it: 502, 503, 504 …), which may have passed the
		// request on: no answer came from the API, as when a connection
		// drops, and the call is retried as such (ErrNoAPIAnswer), no
		// sooner than the gateway's Retry-After.
		return &gatewayError{op: op, retry: ParseRetryAfter(resp.Header.Get("Retry-After")), err: unexpected}
	}
	return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: unexpected}
}

// ErrNoAPIAnswer is wrapped by a client error when a 5xx came without the
// API's problem body: a gateway's answer, not the API's. Like a dropped
// connection, it says nothing of whether the request was applied.
var ErrNoAPIAnswer = errors.New("a gateway answered instead of the API")

// ErrGatewayRefused is wrapped by a client error when a 429 came without
// the API's problem body: a gateway's rate limit, which refused the
// request before it reached the API. Like the API's own 429, it moved
// nothing.
var ErrGatewayRefused = errors.New("a gateway in front of the API refused the request (429)")

// gatewayError is a gateway's 5xx (ErrNoAPIAnswer), or its 429
// (ErrGatewayRefused, refused), with the wait its Retry-After asked for. It is no *peakwallet.Error: it is no answer from
// the API, and the retries tell the two apart by that. The Retry-After is
// kept because a gateway in front of an API that is down or restarting
// sends it (a proxy's 503 with Retry-After: 2), and a client that drops it
// came back after 50 ms of backoff, six times in 1.5 s
// (TestClientHonoursAGatewaysRetryAfter).
type gatewayError struct {
	op    string
	retry time.Duration // the gateway's Retry-After; 0 if none
	err   error         // the unexpected answer
	// refused: a 429, which did not pass the request on; a 5xx may have.
	refused bool
}

func (e *gatewayError) Error() string {
	return e.op + ": " + e.sentinel().Error() + ": " + e.err.Error()
}

func (e *gatewayError) Unwrap() []error { return []error{e.sentinel(), e.err} }

func (e *gatewayError) sentinel() error {
	if e.refused {
		return ErrGatewayRefused
	}
	return ErrNoAPIAnswer
}

// RetryAfter is the least wait before err's request may be sent again:
// the Retry-After of the API's refusal or of a gateway's 5xx; 0 if none.
func RetryAfter(err error) time.Duration {
	var pe *pw.Error
	if errors.As(err, &pe) {
		return pe.Retry
	}
	var ge *gatewayError
	if errors.As(err, &ge) {
		return ge.retry
	}
	return 0
}

// NewIdempotencyKey returns a random key (128 bits, hex).
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
