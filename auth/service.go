// Package auth holds peakwallet's identity and security rules: users and
// their sessions, the password policy, throttling and lockout, TOTP,
// recovery codes and one-time codes by message, step-up challenges,
// merchant API keys, operator keys and roles, object-level authorization
// over the ledger (Guard), the hash-chained audit log and the outbox. It
// has no SQL (stores implement Store) and no HTTP.
package auth

import (
	"context"
	"crypto/cipher"
	"log/slog"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// Ledger is what auth needs from the ledger: the service, and the
// idempotency claims that make opening a wallet happen once.
type Ledger interface {
	pw.LedgerService
	BeginIdempotent(ctx context.Context, key pw.IdempotencyKey, fingerprint string) (claim, replay *pw.IdempotencyRecord, err error)
	ReleaseIdempotent(ctx context.Context, claim *pw.IdempotencyRecord)
	// WithRecord makes the command made with the returned context have w
	// write rec in the transaction that commits it (ledger.Ledger.WithRecord).
	WithRecord(ctx context.Context, w pw.CommitWriter, rec any) context.Context
}

// Options configure a Service. Zero values are sensible defaults.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	Argon2 Argon2Params // Argon2Default when zero
	// Sender delivers the outbox's messages; nil keeps them in the store
	// (the default in cmd/peakwallet is a DirSender in the data directory).
	Sender Sender
	// SessionTTL is a session's lifetime; DefaultSessionTTL when zero.
	SessionTTL time.Duration
	// StepUpThresholds: a user's payment above its currency's figure (in
	// minor units) needs MFA. A currency not in it takes its default,
	// about 100 EUR worth (DefaultStepUpThresholds); nil: every default.
	// New panics on an unsupported currency or a figure not above zero.
	StepUpThresholds StepUpThresholds
	Limits           Limits // DefaultLimits when zero
	Issuer           string // shown in authenticator apps; "peakwallet" by default
	// SecretKey (SecretKeyBytes) seals TOTP secrets at rest, and keys the
	// hashes of step-up message codes; without it the secrets are stored
	// in clear and the hashes keyed by a fixed key (tests, and stores from
	// before the key).
	SecretKey []byte
	// PasswordHashesMax bounds the password hashes (argon2id) run at once;
	// DefaultPasswordHashesMax() when zero (hashslots.go).
	PasswordHashesMax int
	// StoreDown, when set, says whether the store is known not to answer
	// (serve: admission's breaker is not closed). While it does,
	// AuthenticateOrStale answers from a principal cached up to
	// AuthStaleMax past its time instead of reading the store
	// (authcache.go).
	StoreDown func() bool
}

// Defaults.
const (
	DefaultSessionTTL = 12 * time.Hour
	ResetTokenTTL     = 30 * time.Minute
	OTPTTL            = 10 * time.Minute
	SessionsListMax   = 100
)

// Service is the security rules over a Store and a Ledger.
type Service struct {
	store  Store
	ledger Ledger
	now    func() time.Time
	log    *slog.Logger
	argon2 Argon2Params
	sender Sender
	ttl    time.Duration
	stepUp StepUpThresholds // every supported currency's (Options' over the defaults)
	issuer string
	// dummyHash is checked against when a handle is unknown, so that a
	// login takes as long whether or not the user exists.
	dummyHash string
	throttle  *throttle
	handleKey []byte      // keys ghostKey's hash (failures.go); nil without a SecretKey
	aead      cipher.AEAD // seals TOTP secrets; nil without a SecretKey
	linkKey   []byte      // keys step-up codes' hashes (otpHash), from the SecretKey
	audits    *groupcommit.Queue[*AuditRecord, struct{}]
	auths     authCache
	storeDown func() bool   // Options.StoreDown; nil: never
	hashes    chan struct{} // PasswordHashesMax slots for password hashes
	queued    chan struct{} // wakes the delivery loop (Queued); one pending wake at most
}

// New returns a Service. ledger may be nil for services that only
// authenticate (the CLI).
func New(store Store, ledger Ledger, opts Options) *Service {
	s := &Service{store: store, ledger: ledger, now: opts.Now, log: opts.Logger, argon2: opts.Argon2,
		sender: opts.Sender, ttl: opts.SessionTTL, stepUp: opts.StepUpThresholds.withDefaults(), issuer: opts.Issuer,
		storeDown: opts.StoreDown}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.argon2 == (Argon2Params{}) {
		s.argon2 = Argon2Default
	}
	if s.ttl <= 0 {
		s.ttl = DefaultSessionTTL
	}
	if s.issuer == "" {
		s.issuer = "peakwallet"
	}
	limits := opts.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits
	}
	hashes := opts.PasswordHashesMax
	if hashes <= 0 {
		hashes = DefaultPasswordHashesMax()
	}
	s.hashes = make(chan struct{}, hashes)
	s.queued = make(chan struct{}, 1)
	s.throttle = newThrottle(limits)
	s.audits = newAuditQueue(store)
	s.linkKey = linkKeyOf(opts.SecretKey)
	if opts.SecretKey != nil {
		if len(opts.SecretKey) != SecretKeyBytes {
			panic("auth: Options.SecretKey must be 32 bytes")
		}
		aead, err := newAEAD(opts.SecretKey)
		if err != nil {
			panic("auth: " + err.Error())
		}
		s.aead = aead
		s.handleKey = handleKeyOf(opts.SecretKey)
	}
	h, err := HashPassword("not a password: equalizes timing", s.argon2)
	if err != nil {
		panic("auth: " + err.Error())
	}
	s.dummyHash = h
	return s
}

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }

// clock is now in UTC at microseconds, which every store keeps exactly.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

type addressKey struct{}
type mfaCodeKey struct{}

// NewContextWithClientAddress returns ctx carrying the client's network
// address, which throttling and the audit log use.
func NewContextWithClientAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addressKey{}, addr)
}

// ClientAddress returns the address in ctx, or "".
func ClientAddress(ctx context.Context) string {
	a, _ := ctx.Value(addressKey{}).(string)
	return a
}

// NewContextWithMFACode returns ctx carrying a step-up code (the MFA-Code
// header of the request).
func NewContextWithMFACode(ctx context.Context, code string) context.Context {
	return context.WithValue(ctx, mfaCodeKey{}, code)
}

func mfaCodeFrom(ctx context.Context) string {
	c, _ := ctx.Value(mfaCodeKey{}).(string)
	return c
}

// actor names the principal in ctx for the audit log.
func actor(ctx context.Context) string {
	if p, ok := pw.PrincipalFromContext(ctx); ok {
		return p.String()
	}
	return "anonymous"
}
