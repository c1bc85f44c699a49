package http_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestClientPaymentRedirectedToAGetIsNotPaid: a payment answered with a
// redirect (a proxy sending http to https, a wrong base path) is not
// followed. net/http follows a 301, 302 or 303 to a POST with a GET of the
// new location, without the body; the GET's 200 was then decoded as the
// payment's answer, and a payment that nobody made read as paid. The call
// now fails at once, the GET is never sent and the POST not sent again; a
// read still follows its redirects.
func TestClientPaymentRedirectedToAGetIsNotPaid(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var posts, gets atomic.Int32
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodPost:
					posts.Add(1)
					http.Redirect(w, r, "/elsewhere", status)
				case r.URL.Path == "/v1/accounts/acc_x":
					http.Redirect(w, r, "/elsewhere", status)
				default:
					gets.Add(1)
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"id":"tr_x","status":"posted"}`))
				}
			}))
			t.Cleanup(hs.Close)
			c := pwhttp.NewClient(hs.URL, "t", hs.Client())
			tr, err := c.CreateTransfer(within(5*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
			if err == nil || tr != nil {
				t.Fatalf("a payment redirected with %d: %+v, %v; want an error, not a transfer", status, tr, err)
			}
			if pwhttp.Retryable(err) {
				t.Fatalf("a payment redirected with %d ended %v, which reads as worth sending again", status, err)
			}
			if n, m := posts.Load(), gets.Load(); n != 1 || m != 0 {
				t.Fatalf("the payment was POSTed %d times and its redirect followed with %d GETs; want 1 and 0", n, m)
			}
			if _, err := c.Account(within(5*time.Second), "acc_x"); err != nil || gets.Load() != 1 {
				t.Fatalf("a read redirected with %d: %v after %d GETs; want it followed", status, err, gets.Load())
			}
		})
	}
}

// TestClientWriteRedirectedWith307Or308IsNotSentAgain: a 307 or 308 asks
// the client to send the same method and body to another URL, and
// net/http does so for a POST; a payment would then be made wherever the
// redirect points, behind the caller's back (a proxy's, not the API's:
// the API never redirects a write). The call fails at once, naming the
// Location; nothing reaches the target, and the POST is not sent again.
// Reads follow such redirects. (The client refused them already; no test
// covered them until the review of 2026-11-29.)
func TestClientWriteRedirectedWith307Or308IsNotSentAgain(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var posts, atTarget, bodiesAtTarget atomic.Int32
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/elsewhere/") {
					atTarget.Add(1)
					if b, _ := io.ReadAll(r.Body); len(b) > 0 {
						bodiesAtTarget.Add(1)
					}
					w.Header().Set("Content-Type", "application/json")
					if r.Method == http.MethodPost {
						w.WriteHeader(http.StatusCreated)
						w.Write([]byte(`{"id":"tr_x","status":"posted"}`))
						return
					}
					w.Write([]byte(`{"id":"acc_x"}`))
					return
				}
				if r.Method == http.MethodPost {
					posts.Add(1)
				}
				http.Redirect(w, r, "/elsewhere"+r.URL.Path, status)
			}))
			t.Cleanup(hs.Close)
			c := pwhttp.NewClient(hs.URL, "t", hs.Client())
			tr, err := c.CreateTransfer(within(5*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
			if err == nil || tr != nil || pw.ErrorCode(err) != pw.EINTERNAL || !strings.Contains(err.Error(), "/elsewhere/v1/transfers") {
				t.Fatalf("a payment redirected with %d: %+v, %v; want an internal error naming the Location", status, tr, err)
			}
			if pwhttp.Retryable(err) {
				t.Fatalf("a payment redirected with %d ended %v, which reads as worth sending again", status, err)
			}
			if n, m, b := posts.Load(), atTarget.Load(), bodiesAtTarget.Load(); n != 1 || m != 0 || b != 0 {
				t.Fatalf("the payment was POSTed %d times, and %d requests (%d with a body) reached the redirect's target; want 1, 0, 0", n, m, b)
			}
			if _, err := c.Account(within(5*time.Second), "acc_x"); err != nil || atTarget.Load() != 1 {
				t.Fatalf("a read redirected with %d: %v after %d requests at the target; want it followed", status, err, atTarget.Load())
			}
		})
	}
}

// TestClientCallThatCannotBeMadeIsNoUnknownOutcome: a client whose base
// URL cannot be called (a scheme that is not HTTP, a URL that does not
// parse, an address without its scheme) sends nothing, and a payment
// through it fails at once with invalid_request. Until 2026-11-29 the
// error read as no answer: the payment was tried again for its whole
// backoff and ended outcome_unknown, "may have been applied", of a request
// that was never sent.
func TestClientCallThatCannotBeMadeIsNoUnknownOutcome(t *testing.T) {
	for _, base := range []string{"ftp://127.0.0.1:8080", "http://[::1", "127.0.0.1:8080", "localhost:8080", "http://"} {
		t.Run(base, func(t *testing.T) {
			c := pwhttp.NewClient(base, "t", nil)
			began := time.Now()
			tr, err := c.CreateTransfer(within(10*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
			if tr != nil || pw.ErrorCode(err) != pw.EINVALID || errors.Is(err, pw.ErrCommitUnknown) {
				t.Fatalf("a payment through %q: %+v, %v; want invalid_request", base, tr, err)
			}
			if took := time.Since(began); took > 100*time.Millisecond {
				t.Fatalf("a payment through %q took %v to fail", base, took)
			}
		})
	}
}

// TestClientDoesNotRetryACertificateItCannotTrust: a server whose TLS
// certificate the client does not trust (another CA, another name) is
// not sent the request at all, and trying again cannot change that: the
// call fails at once, with the certificate error, and is no unknown
// outcome. Until 2026-11-29 the error read as no answer: the payment was
// tried for its whole backoff and ended outcome_unknown, "may have been
// applied", of a request that never left the client.
func TestClientDoesNotRetryACertificateItCannotTrust(t *testing.T) {
	var requests atomic.Int32
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		posted(w)
	}))
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the client breaks off
	hs.StartTLS()
	t.Cleanup(hs.Close)
	c := pwhttp.NewClient(hs.URL, "t", &http.Client{}) // the system's roots: not the test server's
	began := time.Now()
	tr, err := c.CreateTransfer(within(10*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
	var cert *tls.CertificateVerificationError
	if tr != nil || !errors.As(err, &cert) || errors.Is(err, pw.ErrCommitUnknown) {
		t.Fatalf("a payment to an untrusted server: %+v, %v; want its certificate error, no unknown outcome", tr, err)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Fatalf("the call took %v to give up a certificate it cannot trust", took)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the untrusted server got %d requests", n)
	}
}

// TestClientDoesNotRetryAServerThatSpeaksNoTLS: an https:// URL whose
// server speaks plain HTTP (a port mixed up, TLS ended elsewhere) cannot
// be reached by any retry: the call fails at once, no unknown outcome, and
// the server never gets the request. Until 2026-11-29 the payment was
// tried for its whole backoff and ended outcome_unknown.
func TestClientDoesNotRetryAServerThatSpeaksNoTLS(t *testing.T) {
	var requests atomic.Int32
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		posted(w)
	}))
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.Start()
	t.Cleanup(hs.Close)
	c := pwhttp.NewClient(strings.Replace(hs.URL, "http://", "https://", 1), "t", &http.Client{})
	began := time.Now()
	tr, err := c.CreateTransfer(within(10*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
	if tr != nil || err == nil || errors.Is(err, pw.ErrCommitUnknown) || pw.ErrorCode(err) == pw.EOUTCOMEUNKNOWN {
		t.Fatalf("a payment to a server that speaks no TLS: %+v, %v; want its error, no unknown outcome", tr, err)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Fatalf("the call took %v to give up a server that speaks no TLS", took)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the server got %d requests", n)
	}
}

// TestClientBatchKeepsEachItemsField: a batch's item refused for one of
// its members carries that member (field) through the client, as a
// refusal of a single transfer does. Until 2026-11-29 CreateBatch kept
// only each item's code and detail.
func TestClientBatchKeepsEachItemsField(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"results":[{"status":"posted","transfer":{"id":"tr_x","status":"posted"}},` +
			`{"status":"failed","error":{"type":"about:blank","title":"invalid","status":400,"code":"invalid_request","detail":"amount must be positive","field":"amount"}}]}`))
	}))
	t.Cleanup(hs.Close)
	c := pwhttp.NewClient(hs.URL, "t", hs.Client())
	results, err := c.CreateBatch(within(5*time.Second), pw.BatchCreate{Transfers: []pw.TransferCreate{
		{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"}, {FromAccount: "a", ToAccount: "b", Amount: -1, Currency: "EUR"}}})
	if err != nil || len(results) != 2 || results[0].Transfer == nil || results[1].Error == nil {
		t.Fatalf("CreateBatch: %+v, %v", results, err)
	}
	if e := results[1].Error; e.Code != pw.EINVALID || e.Field != "amount" || e.Message != "amount must be positive" {
		t.Fatalf("the refused item's error: %+v; want invalid_request, field amount, with its detail", e)
	}
}
