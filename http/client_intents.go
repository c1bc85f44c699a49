package http

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ClientAwaitTimeout bounds AwaitIntent when its context has no deadline:
// a surge queue of IntentsPendingMax intents drains in minutes, not hours.
const ClientAwaitTimeout = 10 * time.Minute

// CreateTransferOrQueue is CreateTransfer for a caller that can wait for
// its payment to settle: when the server cannot post it within the call's
// deadline, it may accept it into its durable surge queue instead (Prefer:
// respond-async, answered 202) and settle it later, in order, under the
// same Idempotency-Key. Exactly one of the results is set: the transfer
// (201, posted) or the intent (202, accepted; AwaitIntent waits for its
// outcome). A server that cannot take it either answers 503 busy, which is
// retried as for CreateTransfer; so is everything else.
func (c *Client) CreateTransferOrQueue(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, *pw.Intent, error) {
	var tr pw.Transfer
	var in pw.Intent
	cl, err := moneyRequest(ctx, "/v1/transfers", req, &tr)
	if err != nil {
		return nil, nil, err
	}
	cl.accepted = &in
	if err := c.send(ctx, cl); err != nil {
		return nil, nil, err
	}
	if cl.status == http.StatusAccepted {
		return nil, &in, nil
	}
	return &tr, nil, nil
}

// Intent reads a transfer intent accepted at a surge (GET /v1/intents/{id}).
// A pending one carries its Place in the queue (how many are ahead, and
// the expected wait when the server knows its settling rate); a server
// before 2026-11-28 sends none, and Place is nil.
func (c *Client) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	var in pw.Intent
	return result(&in, c.get(ctx, "/v1/intents/"+url.PathEscape(id), nil, &in))
}

// PendingIntents lists the caller's payments waiting in the surge queue
// (GET /v1/intents), in the order they will be settled, each with its
// Place: one page, and the cursor of the next ("" at the end). For an
// operator, everyone's.
func (c *Client) PendingIntents(ctx context.Context, page pw.Page) ([]*pw.Intent, string, error) {
	return list[*pw.Intent](ctx, c, "/v1/intents", page, nil)
}

// IntentByKey reads the caller's intent under an Idempotency-Key, in any
// state (GET /v1/intents?idempotency_key=): a caller whose 202 was lost
// finds its intent, to follow or cancel it. None is not_found. A server
// that answers intents under other keys (one that ignores the filter, as
// servers of the early hours of 2026-11-28 did) is an error, never
// taken for the key's intent nor for none: until 2026-11-29 the first
// intent listed was returned, another payment, which the caller could
// then follow, or cancel (TestIntentByKeyTakesNoOtherKeysIntent).
func (c *Client) IntentByKey(ctx context.Context, key string) (*pw.Intent, error) {
	found, _, err := list[*pw.Intent](ctx, c, "/v1/intents", pw.Page{}, url.Values{"idempotency_key": {key}})
	switch {
	case err != nil:
		return nil, err
	case len(found) == 0:
		return nil, pw.Errorf(pw.ENOTFOUND, "no intent under Idempotency-Key %q", key)
	}
	for _, in := range found {
		if in.IdempotencyKey == key {
			return in, nil
		}
	}
	return nil, pw.Errorf(pw.EINTERNAL,
		"the server answered intents under other Idempotency-Keys than %q: it cannot look one up by key; whether one is under it is not known", key)
}

// CancelIntent cancels a payment accepted at a surge while it is still
// pending (POST /v1/intents/{id}/cancel) and returns the intent, failed
// with intent_cancelled: it is never paid, and a payment sent again under
// its Idempotency-Key answers intent_cancelled. A payment already made or
// failed is a *peakwallet.Error intent_not_pending (Intent reads what
// happened). Cancelling is idempotent, so the call is retried like a read:
// after a lost answer the retry finds the intent cancelled and returns it;
// should every later attempt be refused (busy), the call ends
// outcome_unknown, as the lost attempt may have cancelled it: call again.
func (c *Client) CancelIntent(ctx context.Context, id string) (*pw.Intent, error) {
	return c.StopIntent(ctx, id, "")
}

// StopIntent is CancelIntent with a reason: an operator's client stops
// someone else's payment on the payer's behalf, which requires one (it is
// kept in the audit log; the intent's error then says cancelled_by
// "operator"). A payer may give one or not.
func (c *Client) StopIntent(ctx context.Context, id, reason string) (*pw.Intent, error) {
	var in pw.Intent
	var body []byte
	if reason != "" {
		var err error
		if body, err = json.Marshal(pw.IntentCancel{Reason: reason}); err != nil {
			return nil, err
		}
	}
	return result(&in, c.send(ctx, &call{method: http.MethodPost, path: "/v1/intents/" + url.PathEscape(id) + "/cancel", body: body, out: &in, idempotent: true}))
}

// AwaitIntent waits until an intent accepted at a surge is settled and
// returns its transfer; an intent that failed returns its error, a
// *peakwallet.Error with the code the payment would have had at once
// (insufficient_funds, limit_exceeded, …). It follows the intent's
// server-sent events (GET /v1/intents/{id}/events) and reconnects when a
// stream ends before the outcome (the server ends one after
// IntentEventsTimeout) or breaks, after a backoff as between retries. A
// ctx without a deadline waits at most ClientAwaitTimeout; when ctx ends
// first, the error (outcome_unknown) says the intent was still pending,
// and the payment will still be settled. Once the intent is paid, its
// transfer is read until the read succeeds or ctx ends (then the error,
// outcome_unknown too, names the transfer). It reconnects however the client's RetryPolicy
// limits attempts (waiting is not a call), with its backoff (the default
// for what it leaves out).
func (c *Client) AwaitIntent(ctx context.Context, id string) (*pw.Transfer, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ClientAwaitTimeout)
		defer cancel()
	}
	first, most := c.retry.backoff()
	ceiling := first
	var paid *pw.Intent // seen posted, its transfer not read yet
	for {
		began := time.Now()
		in, err := paid, error(nil)
		if paid == nil {
			in, err = c.followIntent(ctx, id)
		}
		if in != nil && in.Status != pw.IntentPending {
			var tr *pw.Transfer
			if tr, err = c.intentOutcome(ctx, in); err == nil || in.Status != pw.IntentPosted || !Retryable(err) {
				return tr, err
			}
			// Paid, and the read of its transfer refused (busy: the
			// surge is not over) or unanswered: it is read again, after
			// the backoff, however the RetryPolicy limits a call's
			// attempts. Until 2026-11-29 AwaitIntent returned that
			// read's refusal, "busy" for a payment that was paid
			// (TestAwaitIntentReadsAPaidTransferAgain).
			paid = in
		}
		if err != nil && !Retryable(err) {
			return nil, err // not found, not allowed, untrusted: waiting will not change it
		}
		wait := time.Duration(0)
		if err != nil || in == nil || time.Since(began) < eventsStreamShort {
			// Broken, refused or cut short: back off. A stream that
			// lasted (the server ends each after a while) is
			// reconnected at once.
			wait = retryWait(RetryAfter(err), ceiling)
			ceiling = min(2*ceiling, most)
		} else {
			ceiling = first
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, awaitEnded(ctx, id, paid, err)
		case <-t.C:
		}
	}
}

// awaitEnded is AwaitIntent's error when ctx ends before it has the
// outcome of intent id: still pending, or paid (as paid's transfer) and
// that transfer not read; err is the last look's error, if any. It is
// outcome_unknown, wrapping peakwallet.ErrCommitUnknown and ctx's error:
// the payment is queued and will be settled, or is paid, and Intent (or
// the payment again under its key) learns which. It wraps ctx's error,
// never the last look's refusal: "busy" would say the payment moved
// nothing (until 2026-11-29 it wrapped that refusal whenever the deadline
// came while AwaitIntent waited out its Retry-After:
// TestAwaitIntentPendingAtItsDeadlineIsNoRefusal). Until 2026-11-29 it
// was no *peakwallet.Error either, and its code read "internal", which
// API.md says moved nothing (TestAwaitIntentAtItsDeadlineIsAnUnknownOutcome).
func awaitEnded(ctx context.Context, id string, paid *pw.Intent, err error) error {
	msg := "the intent is still pending, and will be settled: AwaitIntent or Intent learns its outcome"
	switch {
	case paid != nil:
		msg = fmt.Sprintf("the intent is paid, as transfer %s, which could not be read (%v)", paid.TransferID, err)
	case err != nil && !errors.Is(err, ctx.Err()):
		msg += fmt.Sprintf(" (the last look: %v)", err)
	}
	return &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Op: "http.Client: intent " + id, Message: msg,
		Err: errors.Join(pw.ErrCommitUnknown, ctx.Err())}
}

// eventsStreamShort is how long an event stream must have lasted for
// AwaitIntent to reconnect without a backoff.
const eventsStreamShort = time.Second

// intentOutcome turns a final intent into AwaitIntent's answer.
func (c *Client) intentOutcome(ctx context.Context, in *pw.Intent) (*pw.Transfer, error) {
	if in.Status == pw.IntentPosted {
		return c.Transfer(ctx, in.TransferID)
	}
	e := &pw.Error{Code: pw.EINTERNAL, Op: "http.Client: intent " + in.ID, Message: "the intent failed without a reason"}
	if in.Error != nil {
		e.Code, e.Message = in.Error.Code, in.Error.Message
	}
	return nil, e
}

// followIntent reads one event stream of an intent until it ends or shows
// the intent settled, and returns the last state it saw (nil if none).
func (c *Client) followIntent(ctx context.Context, id string) (*pw.Intent, error) {
	path := "/v1/intents/" + url.PathEscape(id) + "/events"
	req, err := c.newRequest(ctx, http.MethodGet, path, nil, "text/event-stream")
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("http.Client: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseBytesMax))
		return nil, responseError(http.MethodGet, path, resp, data)
	}
	var last *pw.Intent
	var unavailable error // the server's word that it cannot read the intent now
	err = ReadEvents(resp.Body, func(ev Event) bool {
		switch ev.Type {
		case EventUnavailable:
			// The last intent event stands; the stream goes on, and
			// an intent event follows once the server reads it again.
			// Kept, so that a stream that ends meanwhile is
			// reconnected after the backoff, and AwaitIntent's
			// deadline says why it saw nothing new.
			var p Problem
			if json.Unmarshal([]byte(ev.Data), &p) != nil || p.Code == "" {
				p = Problem{Code: pw.EBUSY, Detail: "the server could not read the intent's state"}
			}
			unavailable = &pw.Error{Code: p.Code, Message: p.Detail, Op: "http.Client GET " + path}
			return true
		case EventIntent:
		default:
			return true
		}
		var in pw.Intent
		if err := json.Unmarshal([]byte(ev.Data), &in); err != nil || in.ID != id {
			return true // not ours to read; the next one may be
		}
		last, unavailable = &in, nil
		return in.Status == pw.IntentPending
	})
	if err != nil && last == nil {
		return nil, fmt.Errorf("http.Client: GET %s: %w", path, err)
	}
	if unavailable != nil && last != nil && last.Status == pw.IntentPending {
		return last, unavailable
	}
	return last, nil
}

// Event is one server-sent event.
type Event struct {
	ID, Type, Data string
}

// EventLineBytesMax bounds one line of an event stream.
const EventLineBytesMax = 1 << 20

// ReadEvents reads a text/event-stream as the WHATWG HTML standard
// ("Server-sent events", interpreting an event stream) does, for what a
// client of this API needs: fields data, event and id; lines starting
// with a colon are comments; an event is dispatched at a blank line (one
// cut off by the end of the stream is not), with its type defaulting to
// "message"; an event without data is not dispatched. It calls fn for each
// event until fn returns false or the stream ends (nil at its end).
func ReadEvents(r io.Reader, fn func(Event) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), EventLineBytesMax)
	sc.Split(scanEventLines)
	var ev Event
	var data []string
	hasData := false
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			line = strings.TrimPrefix(line, "\uFEFF")
			first = false
		}
		if line == "" {
			if hasData {
				ev.Data = strings.Join(data, "\n")
				if ev.Type == "" {
					ev.Type = "message"
				}
				if !fn(ev) {
					return nil
				}
			}
			ev.Type, ev.Data, data, hasData = "", "", data[:0], false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data, hasData = append(data, value), true
		case "event":
			ev.Type = value
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value // the last event ID persists across events
			}
		}
	}
	return sc.Err()
}

// scanEventLines splits at LF, CR LF or a lone CR, as event streams may.
func scanEventLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // a CR LF may be split across reads
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil // the last line, without its end: never dispatched
	}
	return 0, nil, nil
}
