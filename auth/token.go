package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// Token prefixes say what a bearer token is before any lookup, so that
// secret scanners can recognise leaked ones and the authenticator asks
// only the right table.
const (
	PrefixSessionToken  = "pws_"
	PrefixMerchantKey   = "pk_live_"
	PrefixOperatorKey   = "pwo_"
	PrefixResetToken    = "pwr_"
	tokenRandomBytes    = 32 // 256 bits: no guessing, so SHA-256 is enough to store them
	tokenEncodedLen     = 43 // base64url, unpadded, of 32 bytes
	keyDisplayPrefixLen = 12 // "pk_live_" and 4 characters: tells keys apart in lists
)

var b64url = base64.RawURLEncoding

// NewToken returns prefix followed by 256 random bits.
func NewToken(prefix string) string {
	b := make([]byte, tokenRandomBytes)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error()) // the OS is broken; nothing is safe
	}
	return prefix + b64url.EncodeToString(b)
}

// HashToken is how tokens are stored: hex SHA-256. A slow hash would add
// nothing for 256-bit random secrets and cost every request.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ParseToken returns the prefix of a well-formed token, or unauthorized.
func ParseToken(token string) (prefix string, err error) {
	for _, p := range []string{PrefixSessionToken, PrefixMerchantKey, PrefixOperatorKey, PrefixResetToken} {
		rest, ok := strings.CutPrefix(token, p)
		if !ok {
			continue
		}
		if len(rest) != tokenEncodedLen {
			break
		}
		if b, err := b64url.DecodeString(rest); err != nil || len(b) != tokenRandomBytes {
			break
		}
		return p, nil
	}
	return "", pw.Errorf(pw.EUNAUTHORIZED, "invalid token")
}
