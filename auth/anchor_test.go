package auth_test

import (
	"strings"
	"testing"

	"github.com/peakwallet/peakwallet/auth"
)

// TestAnAuditAnchorIsReadAsVerifyPrintsIt: seq:hash, seq from 1, the hash
// 64 lowercase hex digits; anything else is refused with what is wanted,
// never read as some other record.
func TestAnAuditAnchorIsReadAsVerifyPrintsIt(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	a, err := auth.ParseAuditAnchor(" 12:" + hash + "\r")
	if err != nil || a.Seq != 12 || a.Hash != hash || a.String() != "12:"+hash {
		t.Fatalf("ParseAuditAnchor = %+v, %v", a, err)
	}
	for _, bad := range []string{"", "12", hash, "0:" + hash, "-1:" + hash, "x:" + hash, "12:" + hash[:62],
		"12:" + strings.ToUpper(hash), "12:" + hash + "00", "12:" + strings.Repeat("zz", 32), "12 :" + hash} {
		if a, err := auth.ParseAuditAnchor(bad); err == nil {
			t.Errorf("ParseAuditAnchor(%q) = %+v, want an error", bad, a)
		}
	}
}
