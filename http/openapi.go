package http

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// The OpenAPI 3.1 document is generated from the route table and the Go
// types by reflection (docs/decisions/0003-openapi-generation.md): it
// cannot drift from what the server does. Schemas are JSON Schema 2020-12,
// the dialect of OpenAPI 3.1.

// schemaOverrides add what a Go type cannot say (enums of plain strings),
// keyed by "Type.json_name".
var schemaOverrides = map[string]map[string]any{
	"Hold.status":      {"enum": []string{pw.HoldPending, pw.HoldCaptured, pw.HoldVoided, pw.HoldExpired}},
	"Transfer.status":  {"enum": []string{pw.TransferPosted}},
	"BatchItem.status": {"enum": []string{pw.TransferPosted, "failed"}},
	"Status.state":     {"enum": []string{StateNormal, StateBusy, StateDegraded, StateMaintenance}},
	"Problem.type":     {"format": "uri"},
	// An absent amount is all; 0 is refused, not taken for all (amountNotZero).
	"RefundCreate.amount": {"minimum": 1, "description": "Minor units to refund; absent: all that remains."},
	"HoldCapture.amount":  {"minimum": 1, "description": "Minor units to capture; absent: the whole hold, releasing nothing."},
	// Where a queued payment stands (docs/overload.md): what each member
	// means, and what it does not promise, in the document itself, since a
	// client shows these figures to a waiting payer.
	"Intent.queue_position": {"description": "Only while the intent is pending: where it stands in the surge queue, " +
		"as the server counted when it wrote the intent out. Absent once settled, and when the count failed."},
	"IntentPlace.ahead": {"description": fmt.Sprintf("Pending intents, of every payer, accepted before this one: the settler takes them first "+
		"(intents from one account in order; different accounts' at once, so one may be settled before some of these). "+
		"Counted up to %d (see ahead_at_least) in the queue as the server read it, at most a second before.", pw.IntentsAheadMax)},
	"IntentPlace.ahead_at_least": {"description": fmt.Sprintf("true when the count stopped at its bound (%d): at least that many are ahead, "+
		"and expected_wait_seconds is a lower bound too.", pw.IntentsAheadMax)},
	"IntentPlace.settled_per_second": {"description": fmt.Sprintf("Intents this server's settler settled a second over the last %d s "+
		"while intents were pending (other processes' settlers are not counted). Absent when none is known: nothing settled in that time, "+
		"the queue was found empty since, a read-only window holds the settler, or the settler has stopped (a draining process).", int(IntentRateWindow/time.Second))},
	"IntentPlace.expected_wait_seconds": {"description": "About how long until this intent is settled: (ahead + 1) / settled_per_second, " +
		"rounded up, if the queue keeps draining at that rate. An estimate, not a promise: cancellations ahead shorten it, " +
		"a burst of live payments or an outage lengthens it. Absent with settled_per_second.", "minimum": 0},
	"IntentPlace.settling_resumes_at": {"description": "During a read-only maintenance window, its end and a short grace after it (for cancellations refused in the window to come back first): nothing is settled before then while the window stands. " +
		"A window the operator cancels early frees the queue too: settling resumes the same grace after the cancellation (a place read then says so), possibly before a Retry-After given in the window."},
	"MaintenanceCreate.start": {"description": fmt.Sprintf("When the window begins, from now on: a window is announced (at /v1/status) before it is in force. "+
		"A start up to %d s in the past is taken as now (the window starts as it is scheduled); an earlier one is 400 invalid_request on start.",
		int(pw.MaintenanceStartSkewMax/time.Second))},
	"IntentError.cancelled_by": {"enum": []string{pw.CancelledByPayer, pw.CancelledByOperator},
		"description": "who cancelled an intent_cancelled intent: its payer, or an operator (support, risk, admin) on the payer's behalf; " +
			"absent on other failures. A cancelled key's answer (409 intent_cancelled) carries it too"},
	// Who holds each side of a transfer (docs/security.md, "The other
	// side of a transfer"): what a reader may know of whom.
	"Transfer.from_party": {"description": "Who holds from_account, as the reader may know them: on reads of transfers " +
		"(GET /v1/transfers/{id}, GET /v1/accounts/{id}/transfers, GET /v1/transfers), not in the answers of the requests that make them."},
	"Transfer.to_party": {"description": "Who holds to_account, as the reader may know them: as from_party."},
	"Party.kind":        {"description": "The account's kind: user (a wallet), merchant, or system (the wallet's own: a top-up comes from one, a withdrawal goes to one)."},
	"Party.handle": {"description": "A user's handle (email address or phone number), shown to a user (who exchanged money with them) and to operators; " +
		"never to a merchant's key, nor when the user is unknown."},
	"Party.name": {"description": "A merchant's name."},
	"IntentCancel.reason": {"maxLength": pw.IntentCancelReasonMax,
		"description": "why the payment is stopped, one line of UTF-8 text (no control characters such as line breaks or tabs, no line or paragraph separators U+2028 and U+2029, no bidirectional controls), " +
			"at most maxLength bytes: required when an operator stops someone else's payment " +
			"(kept in the audit log, not shown to the payer); optional for the payer"},
}

// typeSchemas are schemas of named types that are more than their kind.
var typeSchemas = map[reflect.Type]map[string]any{
	reflect.TypeFor[time.Time](): {"type": "string", "format": "date-time"},
	reflect.TypeFor[pw.Currency](): {"type": "string", "pattern": "^[A-Z]{3}$",
		"description": "ISO 4217 code; GET /v1/currencies lists those supported"},
	reflect.TypeFor[pw.AccountKind](): {"type": "string",
		"enum": []string{string(pw.AccountUser), string(pw.AccountMerchant), string(pw.AccountSystem)}},
	reflect.TypeFor[pw.TransferKind](): {"type": "string",
		"enum": []string{string(pw.TransferPayment), string(pw.TransferCapture), string(pw.TransferRefund)}},
}

// reflector turns Go types into schemas, collecting named structs as
// components.
type reflector struct {
	schemas  map[string]any
	names    map[reflect.Type]string
	statuses map[int]bool // error statuses the operations refer to
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func (g *reflector) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := typeSchemas[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		// Money is int64 minor units: clients must not parse it as a float.
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		return ref(g.component(t))
	}
	return map[string]any{} // any JSON value
}

// component registers struct t as a named schema and returns its name.
func (g *reflector) component(t reflect.Type) string {
	if name, ok := g.names[t]; ok {
		return name
	}
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i] // List[T] is named by listComponent instead
	}
	if _, taken := g.schemas[name]; taken || name == "" {
		name = pkgName(t) + name
	}
	g.names[t] = name
	g.schemas[name] = nil // reserve the name while recursing
	props, required := map[string]any{}, []string{}
	g.fields(t, t.Name(), props, &required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	g.schemas[name] = s
	return name
}

func pkgName(t reflect.Type) string {
	p := t.PkgPath()
	p = p[strings.LastIndexByte(p, '/')+1:]
	if p == "" {
		return "Anonymous"
	}
	return strings.ToUpper(p[:1]) + p[1:]
}

// fields adds t's JSON members as encoding/json sees them: tags, "-",
// omitempty (optional; everything else is required), embedded structs.
func (g *reflector) fields(t reflect.Type, owner string, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, owner, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if o, ok := schemaOverrides[owner+"."+name]; ok {
			merged := map[string]any{}
			for k, v := range s {
				merged[k] = v
			}
			for k, v := range o {
				merged[k] = v
			}
			s = merged
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}

// listComponent registers the page schema of item type t.
func (g *reflector) listComponent(t reflect.Type) string {
	items := g.schema(t)
	base := strings.TrimPrefix(items["$ref"].(string), "#/components/schemas/")
	name := base + "List"
	g.schemas[name] = map[string]any{
		"type":     "object",
		"required": []string{"data"},
		"properties": map[string]any{
			"data": map[string]any{"type": "array", "items": items},
			"next_cursor": map[string]any{"type": "string",
				"description": "pass as ?cursor= for the next page; absent on the last page"},
		},
	}
	return name
}

// Document is an OpenAPI 3.1 document, its members in the usual order.
type Document struct {
	OpenAPI           string         `json:"openapi"`
	Info              map[string]any `json:"info"`
	JSONSchemaDialect string         `json:"jsonSchemaDialect"`
	Servers           []any          `json:"servers"`
	Security          []any          `json:"security"`
	Paths             map[string]any `json:"paths"`
	Components        map[string]any `json:"components"`
}

// OpenAPI returns the OpenAPI 3.1 document describing routes.
func OpenAPI(routes []Route) *Document {
	g := &reflector{schemas: map[string]any{}, names: map[reflect.Type]string{}, statuses: map[int]bool{}}
	g.component(reflect.TypeFor[Problem]())
	// The members some problems add (Problem.Extra), which reflection of
	// Problem cannot see: optional, each said when it is present.
	problemProps := g.schemas["Problem"].(map[string]any)["properties"].(map[string]any)
	for _, m := range problemMembers {
		s := maps.Clone(g.schema(m.of)) // a $ref may have siblings in 3.1
		s["description"] = m.description
		problemProps[m.name] = s
	}
	paths := map[string]any{}
	for i := range routes {
		rt := &routes[i]
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = g.operation(rt)
	}
	return &Document{
		OpenAPI: "3.1.0",
		Info: map[string]any{
			"title":   "peakwallet API",
			"version": "v1",
			"description": "Money is an integer count of minor units (int64) plus an ISO 4217 code. " +
				"Errors are RFC 9457 problems with a stable code. Money-moving POSTs require an Idempotency-Key.",
		},
		JSONSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
		Servers:           []any{map[string]any{"url": "/"}},
		Security:          []any{map[string]any{"bearer": []string{}}},
		Paths:             paths,
		Components: map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
			},
			"parameters": map[string]any{
				"IdempotencyKey": map[string]any{"name": HeaderIdempotencyKey, "in": "header", "required": true,
					"description": "1 to 255 printable ASCII characters, scoped to the caller; kept at least 24 h",
					"schema":      map[string]any{"type": "string", "minLength": 1, "maxLength": pw.IdempotencyKeyBytesMax}},
				"Prefer": map[string]any{"name": "Prefer", "in": "header",
					"description": "RFC 7240. wait=N (seconds, fractions allowed) shortens the request's deadline below its class's " +
						"default; what cannot finish by then is refused at once (503 busy with Retry-After). respond-async, " +
						"where the operation documents a 202, allows the server to accept the request for later at a surge.",
					"schema": map[string]any{"type": "string", "examples": []string{"wait=1.5", "respond-async, wait=2"}}},
				"Limit": map[string]any{"name": "limit", "in": "query",
					"schema": map[string]any{"type": "integer", "minimum": 1, "maximum": pw.PageLimitMax, "default": pw.PageLimitDefault}},
				"Cursor": map[string]any{"name": "cursor", "in": "query", "description": "next_cursor of the previous page",
					"schema": map[string]any{"type": "string", "maxLength": CursorBytesMax}},
			},
			"responses": problemResponses(g.statuses),
		},
	}
}

// operation describes one route.
func (g *reflector) operation(rt *Route) map[string]any {
	op := map[string]any{
		"operationId":      rt.Name,
		"summary":          rt.Summary,
		"tags":             []string{tagOf(rt.Path)},
		"x-priority-class": string(rt.Class),
	}
	if rt.Public {
		op["security"] = []any{}
	}
	var params []any
	for _, seg := range strings.Split(rt.Path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			params = append(params, map[string]any{"name": strings.TrimSuffix(name, "}"), "in": "path",
				"required": true, "schema": map[string]any{"type": "string"}})
		}
	}
	if rt.MovesMoney {
		op["x-moves-money"] = true
		params = append(params, map[string]any{"$ref": "#/components/parameters/IdempotencyKey"})
	}
	if _, classed := admissionClasses[rt.Class]; classed && !rt.Stream {
		params = append(params, map[string]any{"$ref": "#/components/parameters/Prefer"})
	}
	if rt.Paginated() {
		params = append(params, map[string]any{"$ref": "#/components/parameters/Limit"},
			map[string]any{"$ref": "#/components/parameters/Cursor"})
	}
	for _, q := range rt.Query {
		param := map[string]any{"name": q.Name, "in": "query", "description": q.Description,
			"schema": map[string]any{"type": "string"}}
		if q.Required {
			param["required"] = true
		}
		params = append(params, param)
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if t := rt.Request(); t != nil && rt.BodyMax > 0 && t.NumField() > 0 {
		op["x-body-bytes-max"] = rt.BodyMax
		op["requestBody"] = map[string]any{"required": !rt.BodyOptional,
			"content": map[string]any{contentTypeJSON: map[string]any{"schema": g.schema(t)}}}
	}
	ok := map[string]any{"description": http.StatusText(rt.Status)}
	if t := rt.Response(); t != nil {
		ok["content"] = g.content(rt, t)
	}
	if rt.MovesMoney {
		ok["headers"] = map[string]any{HeaderIdempotencyReplayed: map[string]any{
			"description": "true when this is the remembered response of an earlier request with the same key",
			"schema":      map[string]any{"type": "string", "enum": []string{"true"}}}}
	}
	responses := map[string]any{strconv.Itoa(rt.Status): ok,
		"default": map[string]any{"$ref": "#/components/responses/Problem"}}
	if rt.Refused { // no success: its one answer is an error
		op["deprecated"] = true
		g.statuses[rt.Status] = true
		responses[strconv.Itoa(rt.Status)] = map[string]any{"$ref": "#/components/responses/" + strconv.Itoa(rt.Status)}
	}
	if rt.Async {
		responses[strconv.Itoa(http.StatusAccepted)] = map[string]any{
			"description": "Accepted into the surge queue (only with Prefer: respond-async, when the store is busy): " +
				"the intent settles later, in order, under the same Idempotency-Key",
			"headers": map[string]any{
				"Location":           map[string]any{"description": "/v1/intents/{id}", "schema": map[string]any{"type": "string"}},
				"Preference-Applied": map[string]any{"schema": map[string]any{"type": "string", "enum": []string{"respond-async"}}},
			},
			"content": map[string]any{contentTypeJSON: map[string]any{"schema": g.schema(reflect.TypeFor[pw.Intent]())}},
		}
	}
	for _, status := range problemStatuses(rt) {
		g.statuses[status] = true
		responses[strconv.Itoa(status)] = map[string]any{"$ref": "#/components/responses/" + strconv.Itoa(status)}
	}
	op["responses"] = responses
	return op
}

func (g *reflector) content(rt *Route, t reflect.Type) map[string]any {
	var s map[string]any
	switch {
	case rt.Paginated():
		s = ref(g.listComponent(t))
	case rt.Stream:
		return map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}
	case t.Kind() == reflect.String:
		return map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object"}
	default:
		s = g.schema(t)
	}
	return map[string]any{contentTypeJSON: map[string]any{"schema": s}}
}

// problemStatuses are the error statuses a route documents (besides default).
func problemStatuses(rt *Route) []int {
	var out []int
	add := func(cond bool, statuses ...int) {
		if cond {
			out = append(out, statuses...)
		}
	}
	finds := slices.ContainsFunc(rt.Query, func(q Param) bool { return q.Required })
	add(rt.BodyMax > 0 || rt.Paginated() || rt.MovesMoney || finds, http.StatusBadRequest)
	add(!rt.Public, http.StatusUnauthorized)
	add(rt.Access != AccessAny, http.StatusForbidden)
	add(strings.Contains(rt.Path, "{") || finds, http.StatusNotFound)
	add(rt.MovesMoney || rt.Conflict, http.StatusConflict)
	add(rt.MovesMoney, http.StatusUnprocessableEntity)
	add(rt.BodyMax > 0, http.StatusRequestEntityTooLarge)
	add(!rt.Public, http.StatusTooManyRequests)
	add(rt.Class != ClassOps || rt.Path == "/readyz", http.StatusServiceUnavailable)
	add(rt.MovesMoney, http.StatusGatewayTimeout)
	return out
}

// problemResponses are the shared error responses, one per status used.
func problemResponses(used map[int]bool) map[string]any {
	problem := func(desc string, headers map[string]any) map[string]any {
		r := map[string]any{"description": desc, "content": map[string]any{
			contentTypeProblem: map[string]any{"schema": ref("Problem")}}}
		if headers != nil {
			r["headers"] = headers
		}
		return r
	}
	retryAfter := map[string]any{"Retry-After": map[string]any{"description": "seconds to wait before retrying",
		"schema": map[string]any{"type": "integer", "minimum": 1}}}
	out := map[string]any{"Problem": problem("An error (RFC 9457); code says which", nil)}
	for _, spec := range problems {
		key := strconv.Itoa(spec.status)
		if _, done := out[key]; done || !used[spec.status] {
			continue
		}
		var headers map[string]any
		switch spec.status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			headers = retryAfter
		case http.StatusUnauthorized:
			headers = map[string]any{"WWW-Authenticate": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		out[key] = problem(http.StatusText(spec.status)+": codes "+strings.Join(codesFor(spec.status), ", "), headers)
	}
	return out
}

// codesFor lists, sorted, the wire codes answered with status.
func codesFor(status int) []string {
	seen := map[string]bool{}
	var out []string
	for code, spec := range problems {
		if spec.wire != "" {
			code = spec.wire
		}
		if spec.status == status && !seen[code] {
			seen[code] = true
			out = append(out, code)
		}
	}
	slices.Sort(out)
	return out
}

func tagOf(path string) string {
	if c := collectionOf(path); c != "" {
		return strings.TrimSuffix(c, ".json")
	}
	return "ops"
}
