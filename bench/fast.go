package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// FastClient is the overload generator's HTTP client. Offering three times
// a server's capacity from one core needs a client that costs a fraction
// of what the server spends on each request; Go's net/http client does
// not (it saturated the generator's core at about 9,000 requests a second
// and turned the excess into client-side timeouts that the server never
// saw). FastClient sends the three requests of the overload scenarios —
// a payment, an account read, the whole-ledger list — over fasthttp's
// pooled keep-alive connections; every other call goes to the wrapped
// client. It never retries: the bench counts each refusal.
//
// Answers are decoded as the real client decodes them: a success into the
// object, a problem into a *peakwallet.Error with its code and Retry-After.
//
// With several keys, requests take them in turn: a surge comes from many
// clients, and admission queues and sheds per client. A request with an
// Idempotency-Key always goes with the same API key (a hash of the
// idempotency key picks it), since idempotency keys are per principal: a
// retry sent as another principal would be a new payment.
type FastClient struct {
	pw.LedgerService // everything the overload scenarios do not send
	hc               *fasthttp.HostClient
	base             string
	auths            []string
	next             atomic.Uint64
	// conns holds a token for each request being sent or answered, at most
	// the pool's size: a request that finds none by its deadline was never
	// sent (ErrUnsent), which fasthttp's own wait for a connection would
	// report as the same timeout as a server that did not answer.
	conns chan struct{}
}

// ErrUnsent is wrapped, with context.DeadlineExceeded, by the error of a
// request that the generator could not send before its deadline: every
// connection it may open was busy with an earlier request. The server
// never saw it; the reports count it as client_unsent.
var ErrUnsent = errors.New("not sent: every connection of the generator was busy")

// NewFastClient returns a client of the server at base (http:// only)
// with at most conns connections, sending keys in turn; a request waits
// for a free connection until its context's deadline.
func NewFastClient(base string, keys []string, conns int, rest pw.LedgerService) (*FastClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("bench: the fast client needs an http:// URL, not %q", base)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("bench: the fast client needs a key")
	}
	auths := make([]string, len(keys))
	for i, k := range keys {
		auths[i] = "Bearer " + k
	}
	return &FastClient{
		LedgerService: rest,
		base:          strings.TrimRight(base, "/"),
		auths:         auths,
		conns:         make(chan struct{}, conns),
		hc: &fasthttp.HostClient{
			Addr:                      u.Host,
			MaxConns:                  conns,
			MaxConnWaitTimeout:        time.Minute, // bounded by each request's deadline
			MaxIdemponentCallAttempts: 1,
			NoDefaultUserAgentHeader:  true,
		},
	}, nil
}

// CreateTransfer sends POST /v1/transfers with the context's idempotency key.
func (c *FastClient) CreateTransfer(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, error) {
	var t pw.Transfer
	if _, err := c.createTransfer(ctx, req, false, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateTransferAsync is CreateTransfer with Prefer: respond-async:
// intentID is the intent's when the server answered 202 (the payment is in
// its surge queue) rather than 201, and "" then.
func (c *FastClient) CreateTransferAsync(ctx context.Context, req pw.TransferCreate) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	status, err := c.createTransfer(ctx, req, true, &out)
	if err != nil || status != http.StatusAccepted {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("bench: a 202 without its intent's id")
	}
	return out.ID, nil
}

// Intent sends GET /v1/intents/{id}.
func (c *FastClient) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	var in pw.Intent
	if err := c.do(ctx, fasthttp.MethodGet, "/v1/intents/"+url.PathEscape(id), nil, "", &in); err != nil {
		return nil, err
	}
	return &in, nil
}

func (c *FastClient) createTransfer(ctx context.Context, req pw.TransferCreate, async bool, out any) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	key := pw.IdempotencyKeyFromContext(ctx)
	if key == "" {
		key = pwhttp.NewIdempotencyKey()
	}
	return c.send(ctx, fasthttp.MethodPost, "/v1/transfers", body, key, async, out)
}

// Account sends GET /v1/accounts/{id}.
func (c *FastClient) Account(ctx context.Context, id string) (*pw.Account, error) {
	var a pw.Account
	if err := c.do(ctx, fasthttp.MethodGet, "/v1/accounts/"+url.PathEscape(id), nil, "", &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Transfers sends GET /v1/transfers (the report class when account is "").
func (c *FastClient) Transfers(ctx context.Context, account string, page pw.Page) ([]*pw.Transfer, string, error) {
	q := url.Values{}
	if account != "" {
		q.Set("account", account)
	}
	if page.Limit > 0 {
		q.Set("limit", fmt.Sprint(page.Limit))
	}
	if page.Cursor != "" {
		q.Set("cursor", page.Cursor)
	}
	path := "/v1/transfers"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l pwhttp.List[*pw.Transfer]
	if err := c.do(ctx, fasthttp.MethodGet, path, nil, "", &l); err != nil {
		return nil, "", err
	}
	return l.Data, l.NextCursor, nil
}

// auth is the Authorization of a request with idempotency key key ("" for
// none): the keys in turn, or the one key's hash picks.
func (c *FastClient) auth(key string) string {
	n := uint64(len(c.auths))
	if key == "" || n == 1 {
		return c.auths[c.next.Add(1)%n]
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return c.auths[h.Sum64()%n]
}

// do sends one request and decodes its answer into out.
func (c *FastClient) do(ctx context.Context, method, path string, body []byte, key string, out any) error {
	_, err := c.send(ctx, method, path, body, key, false, out)
	return err
}

// send sends one request (asking respond-async if async) and decodes its
// answer into out; it returns the status.
func (c *FastClient) send(ctx context.Context, method, path string, body []byte, key string, async bool, out any) (int, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(pwhttp.ClientCallTimeout)
	}
	select {
	case c.conns <- struct{}{}:
	default:
		t := time.NewTimer(time.Until(deadline))
		select {
		case c.conns <- struct{}{}:
			t.Stop()
		case <-t.C:
			return 0, fmt.Errorf("bench: %s %s: %w (%w)", method, path, context.DeadlineExceeded, ErrUnsent)
		}
	}
	defer func() { <-c.conns }()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.base + path)
	req.Header.SetMethod(method)
	req.Header.Set("Authorization", c.auth(key))
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if key != "" {
		req.Header.Set(pwhttp.HeaderIdempotencyKey, key)
	}
	prefer := pwhttp.PreferWait(deadline, true) // as the Go client does
	if async {
		prefer = strings.TrimSuffix("respond-async, "+prefer, ", ")
	}
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrNoFreeConns) {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return 0, fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	if st := resp.StatusCode(); st >= 300 {
		var p pwhttp.Problem
		if err := json.Unmarshal(resp.Body(), &p); err != nil || p.Code == "" {
			return st, &StatusError{Status: st, Err: &pw.Error{Code: pw.EINTERNAL, Op: "bench " + method + " " + path,
				Err: fmt.Errorf("unexpected %d response: %.200q", st, resp.Body())}}
		}
		return st, &StatusError{Status: st, Err: &pw.Error{Code: p.Code, Message: p.Detail, Op: "bench " + method + " " + path,
			Retry: pwhttp.ParseRetryAfter(string(resp.Header.Peek("Retry-After"))), Err: p.Cause()}}
	}
	return resp.StatusCode(), json.Unmarshal(resp.Body(), out)
}

// StatusError is a problem the server answered, with the HTTP status it
// came with: the code alone does not make a refusal honest (a 500 whose
// body says "busy" is a 500), so the reports judge both (outcomeCode).
type StatusError struct {
	Status int
	Err    *pw.Error
}

func (e *StatusError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Err) }
func (e *StatusError) Unwrap() error { return e.Err }
