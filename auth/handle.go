package auth

import (
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// Handle limits: an email address is at most 254 bytes (RFC 5321), its
// local part 64; a phone number is E.164, at most 15 digits.
const (
	emailLocalBytesMax = 64
	phoneDigitsMin     = 8
	phoneDigitsMax     = 15
)

// ParseHandle validates and normalizes a handle: an email address
// (lower-cased) or an E.164 phone number ("+" and digits; spaces, dots,
// dashes and parentheses are dropped). Two spellings of one handle give
// the same result, so that no one can sign up twice as one person.
func ParseHandle(s string) (string, error) {
	bad := pw.FieldErrorf("handle", pw.EINVALID, "handle must be an email address or a phone number in international form (+4915112345678)")
	s = strings.TrimSpace(s)
	if s == "" || len(s) > pw.HandleBytesMax || !pw.ValidText(s) {
		return "", bad
	}
	if strings.HasPrefix(s, "+") {
		var b strings.Builder
		b.WriteByte('+')
		for _, r := range s[1:] {
			switch {
			case r >= '0' && r <= '9':
				b.WriteRune(r)
			case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
			default:
				return "", bad
			}
		}
		out := b.String()
		if n := len(out) - 1; n < phoneDigitsMin || n > phoneDigitsMax || out[1] == '0' {
			return "", bad
		}
		return out, nil
	}
	local, domain, ok := strings.Cut(strings.ToLower(s), "@")
	if !ok || local == "" || len(local) > emailLocalBytesMax || strings.Contains(domain, "@") {
		return "", bad
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad
	}
	for _, r := range local + domain {
		// Printable ASCII without spaces, quotes or angle brackets: enough
		// for real addresses, and nothing that needs escaping anywhere.
		if r <= ' ' || r > '~' || strings.ContainsRune(`"<>()[]\,;:`, r) {
			return "", bad
		}
	}
	return local + "@" + domain, nil
}
