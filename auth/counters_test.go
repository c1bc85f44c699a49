package auth_test

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// twoProcesses is two services over one store, as two `peakwallet serve`
// processes behind a balancer are: on one SQLite file, and on one
// PostgreSQL database (two stores, two pools) when it can be reached.
// Each service keeps its own memory, so a count that lives there is seen
// by one of them only.
func twoProcesses(t *testing.T, run func(t *testing.T, here, there *auth.Service, clk *fakeClock)) {
	twoProcessesOver(t, func(s auth.Store) auth.Store { return s }, run)
}

// twoProcessesOver is twoProcesses with each process's store seen
// through wrap (a counting or failing wrapper).
func twoProcessesOver(t *testing.T, wrap func(auth.Store) auth.Store, run func(t *testing.T, here, there *auth.Service, clk *fakeClock)) {
	opts := func(clk *fakeClock) auth.Options {
		return auth.Options{Now: clk.now, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}}
	}
	t.Run("sqlite", func(t *testing.T) {
		s := newMemStore(t)
		clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
		run(t, auth.New(wrap(s), nil, opts(clk)), auth.New(wrap(s), nil, opts(clk)), clk)
	})
	t.Run("postgres", func(t *testing.T) {
		a, b, _ := openPostgresTwice(t)
		clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
		run(t, auth.New(wrap(a), nil, opts(clk)), auth.New(wrap(b), nil, opts(clk)), clk)
	})
}

// from is a context from a client address of its own, so that only the
// per-handle counts (not the per-address back-offs) see its failures.
func from(t *testing.T, i int) context.Context {
	return auth.NewContextWithClientAddress(t.Context(), "198.51.100."+strconv.Itoa(i))
}

// TestAnUnknownHandleLocksAcrossProcesses: LockAfter failed logins on a
// handle no one has, spread over two processes, lock it as they lock a
// user's handle, whose count is in the database. Before, an unknown
// handle's failures were counted in each process's memory: each process
// saw half, neither locked, and a user's locked handle (429) told itself
// apart from an unknown one (401).
func TestAnUnknownHandleLocksAcrossProcesses(t *testing.T) {
	twoProcesses(t, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const password = "correct horse battery staple"
		if _, err := here.SignUp(from(t, 200), auth.SignUp{Handle: "known@example.com", Password: password}); err != nil {
			t.Fatal(err)
		}
		l := auth.DefaultLimits
		answers := map[string]string{}
		for _, handle := range []string{"known@example.com", "ghost@example.com"} {
			for i := range l.LockAfter {
				svc := []*auth.Service{here, there}[i%2]
				if _, err := svc.Login(from(t, i), auth.Login{Handle: handle, Password: "wrong guess " + strconv.Itoa(i)}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
					t.Fatalf("%s failure %d: %v", handle, i, err)
				}
			}
			for i, svc := range []*auth.Service{here, there} {
				_, err := svc.Login(from(t, 100+i), auth.Login{Handle: handle, Password: "one more wrong guess"})
				answers[handle+" "+strconv.Itoa(i)] = pw.ErrorCode(err) + ": " + pw.ErrorMessage(err)
			}
		}
		// Counted under a hash of the handle: the table does not collect
		// the handles tried.
		if n, _, err := here.Store().Failures(t.Context(), "ghost:ghost@example.com", time.Time{}); err != nil || n != 0 {
			t.Errorf("an unknown handle's failures are stored under the handle itself: %d, %v", n, err)
		}
		for i := range 2 {
			known, ghost := answers["known@example.com "+strconv.Itoa(i)], answers["ghost@example.com "+strconv.Itoa(i)]
			if known != ghost {
				t.Errorf("process %d: a locked user's handle answers %q, an unknown handle %q", i, known, ghost)
			}
			if !strings.HasPrefix(known, pw.ERATELIMITED+":") {
				t.Errorf("process %d: a locked handle answers %q, want rate_limited", i, known)
			}
		}
	})
}

// TestWrongCurrentPasswordsBackOffAcrossProcesses: FailuresFree wrong
// current passwords at a password change, spread over two processes,
// start the back-off in both: the right password then gets the same 429
// from either. Before, the count was each process's: a stolen session
// spreading its guesses over N processes had N times the free guesses,
// and here the right one changed the password.
func TestWrongCurrentPasswordsBackOffAcrossProcesses(t *testing.T) {
	twoProcesses(t, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const password = "correct horse battery staple"
		u, err := here.SignUp(from(t, 0), auth.SignUp{Handle: "change@example.com", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		me := pw.NewContextWithPrincipal(from(t, 0), pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
		l := auth.DefaultLimits
		for i := range l.FailuresFree {
			svc := []*auth.Service{here, there}[i%2]
			err := svc.ChangePassword(me, auth.PasswordChange{CurrentPassword: "guess number " + strconv.Itoa(i), NewPassword: "the intruder's passphrase"})
			if pw.ErrorCode(err) != pw.EFORBIDDEN {
				t.Fatalf("wrong guess %d: %v, want forbidden", i, err)
			}
		}
		for i, svc := range []*auth.Service{here, there} {
			err := svc.ChangePassword(me, auth.PasswordChange{CurrentPassword: password, NewPassword: "the intruder's passphrase"})
			if pw.ErrorCode(err) != pw.ERATELIMITED {
				t.Fatalf("process %d, the right password after %d wrong ones spread over two processes: %v, want rate_limited", i, l.FailuresFree, err)
			}
		}
		clk.add(l.BackoffFirst)
		if err := there.ChangePassword(me, auth.PasswordChange{CurrentPassword: password, NewPassword: "the owner's new passphrase"}); err != nil {
			t.Fatalf("the right password once the back-off has passed: %v", err)
		}
	})
}

// TestWrongMFACodesBackOffAcrossProcesses: FailuresFree wrong MFA codes
// (at login here; a step-up checks codes the same way, under the same
// count), spread over two processes, start the back-off in both: the
// right code is then refused by either, as a wrong one is (a login answers
// both 401). Before, each process counted its own: a stolen password had
// N processes' worth of guesses at the code, and here the right code
// logged in.
func TestWrongMFACodesBackOffAcrossProcesses(t *testing.T) {
	twoProcesses(t, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const handle, password = "mfa@example.com", "correct horse battery staple"
		u, err := here.SignUp(from(t, 0), auth.SignUp{Handle: handle, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		me := pw.NewContextWithPrincipal(from(t, 0), pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
		en, err := here.EnrollTOTP(me)
		if err != nil {
			t.Fatal(err)
		}
		code := func() string {
			c, err := totp.GenerateCode(en.Secret, clk.now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if _, err := here.ConfirmTOTP(me, auth.MFAConfirm{Code: code()}); err != nil {
			t.Fatal(err)
		}
		clk.add(30 * time.Second) // the confirming code's step is spent
		wrong := "000000"
		if code() == wrong {
			wrong = "111111"
		}
		l := auth.DefaultLimits
		for i := range l.FailuresFree {
			svc := []*auth.Service{here, there}[i%2]
			if _, err := svc.Login(from(t, i+1), auth.Login{Handle: handle, Password: password, MFACode: wrong}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("wrong code %d: %v, want unauthorized", i, err)
			}
		}
		for i, svc := range []*auth.Service{here, there} {
			_, err := svc.Login(from(t, 100+i), auth.Login{Handle: handle, Password: password, MFACode: code()})
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("process %d, the right code after %d wrong ones spread over two processes: %v, want refused", i, l.FailuresFree, err)
			}
		}
		clk.add(l.BackoffFirst)
		if _, err := there.Login(from(t, 102), auth.Login{Handle: handle, Password: password, MFACode: code()}); err != nil {
			t.Fatalf("the right code once the back-off has passed: %v", err)
		}
	})
}

// readCounter counts the calls a login makes to the failure counts.
type readCounter struct {
	auth.Store
	calls map[string]int
}

func (c *readCounter) UserByHandle(ctx context.Context, handle string) (*auth.User, error) {
	c.calls["UserByHandle"]++
	return c.Store.UserByHandle(ctx, handle)
}

func (c *readCounter) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	c.calls["Failures"]++
	return c.Store.Failures(ctx, key, since)
}

func (c *readCounter) KnownAddress(ctx context.Context, key string, since time.Time) (bool, error) {
	c.calls["KnownAddress"]++
	return c.Store.KnownAddress(ctx, key, since)
}

// TestAKnownAndAnUnknownHandleReadTheStoreAlike: a failed login of a user's
// handle reads the store as one of a handle no one has does, so that the
// number of reads (their time) does not tell which handles exist. Since
// the unknown handle's count moved into the store, its login read it and a
// user's did not.
func TestAKnownAndAnUnknownHandleReadTheStoreAlike(t *testing.T) {
	c := &readCounter{Store: newMemStore(t), calls: map[string]int{}}
	clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	svc := auth.New(c, nil, auth.Options{Now: clk.now, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	if _, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: "known@example.com", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	reads := map[string]map[string]int{}
	for i, handle := range []string{"known@example.com", "ghost@example.com"} {
		clear(c.calls)
		if _, err := svc.Login(from(t, i), auth.Login{Handle: handle, Password: "wrong guess"}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			t.Fatalf("%s: %v, want unauthorized", handle, err)
		}
		reads[handle] = maps.Clone(c.calls)
	}
	// Two counts: the address's, the handle's (an unknown one's; a
	// user's finds none). Until 2026-11-29 a third, the handle and
	// address's: it counted what the address's counts, and a success
	// cleared only it, so it never made anyone wait longer.
	if k, g := reads["known@example.com"], reads["ghost@example.com"]; !maps.Equal(k, g) || g["Failures"] != 2 {
		t.Fatalf("a failed login read %v for a user's handle and %v for an unknown one; want the same, two failure counts each", k, g)
	}
	// Locked, a user's login reads whether its address is known (it may
	// pass the lock): an unknown handle's reads it too. Each handle has
	// failed once above; each address fails once per handle, below its
	// own back-off.
	for _, handle := range []string{"known@example.com", "ghost@example.com"} {
		for i := range auth.DefaultLimits.LockAfter - 1 {
			if _, err := svc.Login(from(t, 10+i), auth.Login{Handle: handle, Password: "wrong guess"}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("%s failure %d: %v, want unauthorized", handle, i, err)
			}
		}
	}
	for i, handle := range []string{"known@example.com", "ghost@example.com"} {
		clear(c.calls)
		if _, err := svc.Login(from(t, 100+i), auth.Login{Handle: handle, Password: "wrong guess"}); pw.ErrorCode(err) != pw.ERATELIMITED {
			t.Fatalf("%s locked: %v, want rate_limited", handle, err)
		}
		reads[handle] = maps.Clone(c.calls)
	}
	if k, g := reads["known@example.com"], reads["ghost@example.com"]; !maps.Equal(k, g) || g["KnownAddress"] != 1 {
		t.Fatalf("a locked login read %v for a user's handle and %v for an unknown one; want the same, one known-address read each", k, g)
	}
}

// TestAnAddressBacksOffAcrossProcesses: FailuresFree failed logins from
// one client address (an IPv6 host's /64, whose low bits it picks at
// will), on as many handles and spread over two processes, start the
// address's back-off in both: a user's right password from that network
// then gets the same 429 from either. Before, each process counted the
// address in its memory: each saw half, and N processes gave an address N
// times its budget of guesses.
func TestAnAddressBacksOffAcrossProcesses(t *testing.T) {
	twoProcesses(t, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const handle, password = "home@example.com", "correct horse battery staple"
		if _, err := here.SignUp(from(t, 0), auth.SignUp{Handle: handle, Password: password}); err != nil {
			t.Fatal(err)
		}
		host := func(i int) context.Context {
			return auth.NewContextWithClientAddress(t.Context(), "2001:db8:1:2::"+strconv.Itoa(i+1))
		}
		l := auth.DefaultLimits
		for i := range l.FailuresFree {
			svc := []*auth.Service{here, there}[i%2]
			guess := auth.Login{Handle: "guess" + strconv.Itoa(i) + "@example.com", Password: "wrong guess " + strconv.Itoa(i)}
			if _, err := svc.Login(host(i), guess); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v, want unauthorized", i, err)
			}
		}
		for i, svc := range []*auth.Service{here, there} {
			_, err := svc.Login(host(100+i), auth.Login{Handle: handle, Password: password})
			if pw.ErrorCode(err) != pw.ERATELIMITED {
				t.Fatalf("process %d, the right password from an address after %d failures spread over two processes: %v, want rate_limited", i, l.FailuresFree, err)
			}
		}
		// The other network was not touched.
		if _, err := there.Login(from(t, 1), auth.Login{Handle: handle, Password: password}); err != nil {
			t.Fatalf("the right password from another address: %v", err)
		}
		clk.add(l.BackoffFirst)
		if _, err := here.Login(host(200), auth.Login{Handle: handle, Password: password}); err != nil {
			t.Fatalf("the right password once the back-off has passed: %v", err)
		}
	})
}

// TestAHandlesFailuresFromAnAddressBackOffAcrossProcesses: FailuresFree
// wrong passwords for one user from one address, spread over two
// processes, start the address's back-off in both; the user's login once
// it has passed does not clear it (an account of the attacker's own would
// clear it), so the next wrong password from there backs off again, for
// longer. Until 2026-11-29 a count of the handle and address did this
// beside the address's; it counted the same failures with the same free
// ones, and a success cleared only it, so it never made anyone wait
// longer than the address's did and was removed.
func TestAHandlesFailuresFromAnAddressBackOffAcrossProcesses(t *testing.T) {
	twoProcesses(t, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const handle, password = "pair@example.com", "correct horse battery staple"
		if _, err := here.SignUp(from(t, 0), auth.SignUp{Handle: handle, Password: password}); err != nil {
			t.Fatal(err)
		}
		l := auth.DefaultLimits
		for i := range l.FailuresFree {
			svc := []*auth.Service{here, there}[i%2]
			if _, err := svc.Login(from(t, 7), auth.Login{Handle: handle, Password: "wrong guess " + strconv.Itoa(i)}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v, want unauthorized", i, err)
			}
		}
		for i, svc := range []*auth.Service{here, there} {
			if _, err := svc.Login(from(t, 7), auth.Login{Handle: handle, Password: password}); pw.ErrorCode(err) != pw.ERATELIMITED {
				t.Fatalf("process %d, the right password after %d wrong ones spread over two processes: %v, want rate_limited", i, l.FailuresFree, err)
			}
		}
		if n, _, err := here.Store().Failures(t.Context(), "addr:198.51.100.7", time.Time{}); err != nil || n != l.FailuresFree {
			t.Errorf("the address's failures: %d, %v; want %d", n, err, l.FailuresFree)
		}
		clk.add(l.BackoffFirst)
		if _, err := there.Login(from(t, 7), auth.Login{Handle: handle, Password: password}); err != nil {
			t.Fatalf("the right password once the back-off has passed: %v", err)
		}
		if _, err := here.Login(from(t, 7), auth.Login{Handle: handle, Password: "one more wrong guess"}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			t.Fatalf("a wrong password after the user's login: %v, want unauthorized", err)
		}
		_, err := there.Login(from(t, 7), auth.Login{Handle: handle, Password: password})
		if e, ok := err.(*pw.Error); !ok || e.Code != pw.ERATELIMITED || e.Retry != 2*l.BackoffFirst {
			t.Fatalf("the right password after one more wrong one, the user's login between: %v, want rate_limited for %v", err, 2*l.BackoffFirst)
		}
	})
}

// TestAKnownAddressIsKnownToEveryProcess: an address a user logged in
// from is exempt from their handle's lock in every process, not only in
// the one that saw the login, while a stranger's address stays locked.
// Before, each process remembered the addresses it saw log in: after a
// lock the user was refused at home by the other processes.
func TestAKnownAddressIsKnownToEveryProcess(t *testing.T) {
	twoProcesses(t, func(t *testing.T, here, there *auth.Service, clk *fakeClock) {
		const handle, password = "known@example.com", "correct horse battery staple"
		if _, err := here.SignUp(from(t, 200), auth.SignUp{Handle: handle, Password: password}); err != nil {
			t.Fatal(err)
		}
		if _, err := here.Login(from(t, 200), auth.Login{Handle: handle, Password: password}); err != nil {
			t.Fatal(err)
		}
		l := auth.DefaultLimits
		for i := range l.LockAfter {
			svc := []*auth.Service{here, there}[i%2]
			if _, err := svc.Login(from(t, i), auth.Login{Handle: handle, Password: "wrong guess " + strconv.Itoa(i)}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v, want unauthorized", i, err)
			}
		}
		if _, err := there.Login(from(t, 100), auth.Login{Handle: handle, Password: password}); pw.ErrorCode(err) != pw.ERATELIMITED {
			t.Fatalf("the right password from a stranger's address on a locked handle: %v, want rate_limited", err)
		}
		// From the process that did not see the user's login (the one that
		// did would then clear the lock).
		if _, err := there.Login(from(t, 200), auth.Login{Handle: handle, Password: password}); err != nil {
			t.Fatalf("the right password, from the address the user logged in from, on another process: %v", err)
		}
	})
}

// readTogether holds every login's read of its user until all of them
// have read it: failures that arrive at once, as a burst from many
// addresses does, all read the same count before any records its own.
type readTogether struct {
	auth.Store
	all *sync.WaitGroup // nil: reads pass
}

func (r *readTogether) UserByHandle(ctx context.Context, handle string) (*auth.User, error) {
	u, err := r.Store.UserByHandle(ctx, handle)
	if r.all != nil {
		r.all.Done()
		r.all.Wait()
	}
	return u, err
}

// TestFailuresAtOnceLockAsTheirCountSays: failed logins that arrive
// together (from different addresses, each below its own back-off) lock
// the handle as their count says, on both stores. Before, each computed
// its lock from the count it had read before the password check: twelve
// at once at a count of none each asked for no lock, the count reached
// twelve unlocked, and the right password from a stranger's address
// logged in.
func TestFailuresAtOnceLockAsTheirCountSays(t *testing.T) {
	stores := map[string]func(t *testing.T) auth.Store{
		"sqlite":   newMemStore,
		"postgres": func(t *testing.T) auth.Store { a, _, _ := openPostgresTwice(t); return a },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			s := &readTogether{Store: stores[name](t)}
			clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
			svc := auth.New(s, nil, auth.Options{Now: clk.now, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
			const handle, password = "burst@example.com", "correct horse battery staple"
			u, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: handle, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			l := auth.DefaultLimits
			const atOnce = 12 // past LockAfter (10)
			var all, done sync.WaitGroup
			all.Add(atOnce)
			s.all = &all
			for i := range atOnce {
				done.Go(func() {
					if _, err := svc.Login(from(t, i), auth.Login{Handle: handle, Password: "wrong guess " + strconv.Itoa(i)}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
						t.Errorf("failure %d: %v, want unauthorized", i, err)
					}
				})
			}
			done.Wait()
			s.all = nil
			got, err := s.UserByID(t.Context(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := clk.now().Add(l.BackoffFirst * 4) // the back-off of the 12th failure: 1 s doubled twice
			if got.FailedLogins != atOnce || !got.LockedUntil.Equal(want) {
				t.Fatalf("after %d failures at once: count %d, locked until %v; want %d, until %v", atOnce, got.FailedLogins, got.LockedUntil, atOnce, want)
			}
			_, err = svc.Login(from(t, 100), auth.Login{Handle: handle, Password: password})
			if pw.ErrorCode(err) != pw.ERATELIMITED {
				t.Fatalf("the right password from a stranger's address after %d failures at once: %v, want rate_limited", atOnce, err)
			}
		})
	}
}

// markCounter counts the known-address marks.
type markCounter struct {
	auth.Store
	marks int
}

func (c *markCounter) MarkKnownAddress(ctx context.Context, key string, at, since time.Time, sweep int) error {
	c.marks++
	return c.Store.MarkKnownAddress(ctx, key, at, since, sweep)
}

// TestAKnownAddressIsMarkedOnceADay: a successful login marks its address
// known to the user (a write), but not again while the mark is less than a
// day old: logging in from home several times a day costs one write a day
// (on SQLite, behind the writer the payments use), and the address stays
// known, as a later login from it shows once the day is over.
func TestAKnownAddressIsMarkedOnceADay(t *testing.T) {
	c := &markCounter{Store: newMemStore(t)}
	clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	svc := auth.New(c, nil, auth.Options{Now: clk.now, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	const password = "correct horse battery staple"
	if _, err := svc.SignUp(from(t, 200), auth.SignUp{Handle: "home@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	login := func() {
		t.Helper()
		if _, err := svc.Login(from(t, 1), auth.Login{Handle: "home@example.com", Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	login()
	clk.add(6 * time.Hour)
	login()
	clk.add(6 * time.Hour)
	login()
	if c.marks != 1 {
		t.Fatalf("three logins from one address within a day marked it %d times, want once", c.marks)
	}
	clk.add(13 * time.Hour) // 25 h after the first
	login()
	if c.marks != 2 {
		t.Fatalf("a login a day after the mark marked it %d times in all, want twice", c.marks)
	}
}
