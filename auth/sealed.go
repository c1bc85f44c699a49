package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"strings"

	pw "github.com/peakwallet/peakwallet"
)

// TOTP secrets must be readable to check codes, so they cannot be hashed;
// they are sealed (AES-256-GCM, the user ID as associated data, so a
// sealed secret copied to another user's row does not open) under a key
// kept outside the database. A stolen database alone then yields no
// second factors.

// SecretKeyBytes is the size of Options.SecretKey.
const SecretKeyBytes = 32

const sealedPrefix = "sealed1:"

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns secret sealed for userID, or secret itself without a key.
func (s *Service) seal(userID, secret string) (string, error) {
	if s.aead == nil {
		return secret, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(userID))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// open reverses seal. Secrets stored before a key was configured are
// plain and still work.
func (s *Service) open(userID, stored string) (string, error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	bad := &pw.Error{Code: pw.EINTERNAL, Op: "auth.open", Message: "a sealed TOTP secret cannot be opened: is the secret key the one it was sealed with?"}
	if s.aead == nil {
		return "", bad
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", bad
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(userID))
	if err != nil {
		return "", bad
	}
	return string(plain), nil
}
