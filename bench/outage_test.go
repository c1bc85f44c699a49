package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestJudgeOutage checks the phases and the recovery definition on a
// hand-made run: stop at 1 s, start returned at 2 s, the first fully
// served bucket of the tail at 2.5 s.
func TestJudgeOutage(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	times := outageTimes{stopIssued: ms(1000), stopReturned: ms(1100), startIssued: ms(1900), startReturned: ms(2000)}
	var answers []answer
	add := func(at time.Duration, code string, noRetry bool) {
		a := answer{sent: at, code: code, noRetry: noRetry}
		if code == "" {
			a.transfer = "tr"
		}
		answers = append(answers, a)
	}
	for at := 0; at < 4000; at += 10 {
		switch {
		case at < 1000:
			add(ms(at), "", false)
		case at < 2000:
			add(ms(at), pw.EBUSY, false)
		case at < 2500:
			add(ms(at), pw.EBUSY, false) // the breaker still open
		default:
			add(ms(at), "", false)
		}
	}
	add(ms(1500), "client_timeout", false)
	add(ms(1600), pw.EBUSY, true)
	add(ms(500), pw.EBUSY, false) // one refusal in 101 before the outage: still served

	r := judgeOutage(answers, times, ms(4000), OutageConfig{Rate: 100, Duration: ms(4000)})
	if r.Before.Sent != 101 || r.Before.OK != 100 || r.During.OK != 0 || r.During.Sent != 102 {
		t.Fatalf("phases: before %+v during %+v", r.Before, r.During)
	}
	if r.During.Unexpected != 1 || r.During.Codes["client_timeout"] != 1 || r.During.BusyWithoutRetryAfter != 1 {
		t.Fatalf("during: %+v", r.During)
	}
	if !r.Recovered || r.RecoverySeconds != 0.5 {
		t.Fatalf("recovery %v %.3f s, want 0.5 s", r.Recovered, r.RecoverySeconds)
	}
	r.finish()
	if r.TargetMet {
		t.Fatal("a client timeout during the outage met the target")
	}

	// Never served again: not recovered, and the recovery runs to the end.
	answers = append(answers, answer{sent: ms(3990), code: pw.EINTERNAL})
	answers = append(answers, answer{sent: ms(3991), code: pw.EINTERNAL})
	r = judgeOutage(answers, times, ms(4000), OutageConfig{Rate: 100, Duration: ms(4000)})
	if r.Recovered || r.RecoverySeconds != 2 {
		t.Fatalf("recovery %v %.3f s, want not recovered, 2 s", r.Recovered, r.RecoverySeconds)
	}
}

// TestJudgeOutageInDoubt: a 504 outcome_unknown during the outage (a
// COMMIT the stop cut) is not unexpected, but a refusal like busy: it must
// carry Retry-After. The run meets the target only when every such payment
// was settled by its retry.
func TestJudgeOutageInDoubt(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	times := outageTimes{stopIssued: ms(1000), stopReturned: ms(1100), startIssued: ms(1900), startReturned: ms(2000)}
	var answers []answer
	for at := 0; at < 3000; at += 10 {
		a := answer{sent: ms(at), transfer: "tr"}
		if at >= 1000 && at < 2000 {
			a = answer{sent: ms(at), code: pw.EBUSY}
		}
		answers = append(answers, a)
	}
	answers = append(answers, answer{sent: ms(1010), code: pw.EOUTCOMEUNKNOWN}, answer{sent: ms(1020), code: pw.EOUTCOMEUNKNOWN})
	cfg := OutageConfig{Rate: 100, Duration: ms(3000)}

	r := judgeOutage(answers, times, ms(3000), cfg)
	if r.During.Unexpected != 0 || r.During.Codes[pw.EOUTCOMEUNKNOWN] != 2 || r.During.BusyWithoutRetryAfter != 0 {
		t.Fatalf("during: %+v", r.During)
	}
	r.InDoubt = InDoubtCount{Answered: 2, Paid: 1, Refused: 1}
	if r.finish(); !r.TargetMet {
		t.Fatalf("two payments of unknown outcome, both settled: target not met (%+v)", r)
	}
	r.InDoubt = InDoubtCount{Answered: 2, Paid: 1, Unresolved: 1}
	if r.finish(); r.TargetMet {
		t.Fatal("a payment of unknown outcome left unresolved met the target")
	}

	answers[len(answers)-1].noRetry = true
	if r = judgeOutage(answers, times, ms(3000), cfg); r.During.BusyWithoutRetryAfter != 1 {
		t.Fatalf("an outcome_unknown without Retry-After was not counted: %+v", r.During)
	}
}

// TestOutageTargetCountsEveryPhase: the outage target is "only 503 or 504
// with Retry-After, then recovery", but the phases are by send time, and
// until 2026-11-27 the target looked only at the outage's phase: a payment
// sent 5 ms before the stop and answered 500 while the database was down
// (a COMMIT cut by the stop, as CI caught on 2026-11-27) was counted in
// Before and ignored, and so was a 500 after the restart in a bucket still
// 99 % served. Now an unexpected answer, or a refusal without Retry-After,
// in any phase fails the target.
func TestOutageTargetCountsEveryPhase(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	times := outageTimes{stopIssued: ms(1000), stopReturned: ms(1100), startIssued: ms(1900), startReturned: ms(2000)}
	clean := func() []answer {
		var as []answer
		for at := 0; at < 4000; at += 2 { // 500 payments a second
			a := answer{sent: ms(at), latency: ms(5), transfer: "tr"}
			if at >= 1000 && at < 2000 {
				a = answer{sent: ms(at), latency: ms(1), code: pw.EBUSY}
			}
			as = append(as, a)
		}
		return as
	}
	cfg := OutageConfig{Rate: 500, Duration: ms(4000)}
	r := judgeOutage(clean(), times, ms(4000), cfg)
	if r.finish(); !r.TargetMet {
		t.Fatalf("the clean run does not meet the target: %+v", r)
	}
	for _, c := range []struct {
		name  string
		extra answer
	}{
		{"a 500 sent before the stop, answered during the outage", answer{sent: ms(995), latency: ms(300), code: pw.EINTERNAL, message: "500 internal: commit cut"}},
		{"a 500 after the restart", answer{sent: ms(2600), latency: ms(3), code: pw.EINTERNAL, message: "500 internal"}},
		{"a 503 without Retry-After before the stop", answer{sent: ms(500), latency: ms(3), code: pw.EBUSY, noRetry: true}},
		{"a busy 500 after the restart", answer{sent: ms(3000), latency: ms(3), code: "busy_as_500"}},
	} {
		r := judgeOutage(append(clean(), c.extra), times, ms(4000), cfg)
		if r.finish(); r.TargetMet || !r.Recovered {
			t.Errorf("%s: target met %v, recovered %v (before %+v, after %+v)", c.name, r.TargetMet, r.Recovered, r.Before, r.After)
		}
	}
}

// TestAnAcknowledgementWithoutAnIDIsUnverified: every acknowledged payment
// is read back, and one that cannot be is unverified, which fails the
// run. Until 2026-11-27 an acknowledgement (2xx) whose answer named no
// transfer was counted as acknowledged but never read back nor reported:
// the report said "missing 0, unverified 0" of transfers nobody looked for.
func TestAnAcknowledgementWithoutAnIDIsUnverified(t *testing.T) {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/transfers/") {
			reads.Add(1)
			writeProblem(w, http.StatusNotFound, pw.ENOTFOUND, "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"status":"posted"}`)) // a 201 that names no transfer
	}))
	defer srv.Close()
	c, err := NewFastClient(srv.URL, []string{"k"}, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := pwhttp.NewClient(srv.URL, "k", nil).WithRetry(pwhttp.RetryPolicy{Attempts: 1})
	noop := func(context.Context) error { return nil }
	res, err := RunOutage(context.Background(), c, check, twoUsers(), OutageConfig{Rate: 100, Duration: time.Second,
		Warmup: 200 * time.Millisecond, For: 300 * time.Millisecond, Seed: 1, Stop: noop, Start: noop})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acknowledged == 0 || res.WithoutID != res.Acknowledged || res.Unverified != res.Acknowledged || res.Missing != 0 || reads.Load() != 0 || res.TargetMet {
		t.Errorf("%d acknowledged without an ID: %d counted so, %d unverified, %d missing, %d read back, target met %v; want all unverified, target not met",
			res.Acknowledged, res.WithoutID, res.Unverified, res.Missing, reads.Load(), res.TargetMet)
	}
}

// TestTransferDiffNamesEachField: the read-back's comparison tells a
// transfer from the payment sent by each field the payment set, and by its
// ID; the transfer as sent is no difference.
func TestTransferDiffNamesEachField(t *testing.T) {
	sent := &pw.TransferCreate{FromAccount: "acc_a", ToAccount: "acc_b", Amount: 500, Currency: "EUR"}
	stored := func() *pw.Transfer {
		return &pw.Transfer{ID: "tr_1", Kind: pw.TransferPayment, FromAccount: "acc_a", ToAccount: "acc_b", Amount: 500, Currency: "EUR", Status: "posted"}
	}
	if d := transferDiff(stored(), "tr_1", sent); d != "" {
		t.Fatalf("the transfer as sent differs: %s", d)
	}
	for _, c := range []struct {
		want   string
		change func(*pw.Transfer)
	}{
		{"from_account acc_c, sent acc_a", func(tr *pw.Transfer) { tr.FromAccount = "acc_c" }},
		{"to_account acc_c, sent acc_b", func(tr *pw.Transfer) { tr.ToAccount = "acc_c" }},
		{"amount 501, sent 500", func(tr *pw.Transfer) { tr.Amount = 501 }},
		{"currency USD, sent EUR", func(tr *pw.Transfer) { tr.Currency = "USD" }},
		{`read back as "tr_2"`, func(tr *pw.Transfer) { tr.ID = "tr_2" }},
	} {
		tr := stored()
		c.change(tr)
		if d := transferDiff(tr, "tr_1", sent); d != c.want {
			t.Errorf("diff %q, want %q", d, c.want)
		}
	}
	if d := transferDiff(nil, "tr_1", sent); d == "" {
		t.Error("no transfer read back is no difference")
	}
}
