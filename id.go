package peakwallet

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID prefixes: every identifier names its type.
const (
	PrefixAccount   = "acc"
	PrefixTransfer  = "tr"
	PrefixHold      = "hold"
	PrefixUser      = "usr"
	PrefixSession   = "ses"
	PrefixMerchant  = "mer"
	PrefixKey       = "key"
	PrefixOperator  = "op"
	PrefixChallenge = "chl"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns prefix_<ULID>: unique, and sortable by creation time
// (monotonic within a process, millisecond-ordered across processes).
func NewID(prefix string, now time.Time) string {
	idMu.Lock()
	id := ulid.MustNew(ulid.Timestamp(now), idEntropy)
	idMu.Unlock()
	return prefix + "_" + strings.ToLower(id.String())
}

// IDHasPrefix reports whether id is a well-formed identifier of the given type.
func IDHasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}
