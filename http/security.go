package http

import (
	"context"
	"net"
	"net/http"
	"reflect"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// Access is a route's function-level authorization: who may call it at
// all. Object-level authorization (whose account) is auth.Guard's.
type Access string

const (
	AccessAny   Access = ""      // any authenticated principal
	AccessUser  Access = "user"  // a user's session
	AccessAdmin Access = "admin" // an admin operator
	AccessAudit Access = "audit" // an admin or risk operator
	// AccessOperator is any operator (admin, support, risk): status work
	// such as posting incidents is everyone's on call.
	AccessOperator Access = "operator"
)

// HeaderMFACode carries a step-up code on a repeated money request.
const HeaderMFACode = "MFA-Code"

// allows reports whether p may call a route with access a.
func (a Access) allows(p pw.Principal) bool {
	switch a {
	case AccessUser:
		return p.Kind == pw.PrincipalUser
	case AccessAdmin:
		return p.IsOperator(pw.RoleAdmin)
	case AccessAudit:
		return p.IsOperator(pw.RoleAdmin, pw.RoleRisk)
	case AccessOperator:
		return p.IsOperator()
	}
	return true
}

// securityHeaders are set on every response. The API serves no active
// content, so the policy forbids everything; web pages (when the web app
// lands) will loosen script-src for their own origin only.
func securityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Every response carries these, refusals at a peak included: the keys
	// are canonical and the values shared (one []string each, never
	// modified: Set replaces a slice, Add appends past its capacity), so
	// that they cost no allocation per response.
	h["Content-Security-Policy"] = headerCSP
	h["X-Frame-Options"] = headerDeny
	h["X-Content-Type-Options"] = headerNosniff
	h["Referrer-Policy"] = headerNoReferrer
	h["Cross-Origin-Opener-Policy"] = headerSameOrigin
	if r.TLS != nil {
		// Two years, as the HSTS preload list asks; only over TLS (RFC 6797 §7.2).
		h["Strict-Transport-Security"] = headerHSTS
	}
}

var (
	headerCSP        = []string{"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}
	headerDeny       = []string{"DENY"}
	headerNosniff    = []string{"nosniff"}
	headerNoReferrer = []string{"no-referrer"}
	headerSameOrigin = []string{"same-origin"}
	headerHSTS       = []string{"max-age=63072000; includeSubDomains"}
)

// clientAddress is the peer's IP. X-Forwarded-For is not trusted: behind a
// proxy, throttling is per proxy until a trusted-proxy setting exists.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authCall is the auth service call of a security route: it returns the
// response and its status (0 for the route's).
type authCall[Req, Resp any] func(ctx context.Context, a *auth.Service, r *http.Request, req *Req) (Resp, int, error)

// authRoute serves a security route. These routes move no money, so they
// take no Idempotency-Key; each is safe to retry or fails harmlessly.
func authRoute[Req, Resp any](call authCall[Req, Resp]) endpoint {
	return serviceRoute(func(s *Server) (*auth.Service, bool) { return s.security, s.security != nil },
		"users and keys are not enabled on this server", call)
}

// serviceRoute serves a route of one of the server's optional services
// (users and keys, status): a strict body (when the route takes one), then
// the service's call, whose value is written with its status (0: the
// route's). A server built without the service answers not_found.
func serviceRoute[S, Req, Resp any](service func(*Server) (S, bool), missing string,
	call func(ctx context.Context, svc S, r *http.Request, req *Req) (Resp, int, error)) endpoint {
	ep := endpoint{request: reflect.TypeFor[Req](), response: reflect.TypeFor[Resp]()}
	if ep.request == reflect.TypeFor[None]() {
		ep.request = nil
	}
	if ep.response == reflect.TypeFor[None]() {
		ep.response = nil
	}
	ep.build = func(s *Server, rt *Route) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			svc, ok := service(s)
			if !ok {
				Error(w, r, pw.Errorf(pw.ENOTFOUND, "%s", missing))
				return
			}
			req := new(Req)
			if rt.BodyMax > 0 {
				body, err := ReadBody(w, r, rt.BodyMax)
				if err != nil {
					Error(w, r, err)
					return
				}
				if len(body) > 0 || !rt.BodyOptional {
					if err := DecodeJSON(body, req); err != nil {
						Error(w, r, err)
						return
					}
				}
			}
			v, status, err := call(r.Context(), svc, r, req)
			if err != nil {
				Error(w, r, err)
				return
			}
			if status == 0 {
				status = rt.Status
			}
			if ep.response == nil {
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(status)
				return
			}
			writeJSON(w, status, v)
		})
	}
	return ep
}

// authList serves a security route that answers a page of a list.
func authList[T any](call func(ctx context.Context, a *auth.Service, r *http.Request, page pw.Page) ([]T, string, error)) endpoint {
	return endpoint{response: reflect.TypeFor[T](), list: true, build: func(s *Server, rt *Route) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.security == nil {
				Error(w, r, pw.Errorf(pw.ENOTFOUND, "users and keys are not enabled on this server"))
				return
			}
			page, err := ParsePage(r)
			if err != nil {
				Error(w, r, err)
				return
			}
			items, next, err := call(r.Context(), s.security, r, page)
			if err != nil {
				Error(w, r, err)
				return
			}
			if items == nil {
				items = []T{}
			}
			writeJSON(w, rt.Status, List[T]{Data: items, NextCursor: next})
		})
	}}
}

// Status answers of actions without a resource.
type Accepted struct {
	Status string `json:"status"` // "accepted"
}

var (
	signUp = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.SignUp) (*auth.User, int, error) {
		u, err := a.SignUp(ctx, *req)
		return u, 0, err
	})
	lookUpUser = authRoute(func(ctx context.Context, a *auth.Service, r *http.Request, _ *None) (*auth.CustomerView, int, error) {
		v, err := a.LookUpUser(ctx, r.URL.Query().Get("handle"))
		return v, 0, err
	})
	lookUpUserByID = authRoute(func(ctx context.Context, a *auth.Service, r *http.Request, _ *None) (*auth.CustomerView, int, error) {
		v, err := a.LookUpUserByID(ctx, r.PathValue("id"))
		return v, 0, err
	})
	login = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.Login) (*auth.NewSession, int, error) {
		s, err := a.Login(ctx, *req)
		return s, 0, err
	})
	getMe = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, _ *None) (*auth.User, int, error) {
		u, err := a.Me(ctx)
		return u, 0, err
	})
	listSessions = authList(func(ctx context.Context, a *auth.Service, _ *http.Request, _ pw.Page) ([]*auth.Session, string, error) {
		list, err := a.Sessions(ctx)
		return list, "", err
	})
	endSession = authRoute(func(ctx context.Context, a *auth.Service, r *http.Request, _ *None) (None, int, error) {
		id := r.PathValue("id")
		if id == "" {
			id = "current"
		}
		return None{}, 0, a.EndSession(ctx, id)
	})
	changePassword = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.PasswordChange) (None, int, error) {
		return None{}, 0, a.ChangePassword(ctx, *req)
	})
	enrollTOTP = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, _ *None) (*auth.Enrollment, int, error) {
		e, err := a.EnrollTOTP(ctx)
		return e, 0, err
	})
	confirmTOTP = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.MFAConfirm) (*auth.RecoveryCodes, int, error) {
		c, err := a.ConfirmTOTP(ctx, *req)
		return c, 0, err
	})
	sendOTP = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, _ *None) (None, int, error) {
		return None{}, 0, a.SendMyOTP(ctx) // always an error: the route is Refused
	})
	requestReset = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.ResetRequest) (Accepted, int, error) {
		return Accepted{Status: "accepted"}, 0, a.RequestReset(ctx, *req)
	})
	confirmReset = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.ResetConfirm) (None, int, error) {
		return None{}, 0, a.ConfirmReset(ctx, *req)
	})
	openWallet = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.WalletCreate) (*pw.Account, int, error) {
		acc, created, err := a.OpenWallet(ctx, *req)
		if err == nil && !created {
			return acc, http.StatusOK, nil
		}
		return acc, 0, err
	})
	listWallets = authList(func(ctx context.Context, a *auth.Service, _ *http.Request, _ pw.Page) ([]*pw.Account, string, error) {
		list, err := a.Wallets(ctx)
		return list, "", err
	})
	createMerchant = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.MerchantCreate) (*auth.Merchant, int, error) {
		m, err := a.CreateMerchant(ctx, *req)
		return m, 0, err
	})
	createKey = authRoute(func(ctx context.Context, a *auth.Service, r *http.Request, req *auth.KeyCreate) (*auth.NewKey, int, error) {
		k, err := a.CreateKey(ctx, r.PathValue("id"), *req)
		return k, 0, err
	})
	revokeKey = authRoute(func(ctx context.Context, a *auth.Service, r *http.Request, _ *None) (None, int, error) {
		return None{}, 0, a.RevokeKey(ctx, r.PathValue("id"), r.PathValue("key_id"))
	})
	createOperator = authRoute(func(ctx context.Context, a *auth.Service, _ *http.Request, req *auth.OperatorCreate) (*auth.NewOperator, int, error) {
		o, err := a.CreateOperator(ctx, *req)
		return o, 0, err
	})
	revokeOperator = authRoute(func(ctx context.Context, a *auth.Service, r *http.Request, _ *None) (None, int, error) {
		return None{}, 0, a.RevokeOperator(ctx, r.PathValue("id"))
	})
	listAudit = authList(func(ctx context.Context, a *auth.Service, _ *http.Request, page pw.Page) ([]*auth.AuditRecord, string, error) {
		return a.AuditLog(ctx, page)
	})
)
