package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	pw "github.com/peakwallet/peakwallet"
)

// Password limits (NIST SP 800-63B §5.1.1.2): at least 8 characters, at
// least 64 allowed, no composition rules. The upper bound keeps hashing
// cheap to bound, not to constrain users.
const (
	PasswordRunesMin = 8
	PasswordBytesMax = 256
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// Argon2Default is OWASP's recommended minimum for argon2id (m=19 MiB, t=2,
// p=1), which RFC 9106 §4 allows for memory-constrained servers: a server
// that logs many users in at peak cannot give each login 2 GiB.
var Argon2Default = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Bounds on parameters read back from a stored hash, so that a corrupted
// or hostile row cannot make a login allocate without limit.
const (
	argon2MemoryMax = 1 << 20 // 1 GiB in KiB
	argon2TimeMax   = 16
	saltBytes       = 16
	keyBytes        = 32
)

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, so that the parameters
// travel with each hash and can be raised without breaking old ones.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(normalize(password)), salt, p.Time, p.Memory, p.Threads, keyBytes)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string encoded.
// A malformed encoding is an error, never a match.
func CheckPassword(encoded, password string) (bool, error) {
	p, salt, key, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(normalize(password)), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// ParsePHC decodes an argon2id PHC string.
func ParsePHC(encoded string) (p Argon2Params, salt, key []byte, err error) {
	bad := func(why string) (Argon2Params, []byte, []byte, error) {
		return Argon2Params{}, nil, nil, &pw.Error{Code: pw.EINTERNAL, Op: "auth.ParsePHC", Message: "malformed password hash: " + why}
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not $argon2id$…")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("version")
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 ||
		p.Memory < 8 || p.Memory > argon2MemoryMax || p.Time < 1 || p.Time > argon2TimeMax || threads < 1 || threads > 255 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, threads) != parts[3] {
		return bad("parameters")
	}
	p.Threads = uint8(threads)
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return bad("key")
	}
	return p, salt, key, nil
}

// normalize applies NFKC, as SP 800-63B asks, so that the same password
// typed on two keyboards is the same password.
func normalize(s string) string { return norm.NFKC.String(s) }

// CheckPasswordPolicy checks a new password: length, and absence from the
// list of common passwords and from the handle. No composition rules.
func CheckPasswordPolicy(password, handle string) error {
	if len(password) > PasswordBytesMax || !pw.ValidText(password) {
		return pw.FieldErrorf("password", pw.EWEAKPASSWORD, "password must be at most %d bytes of text", PasswordBytesMax)
	}
	n := normalize(password)
	if utf8.RuneCountInString(n) < PasswordRunesMin {
		return pw.FieldErrorf("password", pw.EWEAKPASSWORD, "password must be at least %d characters", PasswordRunesMin)
	}
	lower := strings.ToLower(n)
	if IsCommonPassword(lower) {
		return pw.FieldErrorf("password", pw.EWEAKPASSWORD, "this password is on a list of common passwords that attackers try first; choose another")
	}
	local, _, _ := strings.Cut(strings.ToLower(handle), "@")
	if local != "" && (lower == strings.ToLower(handle) || lower == local) {
		return pw.FieldErrorf("password", pw.EWEAKPASSWORD, "password must not be your handle")
	}
	return nil
}

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

// IsCommonPassword reports whether lower (a lower-cased, normalized
// password) is in the common-password list: the 30,000 most frequent
// passwords of leaked password sets as curated by zxcvbn (see
// docs/decisions/0011-common-password-list.md). Only those that pass the
// length rule are kept: shorter ones are refused anyway.
func IsCommonPassword(lower string) bool {
	commonOnce.Do(func() {
		list := frequency.FrequencyLists["passwords"]
		common = make(map[string]struct{}, len(list)/2)
		for _, p := range list {
			if utf8.RuneCountInString(p) >= PasswordRunesMin {
				common[p] = struct{}{}
			}
		}
	})
	_, ok := common[lower]
	return ok
}
