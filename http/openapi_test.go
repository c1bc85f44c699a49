package http_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

func TestOpenAPI(t *testing.T) {
	e := MustOpenEnv(t)
	r := e.Do(t, "GET", "/v1/openapi.json", "", map[string]string{"Authorization": ""})
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", r.Status, r.Header)
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas         map[string]json.RawMessage `json:"schemas"`
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Components.SecuritySchemes["bearer"] == nil {
		t.Fatalf("openapi %q, security schemes %v", doc.OpenAPI, doc.Components.SecuritySchemes)
	}

	routes := pwhttp.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.Pattern()] || seen[rt.Name] {
			t.Errorf("duplicate route or name: %s %s", rt.Pattern(), rt.Name)
		}
		seen[rt.Pattern()], seen[rt.Name] = true, true
		raw := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if raw == nil {
			t.Errorf("%s is missing from the document", rt.Pattern())
			continue
		}
		var op struct {
			OperationID string            `json:"operationId"`
			Security    []json.RawMessage `json:"security"`
			Parameters  []struct {
				Ref  string `json:"$ref"`
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			RequestBody *struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"requestBody"`
			Responses map[string]json.RawMessage `json:"responses"`
			Class     string                     `json:"x-priority-class"`
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		params := map[string]bool{}
		for _, p := range op.Parameters {
			params[p.Ref+p.In+":"+p.Name] = true
		}
		switch {
		case op.OperationID != rt.Name || op.Class != string(rt.Class):
			t.Errorf("%s: operationId %q class %q", rt.Pattern(), op.OperationID, op.Class)
		case rt.Public != (op.Security != nil && len(op.Security) == 0):
			t.Errorf("%s: public %v but security %v", rt.Pattern(), rt.Public, op.Security)
		case rt.MovesMoney != params["#/components/parameters/IdempotencyKey:"]:
			t.Errorf("%s: Idempotency-Key parameter is %v", rt.Pattern(), !rt.MovesMoney)
		case rt.Paginated() != params["#/components/parameters/Limit:"]:
			t.Errorf("%s: pagination parameters do not match", rt.Pattern())
		case strings.Contains(rt.Path, "{id}") && !params["path:id"]:
			t.Errorf("%s: no path parameter id", rt.Pattern())
		case op.Responses[itoa(rt.Status)] == nil || op.Responses["default"] == nil:
			t.Errorf("%s: responses %v", rt.Pattern(), op.Responses)
		case rt.MovesMoney && (op.RequestBody == nil) != (rt.Request().NumField() == 0):
			t.Errorf("%s: request body documented %v", rt.Pattern(), op.RequestBody != nil)
		case rt.MovesMoney && !params["#/components/parameters/Prefer:"]:
			t.Errorf("%s: no Prefer parameter (wait=N)", rt.Pattern())
		case rt.Status != 202 && rt.Async != (op.Responses["202"] != nil):
			t.Errorf("%s: a 202 documented %v", rt.Pattern(), !rt.Async)
		case rt.Async && !strings.Contains(string(op.Responses["202"]), `"Location"`):
			t.Errorf("%s: its 202 has no Location: %s", rt.Pattern(), op.Responses["202"])
		case rt.Stream && !strings.Contains(string(op.Responses[itoa(rt.Status)]), `"text/event-stream"`):
			t.Errorf("%s: a stream documented as %s", rt.Pattern(), op.Responses[itoa(rt.Status)])
		}
	}

	for name, want := range map[string]string{
		"TransferCreate": `"amount":{"format":"int64","type":"integer"}`,
		"Account":        `"overdraft_limit":{"format":"int64","type":"integer"}`,
		"Balance":        `"available":{"format":"int64","type":"integer"}`,
		"Problem":        `"required":["type","title","status","code"]`,
		"Transfer":       `"created_at":{"format":"date-time","type":"string"}`,
		"BatchResponse":  `"results"`,
		"EntryList":      `"next_cursor"`,
		"AccountCreate":  `"required":["kind","currency"]`,
		"Intent":         `"queue_position":{"$ref":"#/components/schemas/IntentPlace"`,
		"IntentPlace":    `"required":["ahead","ahead_at_least"]`,
	} {
		if s := string(doc.Components.Schemas[name]); !strings.Contains(s, want) {
			t.Errorf("schema %s = %s, want it to contain %s", name, s, want)
		}
	}
	// A queued payment's place: each member says what it means, and the
	// estimate what it does not account for.
	place := string(doc.Components.Schemas["IntentPlace"])
	for _, want := range []string{`"expected_wait_seconds":{"description":`, `"settled_per_second":{"description":`, `"settling_resumes_at":{"description":`,
		"lower bound", "cancellations", "other processes"} {
		if !strings.Contains(place, want) {
			t.Errorf("schema IntentPlace = %s, want it to contain %s", place, want)
		}
	}
	if s := string(doc.Components.Schemas["Transfer"]); strings.Contains(s, "RequestKey") || strings.Contains(s, "request_key") {
		t.Errorf("a json:\"-\" field is documented: %s", s)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestOpenAPIDocumentsTheCancelsConflict: cancelling an intent answers 409
// when the payment is no longer pending (intent_not_pending) or is being
// made at that moment (idempotency_key_in_use): the document generated
// from the route table says so, as it does for the money-moving routes'
// conflicts, so that a client built from it expects the answer.
func TestOpenAPIDocumentsTheCancelsConflict(t *testing.T) {
	doc := pwhttp.OpenAPI(pwhttp.Routes())
	var op struct {
		Responses map[string]json.RawMessage `json:"responses"`
	}
	raw, _ := json.Marshal(doc.Paths["/v1/intents/{id}/cancel"].(map[string]any)["post"])
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatal(err)
	}
	if op.Responses["409"] == nil {
		t.Fatalf("cancelIntent documents %s, not its 409", string(raw))
	}
	b, _ := json.Marshal(doc.Components["responses"])
	var responses map[string]struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(b, &responses); err != nil {
		t.Fatal(err)
	}
	if d := responses["409"].Description; !strings.Contains(d, "intent_not_pending") || !strings.Contains(d, "idempotency_key_in_use") {
		t.Fatalf("the shared 409 response: %q", d)
	}
}

// TestOpenAPIDocumentsARefusedRouteAsRefused: POST /v1/me/mfa/otp is
// refused since 2026-11-29 (403 forbidden: a step-up code by message is
// bound to its payment and comes with its challenge). The document says
// so, deprecated, with the 403 and no success a client could wait for.
// Until then it listed a 202 the route never answers any more.
func TestOpenAPIDocumentsARefusedRouteAsRefused(t *testing.T) {
	doc := pwhttp.OpenAPI(pwhttp.Routes())
	var op struct {
		Deprecated bool                       `json:"deprecated"`
		Responses  map[string]json.RawMessage `json:"responses"`
	}
	raw, _ := json.Marshal(doc.Paths["/v1/me/mfa/otp"].(map[string]any)["post"])
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatal(err)
	}
	for status := range op.Responses {
		if strings.HasPrefix(status, "2") {
			t.Errorf("POST /v1/me/mfa/otp documents a %s; it answers none", status)
		}
	}
	if !strings.Contains(string(op.Responses["403"]), "#/components/responses/403") || !op.Deprecated {
		t.Errorf("POST /v1/me/mfa/otp is documented as %s, want deprecated, with its 403", raw)
	}
	b, _ := json.Marshal(doc.Components["responses"])
	var responses map[string]struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(b, &responses); err != nil {
		t.Fatal(err)
	}
	if d := responses["403"].Description; !strings.Contains(d, "forbidden") {
		t.Errorf("the shared 403 response: %q", d)
	}
}

// TestEveryProblemMemberIsDocumented: the members a problem carries beside
// the standard ones (a step-up's challenge, the intent a cancellation
// found settled) are in the OpenAPI document's Problem schema, so that a
// client built from it knows them. Each cause that adds members is
// rendered here, and every member it adds must be there.
func TestEveryProblemMemberIsDocumented(t *testing.T) {
	doc := pwhttp.OpenAPI(pwhttp.Routes())
	raw, _ := json.Marshal(doc.Components["schemas"].(map[string]any)["Problem"])
	var problem struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	if err := json.Unmarshal(raw, &problem); err != nil {
		t.Fatal(err)
	}
	paid := &pw.Intent{ID: "int_1", Status: pw.IntentPosted, TransferID: "tr_1"}
	for name, cause := range map[string]error{
		"mfa_required":       &pw.Error{Code: pw.EMFAREQUIRED, Err: &auth.Challenge{ID: "chl_1", Methods: []string{"totp"}}},
		"intent_not_pending": pwhttp.IntentNotPending(paid),
	} {
		p := pwhttp.ProblemFor(cause)
		if len(p.Extra) == 0 {
			t.Errorf("%s: no extra member rendered; the test checks nothing", name)
		}
		for member := range p.Extra {
			s := problem.Properties[member]
			if s == nil || s["description"] == nil {
				t.Errorf("%s: the problem's member %q is not in the OpenAPI Problem schema (%s)", name, member, raw)
			}
			if slices.Contains(problem.Required, member) {
				t.Errorf("%s: %q is required in the Problem schema, and most problems do not have it", name, member)
			}
		}
	}
	if ref, _ := problem.Properties["intent"]["$ref"].(string); ref != "#/components/schemas/Intent" {
		t.Errorf("the problem's intent member is %v, want the Intent schema", problem.Properties["intent"])
	}
}

// TestOpenAPIDocumentsAnOperatorsStop: the cancellation takes a body (a
// reason, bounded, required of an operator stopping someone's payment),
// optional, and the intent's error says who cancelled it.
func TestOpenAPIDocumentsAnOperatorsStop(t *testing.T) {
	doc, _ := json.Marshal(pwhttp.OpenAPI(pwhttp.Routes()))
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if s := string(d.Paths["/v1/intents/{id}/cancel"]["post"]); !strings.Contains(s, `"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/IntentCancel"}}},"required":false}`) {
		t.Fatalf("cancelIntent's body: %s", s)
	}
	if s := string(d.Components.Schemas["IntentCancel"]); !strings.Contains(s, `"maxLength":`+itoa(pw.IntentCancelReasonMax)) {
		t.Fatalf("IntentCancel: %s", s)
	}
	if s := string(d.Components.Schemas["IntentError"]); !strings.Contains(s, `"enum":["payer","operator"]`) {
		t.Fatalf("IntentError: %s", s)
	}
}
