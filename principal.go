package peakwallet

import (
	"context"
	"strings"
)

// PrincipalKind names who is calling.
type PrincipalKind string

const (
	PrincipalOperator PrincipalKind = "operator"
	PrincipalMerchant PrincipalKind = "merchant"
	PrincipalUser     PrincipalKind = "user"
)

// Principal is the authenticated caller. Idempotency keys are scoped to it,
// and (with the security issue) so is what it may see and move.
type Principal struct {
	Kind PrincipalKind `json:"kind"`
	ID   string        `json:"id"`
	Role string        `json:"role,omitempty"` // operators: admin, support, risk
	// Scope limits a merchant key ("read" or "write"; write includes
	// read); empty means unrestricted.
	Scope string `json:"scope,omitempty"`
	// Session is the ID of a user's session or of the key that
	// authenticated the caller, so that "this session" can be ended.
	Session string `json:"-"`
}

// Operator roles: least privilege for each job.
const (
	RoleAdmin   = "admin"   // everything, including creating operators and reading the audit log
	RoleSupport = "support" // reads everything, moves no money
	RoleRisk    = "risk"    // reads everything and the audit log, moves no money
)

// IsOperator reports whether p is an operator of one of roles (any role
// when none are given).
func (p Principal) IsOperator(roles ...string) bool {
	if p.Kind != PrincipalOperator {
		return false
	}
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// String is the stable name used to scope idempotency keys: "kind:id".
func (p Principal) String() string { return string(p.Kind) + ":" + p.ID }

// ParsePrincipal reads what String wrote: the kind and the ID (role,
// scope and session are not in it).
func ParsePrincipal(s string) (Principal, error) {
	kind, id, ok := strings.Cut(s, ":")
	switch k := PrincipalKind(kind); {
	case !ok || id == "":
	case k == PrincipalOperator, k == PrincipalMerchant, k == PrincipalUser:
		return Principal{Kind: k, ID: id}, nil
	}
	return Principal{}, Errorf(EINVALID, "%q is not a principal", s)
}

type principalKey struct{}

// NewContextWithPrincipal returns ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal in ctx, if any.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticator turns a bearer token into a principal: EUNAUTHORIZED when
// the token is missing, malformed, unknown, expired or revoked.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}
