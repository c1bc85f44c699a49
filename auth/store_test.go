package auth_test

import (
	"path/filepath"
	"testing"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/sqlite"
)

// newMemStore is a real SQLite store in a temporary directory (the stores'
// own conformance is authtest's; these tests need one that works).
func newMemStore(t *testing.T) auth.Store {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "auth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
