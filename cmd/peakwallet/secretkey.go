package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/peakwallet/peakwallet/auth"
)

// SecretKeyFile holds the generated key that seals TOTP secrets, inside
// the data directory.
const SecretKeyFile = "secret.key"

// secretKey returns the key that seals TOTP secrets at rest:
// PEAKWALLET_SECRET_KEY (base64 of 32 bytes; every process sharing one
// PostgreSQL database needs the same), or the one kept in the data
// directory, or a new one written there. Keep it out of database backups:
// the point is that the database alone does not open the secrets.
func secretKey(dataDir string, env *environment) ([]byte, error) {
	key, err := storedSecretKey(dataDir, env)
	if err != nil || key != nil {
		return key, err
	}
	key = make([]byte, auth.SecretKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, SecretKeyFile)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the secret key: %w", err)
	}
	return key, nil
}

// storedSecretKey is the secret key serve would use, without making one:
// PEAKWALLET_SECRET_KEY, or the one kept in the data directory, or nil
// (and no error) when there is neither. For commands that must derive
// what the server derived (audit --handle), where a new key would give
// hashes no record holds.
func storedSecretKey(dataDir string, env *environment) ([]byte, error) {
	decode := func(s, where string) ([]byte, error) {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != auth.SecretKeyBytes {
			return nil, fmt.Errorf("%s must be the base64 of %d bytes", where, auth.SecretKeyBytes)
		}
		return b, nil
	}
	if k := env.getenv("PEAKWALLET_SECRET_KEY"); k != "" {
		return decode(k, "PEAKWALLET_SECRET_KEY")
	}
	path := filepath.Join(dataDir, SecretKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the secret key: %w", err)
	}
	return decode(string(b), path)
}
