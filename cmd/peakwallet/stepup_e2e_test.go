package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServeStepUpThresholdsReachThePayments: serve's
// --step-up-threshold (and PEAKWALLET_STEP_UP_THRESHOLD) sets the
// currencies it names over the defaults: with JPY=30000, /v1/me of a user
// with a JPY and a KRW wallet says 30,000 JPY and the default 150,000 KRW,
// and a payment of 20,000 JPY needs no code.
func TestServeStepUpThresholdsReachThePayments(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--step-up-threshold", "JPY=30000")
	apiCall(t, "POST", s.url+"/v1/users", "", map[string]string{"handle": annHandle, "password": annPassword}, "")
	token := apiCall(t, "POST", s.url+"/v1/sessions", "", map[string]string{"handle": annHandle, "password": annPassword}, "")["token"].(string)
	wallet := apiCall(t, "POST", s.url+"/v1/wallets", token, map[string]string{"currency": "JPY"}, "")["id"].(string)
	apiCall(t, "POST", s.url+"/v1/wallets", token, map[string]string{"currency": "KRW"}, "")
	bank := apiCall(t, "POST", s.url+"/v1/accounts", testOperatorKey, map[string]string{"kind": "system", "currency": "JPY"}, "bank")["id"].(string)
	apiCall(t, "POST", s.url+"/v1/transfers", testOperatorKey, map[string]any{"from_account": bank, "to_account": wallet, "amount": 50_000, "currency": "JPY"}, "topup")

	me := apiCall(t, "GET", s.url+"/v1/me", token, nil, "")
	got, _ := me["step_up_thresholds"].(map[string]any)
	if got["JPY"] != 30000.0 || got["KRW"] != 150000.0 || me["step_up_threshold"] != 10000.0 {
		t.Fatalf("/v1/me: step_up_threshold %v, step_up_thresholds %v; want 10000, JPY 30000 and KRW 150000", me["step_up_threshold"], got)
	}
	apiCall(t, "POST", s.url+"/v1/transfers", token, map[string]any{"from_account": wallet, "to_account": bank, "amount": 20_000, "currency": "JPY"}, "pay")
}

// TestServeRefusesABadStepUpThreshold: a threshold that is not exact in
// its currency's decimals, not a supported currency, not above zero or
// not CUR=AMOUNT stops serve before it opens its store, with a message
// that names the flag and the pair; the same from the environment.
func TestServeRefusesABadStepUpThreshold(t *testing.T) {
	for _, c := range []struct{ flag, env, says string }{
		{flag: "JPY=1.5", says: `"JPY=1.5": amount "1.5" has more than the 0 decimals of JPY`},
		{flag: "EUR=100.001", says: `more than the 2 decimals of EUR`},
		{flag: "XYZ=100", says: `"XYZ" is not an active ISO 4217 currency`},
		{flag: "EUR=0", says: `must be above zero`},
		{flag: "EUR:100", says: `is not CURRENCY=AMOUNT`},
		{env: "EUR=1,00", says: `"00" is not CURRENCY=AMOUNT`},
	} {
		data := t.TempDir()
		cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--data", data)
		if c.flag != "" {
			cmd.Args = append(cmd.Args, "--step-up-threshold", c.flag)
		}
		cmd.Env = append(os.Environ(), "PEAKWALLET_OPERATOR_KEY="+testOperatorKey, "PEAKWALLET_STEP_UP_THRESHOLD="+c.env)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { defer close(done); out, err = cmd.CombinedOutput() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("%s%s: serve did not stop", c.flag, c.env)
		}
		if err == nil || !strings.Contains(string(out), "--step-up-threshold") || !strings.Contains(string(out), c.says) {
			t.Errorf("%s%s: %v, %q; want a failure saying %q", c.flag, c.env, err, out, c.says)
		}
		if files, _ := os.ReadDir(data); len(files) != 0 {
			t.Errorf("%s%s: serve wrote %d files in its data directory before refusing", c.flag, c.env, len(files))
		}
	}
}
