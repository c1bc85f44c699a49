package http_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/peakwallet/peakwallet/auth"
)

// auditSecretKey is the secret key of TestAnUnknownHandleIsKeyedInTheAuditLog's
// service: HandleTarget derives the same keyed form from it.
var auditSecretKey = bytes.Repeat([]byte{7}, auth.SecretKeyBytes)

// TestAnUnknownHandleIsKeyedInTheAuditLog: a failed login, a reset request
// and a support look-up of a handle that is no user's write records whose
// target is the handle's keyed form (auth.HandleTarget under the service's
// secret key; the reset's and look-up's detail known=false), and no record
// holds the handle's text in any field, typed or normalised: the log can
// never be erased, and until 2026-11-29 its target was the typed handle.
// Every spelling gives one target. A user's records name the user's ID as
// before. Before the change the three targets were the handle's text.
func TestAnUnknownHandleIsKeyedInTheAuditLog(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStoreOpts(t, store, func(o *auth.Options) { o.SecretKey = auditSecretKey })
			ann := e.MustPerson(t, "ann@example.com", 0)
			_, support := mustOperator(t, e, "support")
			for _, typed := range []string{"Nobody@Example.com", "+49 151 0000 1111"} {
				e.Do(t, "POST", "/v1/sessions", "", `{"handle":"`+typed+`","password":"a wrong password"}`).Want(t, 401, "")
				e.Do(t, "POST", "/v1/password-resets", "", `{"handle":"`+typed+`"}`).Want(t, 202, "")
				lookUp(t, e, support, typed).Want(t, 404, "")
			}
			e.Do(t, "POST", "/v1/sessions", "", `{"handle":"ann@example.com","password":"a wrong password"}`).Want(t, 401, "")
			e.Do(t, "POST", "/v1/password-resets", "", `{"handle":"ANN@example.com"}`).Want(t, 202, "")
			lookUp(t, e, support, "ann@example.com").Want(t, 200, "")

			for _, typed := range []string{"Nobody@Example.com", "+49 151 0000 1111"} {
				want, err := auth.HandleTarget(auditSecretKey, typed)
				if err != nil {
					t.Fatal(err)
				}
				for _, action := range []string{"login.failure", "password.reset_request", auth.ActionUserLookup} {
					var n int
					for _, r := range auditOf(t, e, action) {
						if r.Target == ann.ID {
							continue
						}
						if r.Target == want {
							n++
						}
						if action != "login.failure" && r.Detail["known"] != "false" {
							t.Errorf("%s of an unknown handle: detail %v, want known=false", action, r.Detail)
						}
					}
					if n != 1 {
						t.Errorf("%s of %q: %d records with target %s, want 1", action, typed, n, want)
					}
				}
			}
			for _, action := range []string{"login.failure", "password.reset_request", auth.ActionUserLookup} {
				var n int
				for _, r := range auditOf(t, e, action) {
					if r.Target == ann.ID {
						n++
						if r.Detail["known"] != "" {
							t.Errorf("%s of ann: detail %v", action, r.Detail)
						}
					}
				}
				if n != 1 {
					t.Errorf("%s of ann: %d records with her ID, want 1", action, n)
				}
			}
			all, err := json.Marshal(auditOf(t, e, ""))
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{"nobody", "4915100001111", "151 0000 1111"} {
				if bytes.Contains(bytes.ToLower(all), []byte(text)) {
					t.Errorf("the audit log holds %q", text)
				}
			}
		})
	}
}
