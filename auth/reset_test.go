package auth_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// Tests of a password reset's request and confirmation, and of a login's
// session, when a store step fails after others were written
// (docs/security.md, "Account takeover by reset", "Stolen session").

// onEachStore runs run on a SQLite store and on a PostgreSQL one.
func onEachStore(t *testing.T, run func(t *testing.T, store auth.Store)) {
	t.Run("sqlite", func(t *testing.T) { run(t, newMemStore(t)) })
	t.Run("postgres", func(t *testing.T) {
		a, _, _ := openPostgresTwice(t)
		run(t, a)
	})
}

// cheapService is a service over store with a fake clock, argon2 cheap.
func cheapService(store auth.Store, sender auth.Sender) (*auth.Service, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	return auth.New(store, nil, auth.Options{Now: clk.now, Sender: sender, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}}), clk
}

// resetTokenIn returns the reset token a message's body carries.
func resetTokenIn(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, auth.PrefixResetToken)
	if i < 0 {
		t.Fatalf("no reset token in %q", body)
	}
	return body[i : i+len(auth.PrefixResetToken)+43]
}

// ownerReplacesThePassword sets u's password from password to
// newPassword as its owner would: by a reset (how "reset": a request, the
// token from its message, the confirmation) or by a change made from the
// session (how "change"). It returns the reset's or the change's answer.
func ownerReplacesThePassword(t *testing.T, svc *auth.Service, store auth.Store, u *auth.User, how, session, password, newPassword string) error {
	t.Helper()
	switch how {
	case "reset":
		if err := svc.RequestReset(from(t, 1), auth.ResetRequest{Handle: u.Handle}); err != nil {
			t.Fatal(err)
		}
		msgs := pendingResets(t, store, u.Handle)
		if len(msgs) != 1 {
			t.Fatalf("%d reset messages, want 1", len(msgs))
		}
		return svc.ConfirmReset(t.Context(), auth.ResetConfirm{Token: resetTokenIn(t, msgs[0].Body), NewPassword: newPassword})
	case "change":
		me := pw.NewContextWithPrincipal(from(t, 1), pw.Principal{Kind: pw.PrincipalUser, ID: u.ID, Session: session})
		return svc.ChangePassword(me, auth.PasswordChange{CurrentPassword: password, NewPassword: newPassword})
	}
	t.Fatalf("no way %q to replace a password", how)
	return nil
}

// pendingResets returns the queued reset messages to handle, oldest first.
func pendingResets(t *testing.T, store auth.Store, handle string) []*auth.Message {
	t.Helper()
	list, err := store.Pending(t.Context(), auth.OutboxDeliverMax)
	if err != nil {
		t.Fatal(err)
	}
	var out []*auth.Message
	for _, m := range list {
		if m.To == handle && strings.Contains(m.Body, auth.PrefixResetToken) {
			out = append(out, m)
		}
	}
	return out
}

// blockingSender holds every message until release is closed, as a
// message provider that has stalled does.
type blockingSender struct {
	release chan struct{}
	mu      sync.Mutex
	sent    []auth.Message
}

func (b *blockingSender) Send(ctx context.Context, m *auth.Message) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	b.sent = append(b.sent, *m)
	b.mu.Unlock()
	return nil
}

// TestAResetAnswerDoesNotWaitForTheSender: a reset request for a user's
// handle is answered while the message provider still holds its message;
// the delivery pass sends it once the provider answers, and its token
// resets the password. Before, the request sent the message itself: a
// slow provider made a user's handle answer slower than an unknown one.
func TestAResetAnswerDoesNotWaitForTheSender(t *testing.T) {
	onEachStore(t, func(t *testing.T, store auth.Store) {
		sender := &blockingSender{release: make(chan struct{})}
		var once sync.Once
		release := func() { once.Do(func() { close(sender.release) }) }
		t.Cleanup(release)
		svc, _ := cheapService(store, sender)
		const handle = "slow@example.com"
		if _, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: handle, Password: "correct horse battery staple"}); err != nil {
			t.Fatal(err)
		}
		answered := make(chan error, 1)
		go func() { answered <- svc.RequestReset(from(t, 1), auth.ResetRequest{Handle: handle}) }()
		select {
		case err := <-answered:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the answer to a reset request still waits for the message provider after 5 s")
		}
		select {
		case <-svc.Queued():
		default:
			t.Fatal("a queued reset message does not wake the delivery loop")
		}
		delivered := make(chan error, 1)
		go func() {
			n, err := svc.Deliver(context.Background())
			if err == nil && n != 1 {
				err = fmt.Errorf("the delivery pass sent %d messages, want one", n)
			}
			delivered <- err
		}()
		release()
		select {
		case err := <-delivered:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the delivery pass did not finish")
		}
		sender.mu.Lock()
		sent := append([]auth.Message(nil), sender.sent...)
		sender.mu.Unlock()
		if len(sent) != 1 || sent[0].To != handle {
			t.Fatalf("sent %+v, want one message to %s", sent, handle)
		}
		if err := svc.ConfirmReset(t.Context(), auth.ResetConfirm{Token: resetTokenIn(t, sent[0].Body), NewPassword: "a brand new passphrase"}); err != nil {
			t.Fatalf("the delivered token: %v", err)
		}
	})
}

// tally counts store calls for the services of a test, together.
type tally struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *tally) add(name string) { c.mu.Lock(); c.calls[name]++; c.mu.Unlock() }
func (c *tally) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := maps.Clone(c.calls)
	clear(c.calls)
	return m
}

// resetCounter counts the store calls a reset request makes.
type resetCounter struct {
	auth.Store
	*tally
}

func (c *resetCounter) UserByHandle(ctx context.Context, handle string) (*auth.User, error) {
	c.add("UserByHandle")
	return c.Store.UserByHandle(ctx, handle)
}

func (c *resetCounter) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	c.add("Failures")
	return c.Store.Failures(ctx, key, since)
}

func (c *resetCounter) RecordFailure(ctx context.Context, key string, at, since time.Time, sweep int) (int, error) {
	c.add("RecordFailure")
	return c.Store.RecordFailure(ctx, key, at, since, sweep)
}

func (c *resetCounter) CreateResetToken(ctx context.Context, hash, userID string, expires time.Time) error {
	c.add("CreateResetToken")
	return c.Store.CreateResetToken(ctx, hash, userID, expires)
}

func (c *resetCounter) Enqueue(ctx context.Context, m *auth.Message) error {
	c.add("Enqueue")
	return c.Store.Enqueue(ctx, m)
}

func (c *resetCounter) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	c.add("AppendAudit")
	return c.Store.AppendAudit(ctx, recs, seal)
}

// TestAHandleIsSentAtMostThreeResetsAnHour: reset requests for one handle,
// from as many addresses and spread over two processes, send it
// ResetMessagesPerHour messages in an hour; the next is answered as the
// others (and as an unknown handle's, with the same store calls), makes
// no token and queues no message, and is audited as limited. Only the
// newest token works. The next hour sends again. Before, only each
// address was limited: someone rotating addresses sent a user a message
// (and a live token) per request.
func TestAHandleIsSentAtMostThreeResetsAnHour(t *testing.T) {
	counts := &tally{calls: map[string]int{}}
	wrap := func(s auth.Store) auth.Store { return &resetCounter{Store: s, tally: counts} }
	twoProcessesOver(t, wrap, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const handle = "inbox@example.com"
		u, err := here.SignUp(from(t, 200), auth.SignUp{Handle: handle, Password: "correct horse battery staple"})
		if err != nil {
			t.Fatal(err)
		}
		per := auth.ResetMessagesPerHour
		var calls []map[string]int
		counts.take()
		for i := range per + 1 {
			svc := []*auth.Service{here, there}[i%2]
			if err := svc.RequestReset(from(t, i), auth.ResetRequest{Handle: handle}); err != nil {
				t.Fatalf("request %d: %v, want the same answer as any other", i+1, err)
			}
			calls = append(calls, counts.take())
			clk.add(time.Minute) // message IDs follow the clock: oldest first
		}
		for i, c := range calls {
			made := 1
			if i >= per {
				made = 0
			}
			if c["CreateResetToken"] != made || c["Enqueue"] != made {
				t.Errorf("request %d made %d tokens and queued %d messages, want %d of each", i+1, c["CreateResetToken"], c["Enqueue"], made)
			}
		}
		msgs := pendingResets(t, here.Store(), handle)
		if len(msgs) != per {
			t.Fatalf("%d reset messages queued for %d requests within the hour, want %d", len(msgs), per+1, per)
		}
		if err := there.RequestReset(from(t, 50), auth.ResetRequest{Handle: "nobody@example.com"}); err != nil {
			t.Fatal(err)
		}
		if ghost := counts.take(); !maps.Equal(ghost, calls[per]) {
			t.Errorf("an unknown handle's request called the store %v, a limited user's %v; want the same", ghost, calls[per])
		}
		recs, err := here.Store().Audit(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var mine []*auth.AuditRecord
		for _, r := range recs {
			if r.Action == "password.reset_request" && r.Target == u.ID {
				mine = append(mine, r)
			}
		}
		if len(mine) != per+1 || mine[per].Detail["limited"] != "true" || mine[per-1].Detail["limited"] != "" {
			t.Errorf("audited %d reset requests of the user, the last %+v; want %d, the last one limited", len(mine), mine[len(mine)-1], per+1)
		}
		for i, m := range msgs {
			err := here.ConfirmReset(t.Context(), auth.ResetConfirm{Token: resetTokenIn(t, m.Body), NewPassword: "a brand new passphrase"})
			if i < len(msgs)-1 && pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Errorf("token %d of %d: %v, want unauthorized (only the newest works)", i+1, len(msgs), err)
			}
			if i == len(msgs)-1 && err != nil {
				t.Errorf("the newest token: %v", err)
			}
		}
		clk.add(time.Hour)
		if err := here.RequestReset(from(t, 60), auth.ResetRequest{Handle: handle}); err != nil {
			t.Fatal(err)
		}
		if c := counts.take(); c["CreateResetToken"] != 1 || c["Enqueue"] != 1 {
			t.Errorf("the next hour's request: %v, want a token and a message", c)
		}
	})
}

var errInjected = errors.New("injected store failure")

// failingStore fails the step it is told to (its method's name), and
// passes everything else to the store.
type failingStore struct {
	auth.Store
	mu   sync.Mutex
	step string
}

func (f *failingStore) fail(step string) { f.mu.Lock(); f.step = step; f.mu.Unlock() }
func (f *failingStore) failing(step string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.step == step
}

func (f *failingStore) ResetLoginFailures(ctx context.Context, userID string) error {
	if f.failing("ResetLoginFailures") {
		return errInjected
	}
	return f.Store.ResetLoginFailures(ctx, userID)
}

func (f *failingStore) MarkKnownAddress(ctx context.Context, key string, at, since time.Time, sweep int) error {
	if f.failing("MarkKnownAddress") {
		return errInjected
	}
	return f.Store.MarkKnownAddress(ctx, key, at, since, sweep)
}

func (f *failingStore) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	for _, r := range recs {
		if f.failing("AppendAudit " + r.Action) {
			return errInjected
		}
	}
	return f.Store.AppendAudit(ctx, recs, seal)
}

func (f *failingStore) RevokeSessions(ctx context.Context, userID, keep, endedBy string, at time.Time) error {
	if f.failing("RevokeSessions") {
		return errInjected
	}
	return f.Store.RevokeSessions(ctx, userID, keep, endedBy, at)
}

func (f *failingStore) SetPassword(ctx context.Context, userID string, expectVersion int64, hash, keep, endedBy string, at time.Time) error {
	if f.failing("SetPassword") {
		return errInjected
	}
	return f.Store.SetPassword(ctx, userID, expectVersion, hash, keep, endedBy, at)
}

// TestALoginThatFailsLeavesNoLiveSession: a login whose store write fails
// after the password was checked answers an error and leaves no live
// session: none is listed among the user's sessions. Before, the session
// was stored first: a later failure (forgetting the failures, marking the
// address, the login's audit record) left it live and listed, with a
// token no one had and no record of the login.
func TestALoginThatFailsLeavesNoLiveSession(t *testing.T) {
	for _, step := range []string{"ResetLoginFailures", "MarkKnownAddress", "AppendAudit login.success"} {
		t.Run(step, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, store auth.Store) {
				fs := &failingStore{Store: store}
				svc, clk := cheapService(fs, nil)
				const password = "correct horse battery staple"
				u, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: "fails@example.com", Password: password})
				if err != nil {
					t.Fatal(err)
				}
				// A failure first, so that the success has failures to forget.
				if _, err := svc.Login(from(t, 1), auth.Login{Handle: u.Handle, Password: "wrong guess"}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
					t.Fatal(err)
				}
				fs.fail(step)
				if _, err := svc.Login(from(t, 2), auth.Login{Handle: u.Handle, Password: password}); err == nil {
					t.Fatalf("a login whose %s failed answered a session", step)
				}
				fs.fail("")
				live, err := store.Sessions(t.Context(), u.ID, clk.now(), auth.SessionsListMax)
				if err != nil {
					t.Fatal(err)
				}
				if len(live) != 0 {
					t.Fatalf("a login whose %s failed left %d live sessions, want none", step, len(live))
				}
				if _, err := svc.Login(from(t, 2), auth.Login{Handle: u.Handle, Password: password}); err != nil {
					t.Fatalf("the next login: %v", err)
				}
			})
		})
	}
}

// TestANewPasswordThatFailsToEndTheSessionsIsNotSet: a reset (and a
// change) whose ending of the sessions fails answers an error and leaves
// the old password: never a new password with the old sessions live.
// Before, the password was set first: at a reset the token was spent
// meanwhile, so an intruder's session outlived the reset that was meant
// to end it. A reset ends the sessions in a call of its own first
// (RevokeSessions fails here); since 2026-11-29 a change ends them only
// in SetPassword's transaction, with its version check, so it is
// SetPassword that fails here.
func TestANewPasswordThatFailsToEndTheSessionsIsNotSet(t *testing.T) {
	const password, newPassword = "correct horse battery staple", "a brand new passphrase"
	for _, how := range []string{"reset", "change"} {
		t.Run(how, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, store auth.Store) {
				fs := &failingStore{Store: store}
				svc, _ := cheapService(fs, nil)
				u, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: "takeover@example.com", Password: password})
				if err != nil {
					t.Fatal(err)
				}
				ses, err := svc.Login(from(t, 1), auth.Login{Handle: u.Handle, Password: password})
				if err != nil {
					t.Fatal(err)
				}
				if how == "reset" {
					fs.fail("RevokeSessions")
				} else {
					fs.fail("SetPassword")
				}
				err = ownerReplacesThePassword(t, svc, store, u, how, ses.ID, password, newPassword)
				if err == nil {
					t.Fatal("a new password whose sessions failed to end answered success")
				}
				fs.fail("")
				if _, err := svc.Login(from(t, 2), auth.Login{Handle: u.Handle, Password: newPassword}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
					t.Errorf("the new password after its sessions failed to end: %v, want unauthorized (not set)", err)
				}
				if _, err := svc.Login(from(t, 3), auth.Login{Handle: u.Handle, Password: password}); err != nil {
					t.Errorf("the old password after the sessions failed to end: %v, want it unchanged", err)
				}
			})
		})
	}
}
