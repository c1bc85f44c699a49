package auth

import (
	"context"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Limits on names.
const NameBytesMax = 100

// Merchant key scopes: read sees the merchant's objects; write also moves
// money from the merchant's accounts.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// MerchantCreate is POST /v1/merchants.
type MerchantCreate struct {
	Name string `json:"name"`
}

// KeyCreate is POST /v1/merchants/{id}/keys.
type KeyCreate struct {
	Scope string `json:"scope,omitempty"` // "write" by default
}

// NewKey answers a key's creation: the key is shown this once.
type NewKey struct {
	APIKey
	Key string `json:"key"`
}

// OperatorCreate is POST /v1/operators.
type OperatorCreate struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// NewOperator answers an operator's creation: the key is shown this once.
type NewOperator struct {
	Operator
	Key string `json:"key"`
}

func validName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > NameBytesMax || !pw.ValidText(name) {
		return pw.FieldErrorf("name", pw.EINVALID, "name must be 1 to %d bytes of text", NameBytesMax)
	}
	return nil
}

// requireAdmin is function-level authorization for admin-only actions.
func requireAdmin(ctx context.Context) error {
	if p, _ := pw.PrincipalFromContext(ctx); !p.IsOperator(pw.RoleAdmin) {
		return pw.Errorf(pw.EFORBIDDEN, "only an admin operator can do this")
	}
	return nil
}

// CreateMerchant is for admins.
func (s *Service) CreateMerchant(ctx context.Context, req MerchantCreate) (*Merchant, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := validName(req.Name); err != nil {
		return nil, err
	}
	m := &Merchant{ID: pw.NewID(pw.PrefixMerchant, s.clock()), Name: req.Name, CreatedAt: s.clock()}
	if err := s.store.CreateMerchant(ctx, m); err != nil {
		return nil, err
	}
	return m, s.Audit(ctx, "merchant.create", m.ID, map[string]string{"name": m.Name})
}

// CreateKey issues an API key for a merchant (admins only). Rotation is a
// new key followed by the old one's revocation: both work in between.
func (s *Service) CreateKey(ctx context.Context, merchantID string, req KeyCreate) (*NewKey, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Scope == "" {
		req.Scope = ScopeWrite
	}
	if req.Scope != ScopeRead && req.Scope != ScopeWrite {
		return nil, pw.FieldErrorf("scope", pw.EINVALID, "scope must be read or write")
	}
	if !pw.IDHasPrefix(merchantID, pw.PrefixMerchant) {
		return nil, pw.Errorf(pw.ENOTFOUND, "merchant %q not found", merchantID)
	}
	if _, err := s.store.Merchant(ctx, merchantID); err != nil {
		return nil, err
	}
	key := NewToken(PrefixMerchantKey)
	k := APIKey{ID: pw.NewID(pw.PrefixKey, s.clock()), MerchantID: merchantID, Prefix: key[:keyDisplayPrefixLen],
		Hash: HashToken(key), Scope: req.Scope, CreatedAt: s.clock()}
	if err := s.store.CreateAPIKey(ctx, &k); err != nil {
		return nil, err
	}
	if err := s.Audit(ctx, "key.create", k.ID, map[string]string{"merchant": merchantID, "scope": k.Scope}); err != nil {
		return nil, err
	}
	return &NewKey{APIKey: k, Key: key}, nil
}

// RevokeKey ends a merchant's key (admins only).
func (s *Service) RevokeKey(ctx context.Context, merchantID, keyID string) error {
	if err := requireAdmin(ctx); err != nil {
		return err
	}
	if !pw.IDHasPrefix(keyID, pw.PrefixKey) {
		return pw.Errorf(pw.ENOTFOUND, "key %q not found", keyID)
	}
	err := s.store.RevokeAPIKey(ctx, merchantID, keyID, s.clock())
	s.auths.revoked() // whatever the store answered: it may have committed
	if err != nil {
		return err
	}
	return s.Audit(ctx, "key.revoke", keyID, map[string]string{"merchant": merchantID})
}

// CreateOperator is for admins.
func (s *Service) CreateOperator(ctx context.Context, req OperatorCreate) (*NewOperator, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := validName(req.Name); err != nil {
		return nil, err
	}
	switch req.Role {
	case pw.RoleAdmin, pw.RoleSupport, pw.RoleRisk:
	default:
		return nil, pw.FieldErrorf("role", pw.EINVALID, "role must be admin, support or risk")
	}
	key := NewToken(PrefixOperatorKey)
	o := Operator{ID: pw.NewID(pw.PrefixOperator, s.clock()), Name: req.Name, Role: req.Role, KeyHash: HashToken(key), CreatedAt: s.clock()}
	if err := s.store.CreateOperator(ctx, &o); err != nil {
		return nil, err
	}
	if err := s.Audit(ctx, "operator.create", o.ID, map[string]string{"role": o.Role, "name": o.Name}); err != nil {
		return nil, err
	}
	return &NewOperator{Operator: o, Key: key}, nil
}

// RevokeOperator ends an operator's key (admins only; not one's own, so
// that the last admin cannot lock everyone out by mistake — the root key
// from PEAKWALLET_OPERATOR_KEY is not stored and cannot be revoked here).
func (s *Service) RevokeOperator(ctx context.Context, id string) error {
	if err := requireAdmin(ctx); err != nil {
		return err
	}
	if p, _ := pw.PrincipalFromContext(ctx); p.ID == id {
		return pw.Errorf(pw.EFORBIDDEN, "an operator cannot revoke its own key")
	}
	if !pw.IDHasPrefix(id, pw.PrefixOperator) {
		return pw.Errorf(pw.ENOTFOUND, "operator %q not found", id)
	}
	err := s.store.RevokeOperator(ctx, id, s.clock())
	s.auths.revoked() // whatever the store answered: it may have committed
	if err != nil {
		return err
	}
	return s.Audit(ctx, "operator.revoke", id, nil)
}

// AuthStoreTimeout bounds the store read behind one authentication. A
// healthy store answers in about a millisecond; past this bound it is in
// trouble (down, starting up, its pool exhausted), and the request is
// better answered busy (503, Retry-After) now than at the client's
// deadline. It is no longer than the shortest class deadline
// (admission.DeadlineDefaults).
const AuthStoreTimeout = 1 * time.Second

// Authenticate implements peakwallet.Authenticator for session tokens,
// merchant keys and operator keys, told apart by their prefixes. Unknown,
// expired and revoked tokens are all just unauthorized.
//
// A principal read from the store is reused for AuthCacheTTL (authcache.go).
func (s *Service) Authenticate(ctx context.Context, token string) (pw.Principal, error) {
	p, _, err := s.authenticateToken(ctx, token, false)
	return p, err
}

// AuthenticateOrStale is Authenticate, except that while the store is
// known not to answer (Options.StoreDown) a principal whose cached time
// has passed, by at most AuthStaleMax, is answered from the cache (stale
// true) instead of reading the store. The caller must not act on a stale
// principal before it has authenticated the token again with
// Authenticate, once it knows the request will reach the store (http:
// once the request is admitted): a revocation made by another process
// sharing the store is seen only there.
//
// Why: a request refused because the store is down is authenticated
// first, and each principal's cached time runs out within AuthCacheTTL.
// On a stalled PostgreSQL every request then read the store (bounded by
// AuthStoreTimeout) and was refused there, before admission: no request
// reached the breaker, which made no probe until a read succeeded after
// the stall, and service came back up to 12.7 s after the stall ended
// instead of within the breaker's cool-down (each read that timed out
// also closed a pooled connection, which may have slowed the return
// further; not measured apart). docs/overload.md, "PostgreSQL stalled for
// 10 s under load".
func (s *Service) AuthenticateOrStale(ctx context.Context, token string) (pw.Principal, bool, error) {
	return s.authenticateToken(ctx, token, s.storeDown != nil)
}

func (s *Service) authenticateToken(ctx context.Context, token string, mayBeStale bool) (pw.Principal, bool, error) {
	prefix, err := ParseToken(token)
	if err != nil {
		return pw.Principal{}, false, err
	}
	hash, now := HashToken(token), s.clock()
	p, ok, version := s.auths.get(hash, now)
	if ok {
		return p, false, nil
	}
	if mayBeStale && s.storeDown() {
		if p, ok := s.auths.getStale(hash, now); ok {
			return p, true, nil
		}
	}
	// Authentication runs before admission control, so no class deadline
	// covers its store read: bound it here, or a request from a principal
	// not in the cache waits on a database that is down or starting up
	// for as long as its client keeps the connection open.
	sctx, cancel := context.WithTimeout(ctx, AuthStoreTimeout)
	defer cancel()
	p, until, ends, err := s.authenticate(sctx, prefix, hash, now)
	if err != nil {
		return pw.Principal{}, false, err
	}
	s.auths.put(hash, p, until, ends, version)
	return p, false, nil
}

// authenticate reads the principal of a token hash from the store, with
// how long it may be reused and when its credential ends by itself (a
// session's expiry; zero: never).
func (s *Service) authenticate(ctx context.Context, prefix, hash string, now time.Time) (p pw.Principal, until, ends time.Time, err error) {
	unauthorized := pw.Errorf(pw.EUNAUTHORIZED, "invalid token")
	until = now.Add(AuthCacheTTL)
	switch prefix {
	case PrefixSessionToken:
		ses, err := s.store.SessionByHash(ctx, hash)
		if pw.ErrorCode(err) == pw.ENOTFOUND || (err == nil && (!ses.RevokedAt.IsZero() || !now.Before(ses.ExpiresAt))) {
			return pw.Principal{}, until, ends, unauthorized
		}
		if err != nil {
			return pw.Principal{}, until, ends, err
		}
		return pw.Principal{Kind: pw.PrincipalUser, ID: ses.UserID, Session: ses.ID}, minTime(until, ses.ExpiresAt), ses.ExpiresAt, nil
	case PrefixMerchantKey:
		k, err := s.store.APIKeyByHash(ctx, hash)
		if pw.ErrorCode(err) == pw.ENOTFOUND || (err == nil && !k.RevokedAt.IsZero()) {
			return pw.Principal{}, until, ends, unauthorized
		}
		if err != nil {
			return pw.Principal{}, until, ends, err
		}
		return pw.Principal{Kind: pw.PrincipalMerchant, ID: k.MerchantID, Scope: k.Scope, Session: k.ID}, until, ends, nil
	case PrefixOperatorKey:
		o, err := s.store.OperatorByHash(ctx, hash)
		if pw.ErrorCode(err) == pw.ENOTFOUND || (err == nil && !o.RevokedAt.IsZero()) {
			return pw.Principal{}, until, ends, unauthorized
		}
		if err != nil {
			return pw.Principal{}, until, ends, err
		}
		return pw.Principal{Kind: pw.PrincipalOperator, ID: o.ID, Role: o.Role, Session: o.ID}, until, ends, nil
	}
	return pw.Principal{}, until, ends, unauthorized
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// CredentialLive says whether the credential that authenticated p
// (p.Session: a user's session, a merchant key, an operator key) may still
// act for p: nil while it may, unauthorized once it has been ended. The
// surge queue asks it before it pays an intent (http's settler), so that a
// payment queued by a session or key that has since been ended is not
// paid: a password changed after an intruder queued payments, a leaked
// merchant key revoked. A session that ended by its own logout, or by
// growing old, may still pay what it queued: the user asked for that
// payment and ended nothing in distrust. A credential not stored (the
// root operator key, or none) is not checked. Other errors are the
// store's.
func (s *Service) CredentialLive(ctx context.Context, p pw.Principal) error {
	if p.Session == "" {
		return nil
	}
	// The message names what ended and why, in words and as the reason's
	// code, and what to do: a user signs in again, a merchant or an
	// operator uses a live key.
	ended := func(what, why, code string) error {
		again := "sign in and send it again"
		if p.Kind != pw.PrincipalUser {
			again = "send it again with a live key"
		}
		return pw.Errorf(pw.EUNAUTHORIZED, "the %s that made this payment %s (%s) before it was paid; %s", what, why, code, again)
	}
	sessionEnded := map[string]string{
		EndedByUser:           "was ended from another of your sessions",
		EndedByPasswordChange: "was ended by a password change",
		EndedByPasswordReset:  "was ended by a password reset",
	}
	switch p.Kind {
	case pw.PrincipalUser:
		ses, err := s.store.SessionByID(ctx, p.Session)
		switch {
		case pw.ErrorCode(err) == pw.ENOTFOUND || (err == nil && ses.UserID != p.ID):
			return ended("session", "no longer exists", "not_found")
		case err != nil:
			return err
		case !ses.RevokedAt.IsZero() && ses.EndedBy != EndedByLogout:
			code := ses.EndedBy
			if code == "" { // ended before reasons were recorded
				code = EndedByUser
			}
			why, ok := sessionEnded[code]
			if !ok {
				why = "was ended"
			}
			return ended("session", why, code)
		}
	case pw.PrincipalMerchant:
		k, err := s.store.APIKeyByID(ctx, p.Session)
		switch {
		case pw.ErrorCode(err) == pw.ENOTFOUND || (err == nil && k.MerchantID != p.ID):
			return ended("API key", "no longer exists", "not_found")
		case err != nil:
			return err
		case !k.RevokedAt.IsZero():
			return ended("API key", "was revoked", "revoked")
		}
	case pw.PrincipalOperator:
		o, err := s.store.OperatorByID(ctx, p.Session)
		switch {
		case pw.ErrorCode(err) == pw.ENOTFOUND || (err == nil && o.ID != p.ID):
			return ended("operator key", "no longer exists", "not_found")
		case err != nil:
			return err
		case !o.RevokedAt.IsZero():
			return ended("operator key", "was revoked", "revoked")
		}
	default:
		return ended("credential", "is of no known kind", "unknown")
	}
	return nil
}
