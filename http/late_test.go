package http_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestAnswersAfterTheDeadlineAreCounted: an admitted request answered
// after its deadline (here the 50 ms a client asked with Prefer: wait) is
// counted in peakwallet_http_answers_late_total by class and result, and
// shown in the ops summary; one answered in time is not.
func TestAnswersAfterTheDeadlineAreCounted(t *testing.T) {
	var released []string
	slow := true
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: fakeLedger{released: &released, mu: &sync.Mutex{}, transfer: func(ctx context.Context) (*pw.Transfer, error) {
			if slow {
				<-ctx.Done()
				time.Sleep(20 * time.Millisecond) // the refusal is written after the deadline
			}
			return nil, &pw.Error{Code: pw.EBUSY, Message: "busy"}
		}},
		Authenticator: pwhttp.NewOperatorAuthenticator("k"),
		Admission:     admission.New(admission.Config{}),
	})
	pay := func(key string) int {
		return serve(srv.Handler(), "POST", "/v1/transfers", `{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`,
			map[string]string{"Authorization": "Bearer k", "Idempotency-Key": key, "Prefer": "wait=0.05"}).Code
	}
	if code := pay("late"); code != 503 {
		t.Fatalf("the late payment: %d, want 503", code)
	}
	slow = false
	if code := pay("in-time"); code != 503 {
		t.Fatalf("the payment in time: %d, want 503", code)
	}
	w := serve(srv.Handler(), "GET", "/v1/ops/summary", "", map[string]string{"Authorization": "Bearer k"})
	var sum pwhttp.OpsSummary
	if err := json.Unmarshal(w.Body.Bytes(), &sum); err != nil || w.Code != 200 {
		t.Fatalf("ops summary: %d %v %s", w.Code, err, w.Body)
	}
	if len(sum.AnswersLate) != 1 || sum.AnswersLate["payment:"+pwhttp.LateRefusal] != 1 {
		t.Fatalf("answers late: %v, want one late payment refusal", sum.AnswersLate)
	}
}
