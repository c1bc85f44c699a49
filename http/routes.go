package http

import (
	"net/http"
	"reflect"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/status"
)

// Class is a route's priority class: under overload, admission sheds the
// lowest classes first (payment > topup > read > report). Ops routes
// (health, readiness, metrics) are never shed: an orchestrator that cannot
// see a busy server kills it.
type Class string

const (
	ClassPayment Class = "payment" // interactive money movement
	ClassTopup   Class = "topup"   // other money movement: top-ups, withdrawals, account opening, batches
	ClassRead    Class = "read"    // reads of single objects and per-account lists
	ClassReport  Class = "report"  // whole-ledger lists and exports
	ClassOps     Class = "ops"     // health, readiness and metrics
)

// Route is one entry of the API. The table below is the whole API surface:
// the server's mux, its metrics labels and the OpenAPI document are all
// built from it, and nothing else.
type Route struct {
	Method  string
	Path    string // a Go 1.22 ServeMux path pattern
	Name    string // the OpenAPI operationId
	Summary string
	Class   Class
	Public  bool // no Authorization needed
	// MovesMoney routes require an Idempotency-Key and are replayed from it.
	MovesMoney bool
	// Conflict routes answer 409 when the state of what they act on
	// forbids it (an intent no longer pending), as every MovesMoney route
	// may; the OpenAPI document lists it.
	Conflict bool
	// WritesLedger routes write the ledger without moving money (opening a
	// wallet). They, and MovesMoney routes, answer 503 maintenance in a
	// read-only window; the other writes (sessions, passwords, operators,
	// the status page's items) do not touch the ledger and go on, so that
	// users can still sign in and read their balances.
	WritesLedger bool
	// BodyMax is the largest request body accepted; 0 for routes without one.
	BodyMax int64
	// BodyOptional lets a body-taking route be called with an empty body,
	// which then means "all defaults".
	BodyOptional bool
	Status       int // the success status; a Refused route's only answer
	// Refused routes are retired: they answer only Status, an error whose
	// problem says why and what to do instead, and stay so that an older
	// client is told that rather than 404. The OpenAPI document marks them
	// deprecated, with that error and no success (POST /v1/me/mfa/otp
	// since 2026-11-29: until then it still listed the 202 it had).
	Refused bool
	// Access says who may call the route at all (function-level
	// authorization, checked before the handler runs).
	Access Access
	// Stream routes hold their connection open (server-sent events); they
	// are not admitted through the queues, whose deadlines are for
	// requests that finish, but count against the rate limit.
	Stream bool
	// StaleServed routes serve a principal taken stale from the cache in
	// an outage (auth.Service.AuthenticateOrStale) as it is, without
	// authenticating it against the store again: they act on nothing and
	// read nothing an operator could not read at the public /metrics (the
	// console's summary), and an operator needs them most while the store
	// is away. Until 2026-11-29 an operator's pwo_ key, 5 s into an
	// outage, was refused the summary with the store's error, and the
	// console's figures froze where the outage began
	// (TestTheConsolesSummaryIsServedInAnOutage). The maintenance windows
	// (GET /v1/maintenance, /v1/maintenance/{id}) too, since the same day:
	// the schedule is in memory, and /v1/status publishes its windows to
	// anyone (the list adds only when each was made, which its ID carries
	// already); until then a stale principal waited on the store for them
	// (TestAStalePrincipalOutsideAdmissionIsAnsweredAtOnceInAStall).
	StaleServed bool
	// Async routes may, when the client allows it (Prefer: respond-async)
	// and the store is busy, accept the request into the durable surge
	// queue instead: 202 with the intent.
	Async bool
	// TopupBySystemAccount lowers a request of the route to class topup
	// when its body's from_account or to_account is a system account (a
	// top-up or a withdrawal; accountKinds): read once the request has a
	// slot of the route's class, it gives that slot back and queues again
	// in class topup (admit).
	TopupBySystemAccount bool
	Query                []Param // query parameters besides limit and cursor
	ep                   endpoint
}

// Param is a query parameter of a route.
type Param struct {
	Name        string
	Description string
	// Required params name the one object the route finds: without one
	// the route answers 400, and with one that matches nothing 404.
	Required bool
}

// Pattern is the ServeMux pattern of the route, such as "GET /v1/accounts/{id}".
func (rt *Route) Pattern() string { return rt.Method + " " + rt.Path }

// Request is the type of the request body, or nil.
func (rt *Route) Request() reflect.Type { return rt.ep.request }

// Response is the type of the success body (of each item, for lists), or
// nil for routes that do not answer JSON.
func (rt *Route) Response() reflect.Type { return rt.ep.response }

// Paginated reports whether the route answers a List and takes limit and cursor.
func (rt *Route) Paginated() bool { return rt.ep.list }

// Routes returns the API's route table.
func Routes() []Route {
	return []Route{
		{Method: "POST", Path: "/v1/accounts", Name: "createAccount", Summary: "Open an account",
			Class: ClassTopup, MovesMoney: true, BodyMax: RequestBodyBytesMax, Status: http.StatusCreated,
			ep: moneyRoute(createAccount)},
		{Method: "GET", Path: "/v1/accounts", Name: "listAccounts", Summary: "List accounts in ID order",
			Class: ClassReport, Status: http.StatusOK, ep: listRoute(listAccounts)},
		{Method: "GET", Path: "/v1/accounts/{id}", Name: "getAccount", Summary: "Read an account and its balance",
			Class: ClassRead, Status: http.StatusOK, ep: readRoute(getAccount)},
		{Method: "GET", Path: "/v1/accounts/{id}/entries", Name: "listEntries", Summary: "List an account's entries, newest first",
			Class: ClassRead, Status: http.StatusOK, ep: listRoute(listEntries)},
		{Method: "GET", Path: "/v1/accounts/{id}/transfers", Name: "listAccountTransfers", Summary: "List an account's transfers, newest first",
			Class: ClassRead, Status: http.StatusOK, ep: listRoute(listAccountTransfers)},

		{Method: "POST", Path: "/v1/transfers", Name: "createTransfer", Summary: "Move money between two accounts",
			Class: ClassPayment, MovesMoney: true, Async: true, TopupBySystemAccount: true,
			BodyMax: RequestBodyBytesMax, Status: http.StatusCreated, ep: moneyRoute(createTransfer)},
		{Method: "GET", Path: "/v1/transfers", Name: "listTransfers", Summary: "List transfers, newest first",
			Class: ClassReport, Status: http.StatusOK, ep: listRoute(listTransfers),
			Query: []Param{{Name: "account", Description: "only transfers from or to this account"}}},
		{Method: "GET", Path: "/v1/transfers/{id}", Name: "getTransfer", Summary: "Read a transfer",
			Class: ClassRead, Status: http.StatusOK, ep: readRoute(getTransfer)},
		{Method: "POST", Path: "/v1/transfers/batch", Name: "createBatch",
			Summary: "Post up to 8190 transfers in one commit; with atomic, all or none (body up to 8 MiB)",
			Class:   ClassTopup, MovesMoney: true, BodyMax: BatchBodyBytesMax, Status: http.StatusOK,
			ep: moneyRoute(createBatch)},
		{Method: "POST", Path: "/v1/transfers/{id}/refunds", Name: "createRefund",
			Summary: "Refund a transfer, in part or (by default) all that remains",
			Class:   ClassPayment, MovesMoney: true, BodyMax: RequestBodyBytesMax, BodyOptional: true,
			Status: http.StatusCreated, ep: moneyRoute(createRefund)},

		{Method: "POST", Path: "/v1/holds", Name: "createHold", Summary: "Reserve funds until capture, void or expiry",
			Class: ClassPayment, MovesMoney: true, BodyMax: RequestBodyBytesMax, Status: http.StatusCreated,
			ep: moneyRoute(createHold)},
		{Method: "GET", Path: "/v1/holds/{id}", Name: "getHold", Summary: "Read a hold",
			Class: ClassRead, Status: http.StatusOK, ep: readRoute(getHold)},
		{Method: "POST", Path: "/v1/holds/{id}/capture", Name: "captureHold",
			Summary: "Post a hold, in part or (by default) in full; the rest is released",
			Class:   ClassPayment, MovesMoney: true, BodyMax: RequestBodyBytesMax, BodyOptional: true,
			Status: http.StatusCreated, ep: moneyRoute(captureHold)},
		{Method: "POST", Path: "/v1/holds/{id}/void", Name: "voidHold", Summary: "Release a hold",
			Class: ClassPayment, MovesMoney: true, BodyMax: RequestBodyBytesMax, BodyOptional: true,
			Status: http.StatusOK, ep: moneyRoute(voidHold)},

		{Method: "POST", Path: "/v1/users", Name: "signUp", Summary: "Sign up with a handle (email or phone) and a password (rate limited)",
			Class: ClassRead, Public: true, BodyMax: AuthBodyBytesMax, Status: http.StatusCreated, ep: signUp},
		{Method: "GET", Path: "/v1/users", Name: "lookUpUser",
			Summary: "Find a user by handle (email or phone, any spelling): their facts and wallets with balances, nothing secret (operators; every look-up is audited)",
			Class:   ClassRead, Access: AccessOperator, Status: http.StatusOK, ep: lookUpUser,
			Query: []Param{{Name: "handle", Required: true, Description: "the user's email address or phone number, normalised as at sign-up (+49 151 1234 5678 finds +4915112345678)"}}},
		{Method: "GET", Path: "/v1/users/{id}", Name: "lookUpUserByID",
			Summary: "Read a user by ID (usr_…, an account's owner_id): the same view as by handle, nothing secret (operators; every look-up is audited)",
			Class:   ClassRead, Access: AccessOperator, Status: http.StatusOK, ep: lookUpUserByID},
		{Method: "POST", Path: "/v1/sessions", Name: "login", Summary: "Log in: a session token, shown once (mfa_code required with TOTP)",
			Class: ClassRead, Public: true, BodyMax: AuthBodyBytesMax, Status: http.StatusCreated, ep: login},
		{Method: "GET", Path: "/v1/sessions", Name: "listSessions", Summary: "List one's live sessions",
			Class: ClassRead, Access: AccessUser, Status: http.StatusOK, ep: listSessions},
		{Method: "DELETE", Path: "/v1/sessions/current", Name: "logout", Summary: "End this session (log out)",
			Class: ClassRead, Access: AccessUser, Status: http.StatusNoContent, ep: endSession},
		{Method: "DELETE", Path: "/v1/sessions/{id}", Name: "endSession", Summary: "End one of one's sessions",
			Class: ClassRead, Access: AccessUser, Status: http.StatusNoContent, ep: endSession},
		{Method: "GET", Path: "/v1/me", Name: "getMe", Summary: "The logged-in user",
			Class: ClassRead, Access: AccessUser, Status: http.StatusOK, ep: getMe},
		{Method: "POST", Path: "/v1/me/password", Name: "changePassword", Summary: "Change one's password; ends one's other sessions",
			Class: ClassRead, Access: AccessUser, BodyMax: AuthBodyBytesMax, Status: http.StatusNoContent, ep: changePassword},
		{Method: "POST", Path: "/v1/me/mfa/totp", Name: "enrollTOTP", Summary: "Start TOTP enrolment: secret, otpauth URI and QR image",
			Class: ClassRead, Access: AccessUser, BodyMax: AuthBodyBytesMax, BodyOptional: true, Status: http.StatusCreated, ep: enrollTOTP},
		{Method: "POST", Path: "/v1/me/mfa/totp/confirm", Name: "confirmTOTP", Summary: "Confirm TOTP with a first code; answers recovery codes, shown once",
			Class: ClassRead, Access: AccessUser, BodyMax: AuthBodyBytesMax, Status: http.StatusOK, ep: confirmTOTP},
		{Method: "POST", Path: "/v1/me/mfa/otp", Name: "sendOTP", Summary: "Refused since 2026-11-29 (403 forbidden): a step-up code by message is bound to its payment and comes with its challenge",
			Class: ClassRead, Access: AccessUser, BodyMax: AuthBodyBytesMax, BodyOptional: true, Status: http.StatusForbidden, Refused: true, ep: sendOTP},
		{Method: "POST", Path: "/v1/password-resets", Name: "requestPasswordReset", Summary: "Send a reset token to a handle, if it is a user's (same answer either way)",
			Class: ClassRead, Public: true, BodyMax: AuthBodyBytesMax, Status: http.StatusAccepted, ep: requestReset},
		{Method: "POST", Path: "/v1/password-resets/confirm", Name: "confirmPasswordReset", Summary: "Set a new password with a reset token; ends every session",
			Class: ClassRead, Public: true, BodyMax: AuthBodyBytesMax, Status: http.StatusNoContent, ep: confirmReset},
		{Method: "POST", Path: "/v1/wallets", Name: "openWallet", Summary: "Open one's wallet in a currency (200 with the existing one)",
			Class: ClassTopup, Access: AccessUser, WritesLedger: true, BodyMax: AuthBodyBytesMax, Status: http.StatusCreated, ep: openWallet},
		{Method: "GET", Path: "/v1/wallets", Name: "listWallets", Summary: "List one's wallets",
			Class: ClassRead, Access: AccessUser, Status: http.StatusOK, ep: listWallets},
		{Method: "POST", Path: "/v1/merchants", Name: "createMerchant", Summary: "Create a merchant (admin)",
			Class: ClassRead, Access: AccessAdmin, BodyMax: AuthBodyBytesMax, Status: http.StatusCreated, ep: createMerchant},
		{Method: "POST", Path: "/v1/merchants/{id}/keys", Name: "createMerchantKey", Summary: "Issue a merchant API key, shown once (admin)",
			Class: ClassRead, Access: AccessAdmin, BodyMax: AuthBodyBytesMax, BodyOptional: true, Status: http.StatusCreated, ep: createKey},
		{Method: "DELETE", Path: "/v1/merchants/{id}/keys/{key_id}", Name: "revokeMerchantKey", Summary: "Revoke a merchant API key (admin)",
			Class: ClassRead, Access: AccessAdmin, Status: http.StatusNoContent, ep: revokeKey},
		{Method: "POST", Path: "/v1/operators", Name: "createOperator", Summary: "Create an operator with a role and its key, shown once (admin)",
			Class: ClassRead, Access: AccessAdmin, BodyMax: AuthBodyBytesMax, Status: http.StatusCreated, ep: createOperator},
		{Method: "DELETE", Path: "/v1/operators/{id}", Name: "revokeOperator", Summary: "Revoke an operator's key (admin; not one's own)",
			Class: ClassRead, Access: AccessAdmin, Status: http.StatusNoContent, ep: revokeOperator},
		{Method: "GET", Path: "/v1/audit", Name: "listAudit", Summary: "Read the hash-chained audit log (admin, risk)",
			Class: ClassReport, Access: AccessAudit, Status: http.StatusOK, ep: listAudit},
		{Method: "GET", Path: "/v1/intents", Name: "listIntents",
			Summary: "List one's payments waiting in the surge queue (pending intents), in the order they will be settled (operators: everyone's)",
			Class:   ClassRead, Status: http.StatusOK, ep: listIntentsEndpoint(),
			Query: []Param{{Name: "idempotency_key", Description: "only one's intent under this Idempotency-Key, in any state (pending, posted, failed): a client whose 202 was lost finds it"}}},
		{Method: "GET", Path: "/v1/intents/{id}", Name: "getIntent",
			Summary: "Read a transfer intent accepted at a surge (202): pending, posted with its transfer, or failed with its code",
			Class:   ClassRead, Status: http.StatusOK, ep: serverRoute[None, pw.Intent](serveIntent)},
		{Method: "GET", Path: "/v1/intents/{id}/events", Name: "streamIntentEvents",
			Summary: "Server-sent events: the intent's state now and at each change, until it is final",
			Class:   ClassRead, Stream: true, Status: http.StatusOK, ep: serverRoute[None, string](serveIntentEvents)},
		{Method: "POST", Path: "/v1/intents/{id}/cancel", Name: "cancelIntent",
			Summary: "Cancel a payment queued at a surge while it is pending: it is then never paid, and its Idempotency-Key answers intent_cancelled. " +
				"Its payer may; an operator (admin, support, risk) may stop anyone's on the payer's behalf, with a reason, audited",
			Class: ClassPayment, WritesLedger: true, Conflict: true, BodyMax: AuthBodyBytesMax, BodyOptional: true,
			Status: http.StatusOK, ep: serverRoute[pw.IntentCancel, pw.Intent](serveCancelIntent)},

		{Method: "GET", Path: "/v1/ops/summary", Name: "getOpsSummary", Summary: "Load in numbers for the console: requests, busy answers, latency, in flight, ledger commits (operators)",
			Class: ClassOps, Access: AccessOperator, StaleServed: true, Status: http.StatusOK, ep: plainRoute[OpsSummary](serveOpsSummary)},
		{Method: "POST", Path: "/v1/verify", Name: "verify", Summary: "Check every ledger invariant and the audit chain now, as `peakwallet verify` does, and that the chain still holds the audit anchors given (admin, risk)",
			Class: ClassReport, Access: AccessAudit, Status: http.StatusOK, BodyMax: 128 << 10, BodyOptional: true, ep: verifyRoute()},

		{Method: "POST", Path: "/v1/maintenance", Name: "createMaintenance",
			Summary: "Schedule a maintenance window (admin); announced at /v1/status; read_only windows refuse writes with 503 maintenance",
			Class:   ClassOps, Access: AccessAdmin, BodyMax: RequestBodyBytesMax, Status: http.StatusCreated,
			ep: serverRoute[pw.MaintenanceCreate, pw.MaintenanceWindow](serveMaintenanceCreate)},
		{Method: "GET", Path: "/v1/maintenance", Name: "listMaintenance", Summary: "Maintenance windows that have not ended",
			Class: ClassOps, StaleServed: true, Status: http.StatusOK, ep: serverRoute[None, List[pw.MaintenanceWindow]](serveMaintenanceList)},
		{Method: "GET", Path: "/v1/maintenance/{id}", Name: "getMaintenance", Summary: "One maintenance window that has not ended (the Location of a window scheduled)",
			Class: ClassOps, StaleServed: true, Status: http.StatusOK, ep: serverRoute[None, pw.MaintenanceWindow](serveMaintenanceGet)},
		{Method: "DELETE", Path: "/v1/maintenance/{id}", Name: "deleteMaintenance", Summary: "Cancel a maintenance window (admin)",
			Class: ClassOps, Access: AccessAdmin, Status: http.StatusOK, ep: serverRoute[None, Health](serveMaintenanceDelete)},

		{Method: "GET", Path: "/v1/status", Name: "getStatus", Summary: "The server's state and load; components, incidents, maintenance, forecast and the best time to pay",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[Status](serveStatus)},
		{Method: "GET", Path: "/status", Name: "getStatusPage", Summary: "The status page (HTML)",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[string](serveStatusPage)},
		{Method: "GET", Path: "/status/feed.atom", Name: "getStatusFeed", Summary: "Announcements (incidents and maintenance) as an Atom feed",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[string](serveStatusFeed)},
		{Method: "GET", Path: "/v1/incidents", Name: "listIncidents", Summary: "Incidents, newest first",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[List[status.Incident]](serveIncidents)},
		{Method: "POST", Path: "/v1/incidents", Name: "createIncident", Summary: "Open an incident and announce it (operators)",
			Class: ClassRead, Access: AccessOperator, BodyMax: StatusBodyBytesMax, Status: http.StatusCreated, ep: statusRoute(createIncident)},
		{Method: "POST", Path: "/v1/incidents/{id}/updates", Name: "updateIncident", Summary: "Post an update to an incident and announce it (operators)",
			Class: ClassRead, Access: AccessOperator, BodyMax: StatusBodyBytesMax, Status: http.StatusOK, ep: statusRoute(postIncidentUpdate)},
		{Method: "GET", Path: "/v1/forecast", Name: "getForecast", Summary: "Expected load per hour for the next 7 days, with its back-test",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[status.Outlook](serveForecast)},
		{Method: "GET", Path: "/v1/forecast/recommendations", Name: "getRecommendations", Summary: "Predicted peak against capacity: capacity to add, promotions to stagger (operators)",
			Class: ClassRead, Access: AccessOperator, Status: http.StatusOK, ep: statusRoute(getRecommendations)},
		{Method: "POST", Path: "/v1/promotions", Name: "createPromotion", Summary: "Announce a promotion with its expected load multiplier (admin)",
			Class: ClassRead, Access: AccessAdmin, BodyMax: StatusBodyBytesMax, Status: http.StatusCreated, ep: statusRoute(createPromotion)},
		{Method: "GET", Path: "/v1/promotions", Name: "listPromotions", Summary: "Announced promotions, latest first (operators)",
			Class: ClassRead, Access: AccessOperator, Status: http.StatusOK, ep: statusRoute(listPromotions)},
		{Method: "POST", Path: "/v1/capacity", Name: "setCapacity", Summary: "Record the measured capacity, e.g. from peakwallet bench (admin)",
			Class: ClassRead, Access: AccessAdmin, BodyMax: StatusBodyBytesMax, Status: http.StatusOK, ep: statusRoute(setCapacity)},
		{Method: "POST", Path: "/v1/status/subscriptions", Name: "subscribeStatus", Summary: "Subscribe a webhook to announcements; its signing secret is shown once (admin)",
			Class: ClassRead, Access: AccessAdmin, BodyMax: StatusBodyBytesMax, Status: http.StatusCreated, ep: statusRoute(subscribe)},
		{Method: "GET", Path: "/v1/status/subscriptions", Name: "listStatusSubscriptions", Summary: "Webhook subscriptions, without secrets (admin)",
			Class: ClassRead, Access: AccessAdmin, Status: http.StatusOK, ep: statusRoute(listSubscriptions)},
		{Method: "DELETE", Path: "/v1/status/subscriptions/{id}", Name: "unsubscribeStatus", Summary: "Remove a webhook subscription (admin)",
			Class: ClassRead, Access: AccessAdmin, Status: http.StatusNoContent, ep: statusRoute(unsubscribe)},
		{Method: "GET", Path: "/v1/currencies", Name: "listCurrencies", Summary: "Supported currencies and their minor-unit exponents",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[List[CurrencyInfo]](serveCurrencies)},
		{Method: "GET", Path: "/v1/openapi.json", Name: "getOpenAPI", Summary: "This API's OpenAPI 3.1 document",
			Class: ClassRead, Public: true, Status: http.StatusOK, ep: plainRoute[map[string]any](serveOpenAPI)},
		{Method: "GET", Path: "/healthz", Name: "getHealth", Summary: "Liveness: 200 while the process runs",
			Class: ClassOps, Public: true, Status: http.StatusOK, ep: plainRoute[Health](serveHealth)},
		{Method: "GET", Path: "/readyz", Name: "getReadiness", Summary: "Readiness: 200 when the store can be read and written and the server is not draining",
			Class: ClassOps, Public: true, Status: http.StatusOK, ep: plainRoute[Health](serveReady)},
		{Method: "GET", Path: "/metrics", Name: "getMetrics", Summary: "Prometheus metrics (text format)",
			Class: ClassOps, Public: true, Status: http.StatusOK, ep: plainRoute[string](serveMetrics)},
	}
}
