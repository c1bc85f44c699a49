package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/peakwallet/peakwallet/auth"
)

// CreateOperator creates an operator with a role (admin only); the answer
// carries its key, shown this once. It carries no Idempotency-Key, so an
// attempt whose answer was lost is not sent again (it could create a
// second operator): the call ends outcome_unknown.
func (c *Client) CreateOperator(ctx context.Context, req auth.OperatorCreate) (*auth.NewOperator, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("http.Client: encode: %w", err)
	}
	var o auth.NewOperator
	return result(&o, c.do(ctx, http.MethodPost, "/v1/operators", body, "", &o))
}

// OpsSummary reads the server's load in numbers (operators only): requests,
// busy answers, latency, ledger commits and admission control's counters.
func (c *Client) OpsSummary(ctx context.Context) (*OpsSummary, error) {
	var s OpsSummary
	return result(&s, c.do(ctx, http.MethodGet, "/v1/ops/summary", nil, "", &s))
}

// LookUpUser finds the user whose handle is handle, in any spelling
// (operators only): their facts and wallets with balances. The server
// audits every look-up; an unknown handle is user_not_found.
func (c *Client) LookUpUser(ctx context.Context, handle string) (*auth.CustomerView, error) {
	var v auth.CustomerView
	path := "/v1/users?" + url.Values{"handle": {handle}}.Encode()
	return result(&v, c.do(ctx, http.MethodGet, path, nil, "", &v))
}

// LookUpUserByID reads the user whose ID is id, as an account's owner_id
// names them (operators only): the same view as LookUpUser, and audited
// the same; an unknown ID is user_not_found.
func (c *Client) LookUpUserByID(ctx context.Context, id string) (*auth.CustomerView, error) {
	var v auth.CustomerView
	return result(&v, c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(id), nil, "", &v))
}
