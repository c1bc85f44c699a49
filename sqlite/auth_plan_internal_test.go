package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAPasswordChangeFindsTheUsersResetTokensByIndex: a password change
// deletes the user's unused reset tokens (SetPassword) by user_id, through
// reset_tokens_user, not by a scan of every token (before migration 0009
// there was no such index).
func TestAPasswordChangeFindsTheUsersResetTokensByIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lines := queryPlan(t, s.write, deleteUnusedResetTokensSQL, "usr_1")
	if all := strings.Join(lines, "; "); !strings.Contains(all, "INDEX reset_tokens_user") {
		t.Fatalf("the user's reset tokens are found otherwise than by reset_tokens_user: %s", all)
	}
}
