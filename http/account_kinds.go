package http

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

// A top-up is a transfer from a system account and a withdrawal one to it
// (api.md): both are POST /v1/transfers, as payments are, yet the issue's
// priorities put them below payments. So the admission class of a transfer
// is the route's (payment) unless the store says one of its two accounts is
// a system account; then it is topup. The client names the accounts, but
// the kind is the store's record, and naming a system account can only
// lower a request's priority, never raise it: a client cannot jump the
// queue with it.
const (
	// AccountKindsMax bounds the accounts whose kind a server remembers;
	// when full, it forgets them all and learns again.
	AccountKindsMax = 1 << 16
	// AccountKindLookups bounds the store reads of accounts' kinds in
	// flight: a transfer whose account is not yet known while that many
	// are being read stays a payment, unread, so a surge of new accounts
	// adds at most this many reads beside the payments' own.
	AccountKindLookups = 2
	// AccountKindLookupTimeout bounds one such read; past it (a slow or
	// unreachable store) the transfer goes as a payment.
	AccountKindLookupTimeout = 50 * time.Millisecond
)

// accountKinds remembers which accounts are system accounts. An account's
// kind never changes, so what it learns stays true.
type accountKinds struct {
	read    func(ctx context.Context, id string) (*pw.Account, error) // the store's, no authorization
	lookups chan struct{}
	// storeUp, when set, says whether the store may be read now: not while
	// admission's breaker is not closed, even for the breaker's probe,
	// which must go to the store as the payment it was admitted as
	// (TestTheBreakerKeepsTransferClassingOffADeadStore).
	storeUp func() bool

	mu     sync.RWMutex
	system map[string]bool // account ID → is a system account
}

func newAccountKinds(read func(ctx context.Context, id string) (*pw.Account, error)) *accountKinds {
	return &accountKinds{read: read, lookups: make(chan struct{}, AccountKindLookups), system: map[string]bool{}}
}

// learn records a's kind, as isSystem read it from the store.
func (k *accountKinds) learn(a *pw.Account) {
	if a == nil || a.ID == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.system) >= AccountKindsMax {
		clear(k.system)
	}
	k.system[a.ID] = a.Kind == pw.AccountSystem
}

// isSystem reports whether id is known, or read now, to be a system
// account. It reads the store only when the account is not known, the
// store is taken to answer (the breaker is closed), a lookup slot is free
// and ctx leaves time; otherwise, and when the read fails (no
// such account, the store down), the answer is false: the transfer keeps
// the route's class, and the handler answers what is wrong with it.
func (k *accountKinds) isSystem(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	k.mu.RLock()
	system, known := k.system[id]
	k.mu.RUnlock()
	if known {
		return system
	}
	if ctx.Err() != nil || k.storeUp != nil && !k.storeUp() {
		return false
	}
	select {
	case k.lookups <- struct{}{}:
		defer func() { <-k.lookups }()
	default:
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, AccountKindLookupTimeout)
	defer cancel()
	a, err := k.read(ctx, id)
	if err != nil {
		return false
	}
	k.learn(a)
	return a.Kind == pw.AccountSystem
}

// transferClass is the admission class of a transfer with body: topup when
// it is from or to a system account (a top-up or a withdrawal), else
// payment. A body that does not decode is a payment: the handler answers
// its problem.
func (k *accountKinds) transferClass(ctx context.Context, body []byte) admission.Class {
	var accounts struct {
		From string `json:"from_account"`
		To   string `json:"to_account"`
	}
	if json.Unmarshal(body, &accounts) != nil {
		return admission.ClassPayment
	}
	if k.isSystem(ctx, accounts.From) || k.isSystem(ctx, accounts.To) {
		return admission.ClassTopup
	}
	return admission.ClassPayment
}
