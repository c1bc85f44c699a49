package http_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

const fuzzBodyBytesMax = 4096

// decodeTransfer is the server's path for a transfer body: read with a
// limit, decode strictly, validate.
func decodeTransfer(data []byte) (*pw.TransferCreate, error) {
	r := httptest.NewRequest("POST", "/v1/transfers", bytes.NewReader(data))
	r.Header.Set("Content-Type", "application/json")
	body, err := pwhttp.ReadBody(httptest.NewRecorder(), r, fuzzBodyBytesMax)
	if err != nil {
		return nil, err
	}
	var req pw.TransferCreate
	if err := pwhttp.DecodeJSON(body, &req); err != nil {
		return nil, err
	}
	return &req, req.Validate()
}

func FuzzDecodeTransfer(f *testing.F) {
	for _, seed := range []string{
		`{"from_account":"acc_a","to_account":"acc_b","amount":100,"currency":"EUR"}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":1.5,"currency":"EUR"}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":1e3,"currency":"EUR"}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":"100","currency":"EUR"}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":9223372036854775808,"currency":"EUR"}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":-9223372036854775809,"currency":"EUR"}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":100,"currency":"EUR"} {}`,
		`{"from_account":"acc_a","to_account":"acc_b","amount":100,"currency":"EUR","fee":1}`,
		`{"from_account":"acc_a","to_account":"acc_a","amount":100,"currency":"EUR"}`,
		`{"metadata":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
		`{"metadata":` + strings.Repeat(`[`, 20000) + `}`,
		`{"description":"` + strings.Repeat("x", fuzzBodyBytesMax) + `"}`,
		`{"amount":-0,"currency":"eur"}`,
		`{"amount":100,"amount":200}`,
		`{"description":"\ud800"}`,
		"{\"description\":\"\xff\"}",
		`null`, `[]`, `""`, `1`, ``, ` `, `{`, `}`, `{"a"`, `{"amount":}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeTransfer(data)
		if err == nil {
			if req.Amount <= 0 || req.FromAccount == req.ToAccount || !req.Currency.Valid() {
				t.Fatalf("accepted an invalid request %+v from %q", req, data)
			}
			return
		}
		var pe *pw.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %v (%T) is not a *peakwallet.Error", err, err)
		}
		switch pe.Code {
		case pw.EINVALID, pw.ETOOLARGE, pw.ESAMEACCOUNT:
		default:
			t.Fatalf("code %q for %q", pe.Code, data)
		}
		// Whatever it is, it renders as a 4xx problem.
		w := httptest.NewRecorder()
		pwhttp.Error(w, httptest.NewRequest("POST", "/v1/transfers", nil), err)
		var p pwhttp.Problem
		if json.Unmarshal(w.Body.Bytes(), &p) != nil || w.Code < 400 || w.Code >= 500 || p.Code != pe.Code {
			t.Fatalf("rendered %d %s", w.Code, w.Body)
		}
	})
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		body    string
		field   string
		message string // a part of the detail
	}{
		{`{"amount":1.5}`, "amount", "integer"},
		{`{"amount":1e3}`, "amount", "integer"},
		{`{"amount":"100"}`, "amount", "not a string"},
		{`{"amount":9223372036854775808}`, "amount", "out of range"},
		{`{"amount":true}`, "amount", "not a bool"},
		{`{"currency":5}`, "currency", "must be a string"},
		{`{"metadata":{"a":1}}`, "metadata", "must be a string"},
		{`{"metadata":[]}`, "metadata", "must be an object"},
		{`{"fee":1}`, "fee", "unknown member"},
		{`{"amount":1,"amount":2}`, "amount", "more than once"},
		{`{"amount":1,"\u0061mount":2}`, "amount", "more than once"},
		{`{"Amount":1}`, "Amount", "case-sensitive"},
		{`{"metadata":{"k":"a","k":"b"}}`, "metadata", "more than once"},
		{`{"description":"a\\\"b}],\\\\","amount":1,"amount":2}`, "amount", "more than once"},
		{`{"description":"\\u0022amount\\u0022:","metadata":{"k":"{","K":"}"},"Metadata":{}}`, "Metadata", "case-sensitive"},
		{`{"amount":1}x`, "", "after the JSON object"},
		{`{"amount":1}{"amount":2}`, "", "after the JSON object"},
		{`{"amount":01}`, "", "malformed JSON"},
		{`{"amount":1,}`, "", "malformed JSON"},
		{`{"amount":1`, "", "ends early"},
		{`[{"amount":1}]`, "", "JSON object"},
		{``, "", "required"},
		{`{"metadata":` + strings.Repeat(`[`, 20000) + `}`, "", "malformed JSON"},
		{`{"amount":null}`, "amount", "not null"},
		{`{"amount": null ,"currency":"EUR"}`, "amount", "not null"},
		{"{\"description\":\"caf\xe9\"}", "description", "not valid UTF-8 at byte 19"},
		{"{\"description\":\"ok\",\"metadata\":{\"k\":\"\xc3\x28\"}}", "metadata", "not valid UTF-8 at byte 37"},
		{"{\"metadata\":{\"\xff\":\"v\"}}", "metadata", "not valid UTF-8 at byte 14"},
		{"{\"description\":\"\xed\xa0\x80\"}", "description", "not valid UTF-8"}, // a surrogate in UTF-8
		{`{"description":"a\ud800"}`, "description", "not valid UTF-8 at byte 17"},
		{`{"description":"\udc00\ud83d\ude00"}`, "description", "not valid UTF-8 at byte 16"},
		{`{"description":"\ud83d\u0041"}`, "description", "not valid UTF-8 at byte 16"},
		{`{"description":"\\ud83d\ud83d"}`, "description", "not valid UTF-8 at byte 23"},
	}
	for _, tt := range tests {
		var req pw.TransferCreate
		err := pwhttp.DecodeJSON([]byte(tt.body), &req)
		p := pwhttp.ProblemFor(err)
		if p.Code != pw.EINVALID || p.Field != tt.field || !strings.Contains(p.Detail, tt.message) {
			t.Errorf("%.60s: %+v, want field %q and %q", tt.body, p, tt.field, tt.message)
		}
	}
	var req pw.TransferCreate
	if err := pwhttp.DecodeJSON([]byte(" {\"amount\": 9223372036854775807}\r\n\t "), &req); err != nil || req.Amount != 1<<63-1 {
		t.Fatalf("largest int64 with whitespace: %v %d", err, req.Amount)
	}
	// Text is taken as it is sent: other scripts, a pair of surrogate
	// escapes, an escaped backslash before a "u".
	for body, want := range map[string]string{
		`{"description":"Zoë 珈琲 ☕"}`:            "Zoë 珈琲 ☕",
		`{"description":"\ud83d\ude00 \u00e9"}`: "😀 é",
		`{"description":"\\ud800"}`:             `\ud800`,
		`{"description":null}`:                  "",
	} {
		var req pw.TransferCreate
		if err := pwhttp.DecodeJSON([]byte(body), &req); err != nil || req.Description != want {
			t.Errorf("%s: %v %q, want %q", body, err, req.Description, want)
		}
	}
}

func TestReadBody(t *testing.T) {
	for _, tt := range []struct {
		ct, body string
		code     string
	}{
		{"application/json", `{}`, ""},
		{"application/json; charset=utf-8", `{}`, ""},
		{"", ``, ""}, // no body, no type needed
		{"", `{}`, pw.EINVALID},
		{"text/plain", `{}`, pw.EINVALID},
		{"application/json", strings.Repeat(" ", 101), pw.ETOOLARGE},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		if tt.ct != "" {
			r.Header.Set("Content-Type", tt.ct)
		}
		_, err := pwhttp.ReadBody(httptest.NewRecorder(), r, 100)
		if got := pw.ErrorCode(err); got != tt.code {
			t.Errorf("%q %q: code %q, want %q", tt.ct, tt.body, got, tt.code)
		}
	}
}
