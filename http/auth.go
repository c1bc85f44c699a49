package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// TokenBytesMax bounds a bearer token, so that no one hashes megabytes.
const TokenBytesMax = 1024

// OperatorAuthenticator accepts the operator key (PEAKWALLET_OPERATOR_KEY)
// as the admin operator "root".
type OperatorAuthenticator struct {
	hash [sha256.Size]byte
	set  bool
}

// NewOperatorAuthenticator returns an authenticator for key. An empty key
// authenticates no one.
func NewOperatorAuthenticator(key string) *OperatorAuthenticator {
	return &OperatorAuthenticator{hash: sha256.Sum256([]byte(key)), set: key != ""}
}

// Authenticate compares the SHA-256 of token with that of the key in
// constant time: hashing first makes the time independent of the lengths
// too.
func (a *OperatorAuthenticator) Authenticate(_ context.Context, token string) (pw.Principal, error) {
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], a.hash[:]) != 1 || !a.set || token == "" {
		return pw.Principal{}, pw.Errorf(pw.EUNAUTHORIZED, "invalid token")
	}
	return pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: "admin"}, nil
}

// Authenticators tries each authenticator in turn and takes the first that
// accepts the token, so that user sessions and merchant keys plug in beside
// the operator key. An error other than unauthorized (a store that cannot
// be reached) stops the search: the token might have been valid.
type Authenticators []pw.Authenticator

// Authenticate implements peakwallet.Authenticator.
func (as Authenticators) Authenticate(ctx context.Context, token string) (pw.Principal, error) {
	p, _, err := as.first(ctx, token, false)
	return p, err
}

// first is the principal of the first authenticator that accepts token,
// stale from one that may answer stale when mayBeStale.
func (as Authenticators) first(ctx context.Context, token string, mayBeStale bool) (pw.Principal, bool, error) {
	for _, a := range as {
		p, stale, err := authenticateWith(ctx, a, token, mayBeStale)
		if err == nil {
			return p, stale, nil
		}
		if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			return pw.Principal{}, false, err
		}
	}
	return pw.Principal{}, false, pw.Errorf(pw.EUNAUTHORIZED, "invalid token")
}

// StaleAuthenticator is an Authenticator that may, while the store is
// known not to answer, answer from a principal it cached earlier without
// reading the store (stale true; auth.Service.AuthenticateOrStale). A
// request so authenticated is authenticated again, with Authenticate,
// once it is admitted (admit), before anything acts on it.
type StaleAuthenticator interface {
	AuthenticateOrStale(ctx context.Context, token string) (pw.Principal, bool, error)
}

// AuthenticateOrStale implements StaleAuthenticator: each authenticator
// in turn, stale from those that may be.
func (as Authenticators) AuthenticateOrStale(ctx context.Context, token string) (pw.Principal, bool, error) {
	return as.first(ctx, token, true)
}

// authenticateWith authenticates token with a: with AuthenticateOrStale
// when mayBeStale and a is a StaleAuthenticator, else with Authenticate
// (stale false).
func authenticateWith(ctx context.Context, a pw.Authenticator, token string, mayBeStale bool) (pw.Principal, bool, error) {
	if sa, ok := a.(StaleAuthenticator); ok && mayBeStale {
		return sa.AuthenticateOrStale(ctx, token)
	}
	p, err := a.Authenticate(ctx, token)
	return p, false, err
}

// allowed is nil when access allows p, else r's 403.
func allowed(access Access, p pw.Principal, r *http.Request) error {
	if access.allows(p) {
		return nil
	}
	return pw.Errorf(pw.EFORBIDDEN, "this principal cannot use %s %s", r.Method, r.Pattern)
}

// staleAuthKey keys, in a request's context, the token of a request whose
// principal came stale from the cache (StaleAuthenticator).
type staleAuthKey struct{}

// authenticateAgain authenticates a request whose principal came stale
// from the cache (staleAuthKey in ctx, one of r's contexts) against the
// store, now that it is going on to act, and checks rt's access for the
// principal the store gives; it returns ctx with that principal and
// without the stale mark, or ctx as it was when its principal was not
// stale. A request refused as a stale principal's was: its credential
// revoked meanwhile (by another process sharing the store: this one's
// revocations empty its cache) gets 401, and a store still away the error
// it gave.
func (s *Server) authenticateAgain(ctx context.Context, r *http.Request, rt *Route) (context.Context, error) {
	token, ok := ctx.Value(staleAuthKey{}).(string)
	if !ok {
		return ctx, nil
	}
	p, err := s.auth.Authenticate(ctx, token)
	if err != nil {
		return ctx, err
	}
	if err := allowed(rt.Access, p, r); err != nil {
		return ctx, err
	}
	return context.WithValue(pw.NewContextWithPrincipal(ctx, p), staleAuthKey{}, nil), nil
}

// keepAuthenticated returns base, an ancestor of ctx, with the principal
// ctx carries once authenticated again (authenticateAgain) and without the
// stale mark, or base as it is when its principal was not stale: a context
// made from base afterwards (a top-up's, with its own deadline) must not
// bring the stale principal back. Until 2026-11-29 a top-up queued again
// after its principal was authenticated again was served with the stale
// one, and, refused busy and offered to the surge queue, authenticated
// again there (found in review; TestKeepAuthenticated).
func keepAuthenticated(base, ctx context.Context) context.Context {
	if _, stale := base.Value(staleAuthKey{}).(string); !stale {
		return base
	}
	p, _ := pw.PrincipalFromContext(ctx)
	return context.WithValue(pw.NewContextWithPrincipal(base, p), staleAuthKey{}, nil)
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive, RFC 9110).
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", pw.Errorf(pw.EUNAUTHORIZED, "the Authorization header is required: Bearer <token>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", pw.Errorf(pw.EUNAUTHORIZED, "the Authorization header must be Bearer <token>")
	}
	if len(token) > TokenBytesMax {
		return "", pw.Errorf(pw.EUNAUTHORIZED, "invalid token")
	}
	return token, nil
}

// authenticate puts the caller's principal in the request's context, or
// answers 401 (with WWW-Authenticate, set by Error); a principal the
// route's access does not allow gets 403.
func (s *Server) authenticate(next http.Handler, access Access) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := bearerToken(r)
		if err != nil {
			Error(w, r, err)
			return
		}
		p, stale, err := authenticateWith(r.Context(), s.auth, token, true)
		if err != nil {
			Error(w, r, err)
			return
		}
		if err := allowed(access, p, r); err != nil {
			Error(w, r, err)
			return
		}
		ctx := pw.NewContextWithPrincipal(r.Context(), p)
		if stale {
			ctx = context.WithValue(ctx, staleAuthKey{}, token)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
