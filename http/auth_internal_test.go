package http

import (
	"context"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestKeepAuthenticated: a context made from the request's own after its
// stale principal was authenticated again carries the principal the store
// gave and no stale mark; a principal that was not stale is left as it is.
func TestKeepAuthenticated(t *testing.T) {
	cached := pw.Principal{Kind: pw.PrincipalUser, ID: "u1", Session: "ses_old"}
	fresh := pw.Principal{Kind: pw.PrincipalUser, ID: "u1", Session: "ses_new"}
	base := context.WithValue(pw.NewContextWithPrincipal(context.Background(), cached), staleAuthKey{}, "token")
	authed := context.WithValue(pw.NewContextWithPrincipal(base, fresh), staleAuthKey{}, nil)

	kept := keepAuthenticated(base, authed)
	if p, _ := pw.PrincipalFromContext(kept); p != fresh {
		t.Errorf("the principal kept is %+v, want the one authenticated again %+v", p, fresh)
	}
	if _, stale := kept.Value(staleAuthKey{}).(string); stale {
		t.Error("the context kept is still marked stale")
	}
	plain := pw.NewContextWithPrincipal(context.Background(), cached)
	if got := keepAuthenticated(plain, authed); got != plain {
		t.Error("a context whose principal was not stale was changed")
	}
}
