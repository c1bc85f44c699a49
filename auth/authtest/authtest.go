// Package authtest is the conformance suite of auth.Store: every store
// runs Run, so that SQLite and PostgreSQL cannot disagree about security
// state (a code used twice, a revoked session alive on one of them).
package authtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/ledger"
)

// Opener returns a new, empty store that is closed when t ends. It must
// also be a peakwallet.Store (wallets are ledger accounts).
type Opener func(t *testing.T) auth.Store

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs every behaviour as a subtest, each on a fresh store.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s auth.Store)
	}{
		{"users", testUsers},
		{"failures", testFailures},
		{"known addresses", testKnownAddresses},
		{"sessions", testSessions},
		{"sessions of a replaced password", testSessionsOfAReplacedPassword},
		{"a change of a replaced password", testAChangeOfAReplacedPassword},
		{"a reset of a missing user", testAResetOfAMissingUser},
		{"mfa", testMFA},
		{"otp", testOTP},
		{"keys", testKeys},
		{"audit", testAudit},
		{"operator money audited in its commit", testMoneyAudit},
		{"outbox", testOutbox},
		{"reset tokens", testResetTokens},
		{"user accounts", testUserAccounts},
		{"account holders", testAccountHolders},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func code(err error) string { return pw.ErrorCode(err) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// MustUser creates a user with handle and returns it as the store reads
// it (its password version among the rest).
func MustUser(t *testing.T, s auth.Store, handle string) *auth.User {
	t.Helper()
	u := &auth.User{ID: pw.NewID(pw.PrefixUser, t0), Handle: handle, PasswordHash: "$argon2id$x", CreatedAt: t0, StepUpThreshold: 100}
	must(t, s.CreateUser(context.Background(), u))
	got, err := s.UserByID(context.Background(), u.ID)
	must(t, err)
	return got
}

func testUsers(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u := MustUser(t, s, "ann@example.com")
	got, err := s.UserByHandle(ctx, "ann@example.com")
	if err != nil || got.ID != u.ID || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(t0) || got.StepUpThreshold != 100 {
		t.Fatalf("UserByHandle = %+v, %v", got, err)
	}
	if _, err := s.UserByID(ctx, "usr_missing"); code(err) != pw.ENOTFOUND {
		t.Fatalf("missing user: %v", err)
	}
	dup := &auth.User{ID: pw.NewID(pw.PrefixUser, t0), Handle: "ann@example.com", PasswordHash: "x", CreatedAt: t0}
	if err := s.CreateUser(ctx, dup); code(err) != pw.EHANDLETAKEN {
		t.Fatalf("duplicate handle: %v, want handle_taken", err)
	}
	if u.PasswordVersion != 1 {
		t.Fatalf("a new user's password version = %d, want 1", u.PasswordVersion)
	}
	must(t, s.SetPassword(ctx, u.ID, auth.AnyPasswordVersion, "$argon2id$y", "", auth.EndedByPasswordReset, t0))
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordVersion != 2 || got.PasswordHash != "$argon2id$y" {
		t.Fatalf("after SetPassword: version %d, hash %q; want 2 and the new hash", got.PasswordVersion, got.PasswordHash)
	}
	for i := 1; i <= 3; i++ {
		n, err := s.RecordLoginFailure(ctx, u.ID, t0.Add(time.Duration(4-i)*time.Minute))
		if err != nil || n != i {
			t.Fatalf("failure %d: %d, %v", i, n, err)
		}
	}
	got, _ = s.UserByID(ctx, u.ID)
	if got.FailedLogins != 3 || !got.LockedUntil.Equal(t0.Add(3*time.Minute)) || got.PasswordHash != "$argon2id$y" {
		t.Fatalf("after failures: %+v (the lock never shrinks)", got)
	}
	// A lock raised for a count the user has: a later one stands, an
	// earlier one or one for a count not reached changes nothing.
	must(t, s.RaiseLoginLock(ctx, u.ID, 3, t0.Add(5*time.Minute)))
	must(t, s.RaiseLoginLock(ctx, u.ID, 3, t0.Add(4*time.Minute)))
	must(t, s.RaiseLoginLock(ctx, u.ID, 4, t0.Add(9*time.Minute)))
	if got, _ = s.UserByID(ctx, u.ID); got.FailedLogins != 3 || !got.LockedUntil.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after raising the lock: %+v, want 3 failures locked until %v", got, t0.Add(5*time.Minute))
	}
	must(t, s.ResetLoginFailures(ctx, u.ID))
	if got, _ = s.UserByID(ctx, u.ID); got.FailedLogins != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("after reset: %+v", got)
	}
	// A success reset the count after the failure that computed the lock:
	// the reset stands.
	must(t, s.RaiseLoginLock(ctx, u.ID, 3, t0.Add(9*time.Minute)))
	if got, _ = s.UserByID(ctx, u.ID); got.FailedLogins != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("a lock raised after a reset: %+v, want none", got)
	}
}

// testFailures: a key's failures count up for everyone, concurrent ones
// included; a run older than since counts as none and starts again at one;
// a failure sweeps other forgotten keys, at most sweep of them; a reset
// forgets the key.
func testFailures(t *testing.T, s auth.Store) {
	ctx := context.Background()
	day := t0.Add(-24 * time.Hour)
	if n, last, err := s.Failures(ctx, "ghost:nobody", day); err != nil || n != 0 || !last.IsZero() {
		t.Fatalf("a key with no failures: %d, %v, %v", n, last, err)
	}
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		if n, err := s.RecordFailure(ctx, "mfa:usr_a", at, day, 10); err != nil || n != i {
			t.Fatalf("failure %d: %d, %v", i, n, err)
		}
	}
	if n, last, err := s.Failures(ctx, "mfa:usr_a", day); err != nil || n != 3 || !last.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after three failures: %d, %v, %v; want 3 at %v", n, last, err, t0.Add(3*time.Second))
	}
	if n, _, err := s.Failures(ctx, "mfa:usr_b", day); err != nil || n != 0 {
		t.Fatalf("another key: %d, %v", n, err)
	}

	var wg sync.WaitGroup
	const racing = 8
	for range racing {
		wg.Go(func() {
			if _, err := s.RecordFailure(ctx, "password:usr_a", t0, day, 10); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, _, err := s.Failures(ctx, "password:usr_a", day); err != nil || n != racing {
		t.Fatalf("%d concurrent failures counted %d, %v", racing, n, err)
	}

	// A day later both runs are forgotten: read as none, and a new
	// failure starts at one.
	later := t0.Add(25 * time.Hour)
	since := later.Add(-24 * time.Hour)
	if n, last, err := s.Failures(ctx, "mfa:usr_a", since); err != nil || n != 0 || !last.IsZero() {
		t.Fatalf("a forgotten run: %d, %v, %v", n, last, err)
	}
	if n, err := s.RecordFailure(ctx, "mfa:usr_a", later, since, 0); err != nil || n != 1 {
		t.Fatalf("a failure after a forgotten run: %d, %v; want 1", n, err)
	}

	// The sweep: each failure deletes at most sweep forgotten keys, the
	// oldest first, and never the failing key's own row.
	for i := range 3 {
		if _, err := s.RecordFailure(ctx, "ghost:"+strconv.Itoa(i), t0.Add(-time.Duration(3-i)*time.Minute), day, 0); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() (keys []string) {
		for _, k := range []string{"ghost:0", "ghost:1", "ghost:2", "password:usr_a", "mfa:usr_a"} {
			if n, _, err := s.Failures(ctx, k, day.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			} else if n > 0 {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if n, err := s.RecordFailure(ctx, "mfa:usr_a", later, since, 2); err != nil || n != 2 {
		t.Fatalf("a second failure: %d, %v; want 2", n, err)
	}
	if got := fmt.Sprint(kept()); got != "[ghost:2 password:usr_a mfa:usr_a]" {
		t.Fatalf("after a failure sweeping 2: keys %s, want the two oldest forgotten ones gone", got)
	}
	if _, err := s.RecordFailure(ctx, "mfa:usr_a", later, since, 10); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(kept()); got != "[mfa:usr_a]" {
		t.Fatalf("after a failure sweeping 10: keys %s, want only the live one", got)
	}

	must(t, s.ResetFailures(ctx, "mfa:usr_a"))
	must(t, s.ResetFailures(ctx, "mfa:usr_never"))
	if n, _, err := s.Failures(ctx, "mfa:usr_a", since); err != nil || n != 0 {
		t.Fatalf("after a reset: %d, %v", n, err)
	}
}

// testKnownAddresses: a marked key is known to everyone from its mark
// on, until since passes it; a later mark renews it and an earlier one
// does not undo that; a mark sweeps other forgotten keys, at most sweep
// of them, oldest first, never its own.
func testKnownAddresses(t *testing.T, s auth.Store) {
	ctx := context.Background()
	month := t0.Add(-30 * 24 * time.Hour)
	known := func(key string, since time.Time) bool {
		t.Helper()
		ok, err := s.KnownAddress(ctx, key, since)
		must(t, err)
		return ok
	}
	if known("known:a", month) {
		t.Fatal("a key never marked is known")
	}
	must(t, s.MarkKnownAddress(ctx, "known:a", t0, month, 10))
	if !known("known:a", month) || known("known:b", month) {
		t.Fatal("after a mark of known:a: want it known, and known:b not")
	}
	if known("known:a", t0.Add(time.Second)) {
		t.Fatal("a key marked before since is known")
	}
	must(t, s.MarkKnownAddress(ctx, "known:a", t0.Add(time.Hour), month, 10))
	must(t, s.MarkKnownAddress(ctx, "known:a", t0, month, 10)) // a slower process's older mark
	if !known("known:a", t0.Add(time.Minute)) {
		t.Fatal("a renewed mark was undone by an older one")
	}

	for i := range 3 {
		must(t, s.MarkKnownAddress(ctx, "known:old"+strconv.Itoa(i), month.Add(-time.Duration(3-i)*time.Minute), month.Add(-time.Hour), 0))
	}
	kept := func() (keys []string) {
		for _, k := range []string{"known:old0", "known:old1", "known:old2", "known:a"} {
			if known(k, month.Add(-time.Hour)) {
				keys = append(keys, k)
			}
		}
		return keys
	}
	must(t, s.MarkKnownAddress(ctx, "known:a", t0.Add(time.Hour), month, 2))
	if got := fmt.Sprint(kept()); got != "[known:old2 known:a]" {
		t.Fatalf("after a mark sweeping 2: keys %s, want the two oldest forgotten ones gone", got)
	}
	must(t, s.MarkKnownAddress(ctx, "known:a", t0.Add(time.Hour), t0.Add(2*time.Hour), 10))
	if got := fmt.Sprint(kept()); got != "[known:a]" {
		t.Fatalf("after a mark sweeping 10 with its own key before since: keys %s, want its own kept", got)
	}
}

func testSessions(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s, "a@example.com"), MustUser(t, s, "b@example.com")
	mk := func(u *auth.User, hash string, ttl time.Duration) *auth.Session {
		ses := &auth.Session{ID: pw.NewID(pw.PrefixSession, t0), UserID: u.ID, TokenHash: hash, CreatedAt: t0, ExpiresAt: t0.Add(ttl), Address: "192.0.2.1",
			PasswordVersion: u.PasswordVersion}
		must(t, s.CreateSession(ctx, ses))
		return ses
	}
	s1, s2, _ := mk(a, "h1", time.Hour), mk(a, "h2", time.Hour), mk(a, "h3", time.Minute)
	sb := mk(b, "hb", time.Hour)
	got, err := s.SessionByHash(ctx, "h1")
	if err != nil || got.ID != s1.ID || got.UserID != a.ID || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || !got.RevokedAt.IsZero() {
		t.Fatalf("SessionByHash = %+v, %v", got, err)
	}
	list, err := s.Sessions(ctx, a.ID, t0.Add(2*time.Minute), 10)
	if err != nil || len(list) != 2 || list[0].ID != s2.ID {
		t.Fatalf("Sessions = %v, %v; want the two unexpired, newest first", list, err)
	}
	if got, err := s.SessionByID(ctx, s2.ID); err != nil || got.TokenHash != "h2" || got.UserID != a.ID || !got.RevokedAt.IsZero() || got.EndedBy != "" {
		t.Fatalf("SessionByID = %+v, %v", got, err)
	}
	if _, err := s.SessionByID(ctx, "ses_nope"); code(err) != pw.ENOTFOUND {
		t.Fatalf("unknown session by ID: %v", err)
	}
	if err := s.RevokeSession(ctx, a.ID, sb.ID, auth.EndedByUser, t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("revoking another user's session: %v, want not_found", err)
	}
	must(t, s.RevokeSession(ctx, a.ID, s1.ID, auth.EndedByLogout, t0))
	if err := s.RevokeSession(ctx, a.ID, s1.ID, auth.EndedByUser, t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("revoking twice: %v", err)
	}
	if got, _ := s.SessionByHash(ctx, "h1"); got.RevokedAt.IsZero() || got.EndedBy != auth.EndedByLogout {
		t.Fatalf("revoked session reads %+v, want revoked by its logout", got)
	}
	// A password change ends the others, and marks the one that logged
	// out as ended by it too, keeping the time it ended.
	t1 := t0.Add(time.Minute)
	must(t, s.RevokeSessions(ctx, a.ID, s2.ID, auth.EndedByPasswordChange, t1))
	if list, _ := s.Sessions(ctx, a.ID, t0, 10); len(list) != 1 || list[0].ID != s2.ID {
		t.Fatalf("after RevokeSessions keeping s2: %v", list)
	}
	if got, _ := s.SessionByID(ctx, s1.ID); got.EndedBy != auth.EndedByPasswordChange || !got.RevokedAt.Equal(t0) {
		t.Fatalf("the logged-out session after a password change: %+v", got)
	}
	if got, _ := s.SessionByID(ctx, s2.ID); !got.RevokedAt.IsZero() || got.EndedBy != "" {
		t.Fatalf("the kept session: %+v", got)
	}
	if list, _ := s.Sessions(ctx, b.ID, t0, 10); len(list) != 1 {
		t.Fatalf("another user's sessions were touched: %v", list)
	}
	// A session ended otherwise keeps its reason at a later change.
	must(t, s.RevokeSession(ctx, b.ID, sb.ID, auth.EndedByUser, t0))
	must(t, s.RevokeSessions(ctx, b.ID, "", auth.EndedByPasswordReset, t1))
	if got, _ := s.SessionByID(ctx, sb.ID); got.EndedBy != auth.EndedByUser || !got.RevokedAt.Equal(t0) {
		t.Fatalf("a session ended by its user, after a reset: %+v", got)
	}
}

// testSessionsOfAReplacedPassword: a session is stored only while its
// user's password version is the one its login read; SetPassword adds one
// to it, and ends the user's sessions but the one kept, in its own
// transaction. A session of the old version is refused with
// ErrPasswordReplaced and stores no row.
func testSessionsOfAReplacedPassword(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u := MustUser(t, s, "v@example.com")
	ses := func(hash string, version int64) *auth.Session {
		return &auth.Session{ID: pw.NewID(pw.PrefixSession, t0), UserID: u.ID, TokenHash: hash, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
			Address: "192.0.2.1", PasswordVersion: version}
	}
	kept, ended := ses("kept", u.PasswordVersion), ses("ended", u.PasswordVersion)
	must(t, s.CreateSession(ctx, kept))
	must(t, s.CreateSession(ctx, ended))
	t1 := t0.Add(time.Minute)
	must(t, s.SetPassword(ctx, u.ID, u.PasswordVersion, "$argon2id$new", kept.ID, auth.EndedByPasswordChange, t1))
	if got, err := s.SessionByID(ctx, ended.ID); err != nil || !got.RevokedAt.Equal(t1) || got.EndedBy != auth.EndedByPasswordChange {
		t.Fatalf("a session at SetPassword: %+v, %v; want ended by it at %v", got, err, t1)
	}
	if got, err := s.SessionByID(ctx, kept.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Fatalf("the session SetPassword keeps: %+v, %v; want live", got, err)
	}
	stale := ses("stale", u.PasswordVersion)
	if err := s.CreateSession(ctx, stale); !errors.Is(err, auth.ErrPasswordReplaced) {
		t.Fatalf("CreateSession of the old password's version = %v, want ErrPasswordReplaced", err)
	}
	if _, err := s.SessionByHash(ctx, "stale"); code(err) != pw.ENOTFOUND {
		t.Fatalf("the refused session reads %v, want not_found (no row)", err)
	}
	if list, _ := s.Sessions(ctx, u.ID, t0, 10); len(list) != 1 || list[0].ID != kept.ID {
		t.Fatalf("sessions after a refused one: %v, want only the kept one", list)
	}
	now, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if now.PasswordVersion != u.PasswordVersion+1 {
		t.Fatalf("password version after SetPassword = %d, want %d", now.PasswordVersion, u.PasswordVersion+1)
	}
	must(t, s.CreateSession(ctx, ses("fresh", now.PasswordVersion)))
}

// testAChangeOfAReplacedPassword: SetPassword with the version a change
// read sets the hash only while the user's version is still that one.
// Of a stale version (a reset set a new password since) it returns
// ErrPasswordReplaced and writes nothing: the hash and version stand,
// no session is ended, no reset token is deleted.
func testAChangeOfAReplacedPassword(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u := MustUser(t, s, "c@example.com")
	read := u.PasswordVersion // what a change checking the old password read
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	must(t, s.SetPassword(ctx, u.ID, auth.AnyPasswordVersion, "$argon2id$reset", "", auth.EndedByPasswordReset, t1))
	after, err := s.UserByID(ctx, u.ID)
	must(t, err)
	ses := &auth.Session{ID: pw.NewID(pw.PrefixSession, t1), UserID: u.ID, TokenHash: "owner", CreatedAt: t1, ExpiresAt: t1.Add(time.Hour),
		Address: "192.0.2.1", PasswordVersion: after.PasswordVersion}
	must(t, s.CreateSession(ctx, ses))
	must(t, s.CreateResetToken(ctx, "owner-token", u.ID, t1.Add(time.Minute)))

	if err := s.SetPassword(ctx, u.ID, read, "$argon2id$stale", "", auth.EndedByPasswordChange, t2); !errors.Is(err, auth.ErrPasswordReplaced) {
		t.Fatalf("SetPassword of a replaced password's version = %v, want ErrPasswordReplaced", err)
	}
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.PasswordHash != "$argon2id$reset" || got.PasswordVersion != after.PasswordVersion {
		t.Fatalf("after a stale SetPassword: hash %q version %d; want the reset's %q, %d", got.PasswordHash, got.PasswordVersion, "$argon2id$reset", after.PasswordVersion)
	}
	if got, err := s.SessionByID(ctx, ses.ID); err != nil || !got.RevokedAt.IsZero() || got.EndedBy != "" {
		t.Fatalf("a session after a stale SetPassword: %+v, %v; want live", got, err)
	}
	if id, err := s.UseResetToken(ctx, "owner-token", t1); err != nil || id != u.ID {
		t.Fatalf("a reset token after a stale SetPassword: %q, %v; want it unused, for %s", id, err, u.ID)
	}
	// The version that is the user's sets it, and ends the rest.
	must(t, s.SetPassword(ctx, u.ID, after.PasswordVersion, "$argon2id$changed", "", auth.EndedByPasswordChange, t2))
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "$argon2id$changed" || got.PasswordVersion != after.PasswordVersion+1 {
		t.Fatalf("SetPassword of the current version: hash %q version %d", got.PasswordHash, got.PasswordVersion)
	}
	if got, err := s.SessionByID(ctx, ses.ID); err != nil || !got.RevokedAt.Equal(t2) {
		t.Fatalf("a session after SetPassword of the current version: %+v, %v; want ended at %v", got, err, t2)
	}
}

// testAResetOfAMissingUser: SetPassword for a user ID that is no user's
// answers not_found, as UserByID does, and writes nothing: no user comes
// of it, and no other user's sessions or reset tokens are touched. A
// reset (AnyPasswordVersion) has no version to miss, so without this
// check it succeeded silently, having set no password at all.
func testAResetOfAMissingUser(t *testing.T, s auth.Store) {
	ctx := context.Background()
	other := MustUser(t, s, "o@example.com")
	ses := &auth.Session{ID: pw.NewID(pw.PrefixSession, t0), UserID: other.ID, TokenHash: "other", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		Address: "192.0.2.1", PasswordVersion: other.PasswordVersion}
	must(t, s.CreateSession(ctx, ses))
	must(t, s.CreateResetToken(ctx, "other-token", other.ID, t0.Add(time.Minute)))

	const missing = "usr_missing"
	if err := s.SetPassword(ctx, missing, auth.AnyPasswordVersion, "$argon2id$reset", "", auth.EndedByPasswordReset, t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("SetPassword (a reset) of a missing user = %v, want not_found", err)
	}
	if _, err := s.UserByID(ctx, missing); code(err) != pw.ENOTFOUND {
		t.Fatalf("the missing user after SetPassword: %v, want not_found", err)
	}
	if got, err := s.UserByID(ctx, other.ID); err != nil || got.PasswordHash != other.PasswordHash || got.PasswordVersion != other.PasswordVersion {
		t.Fatalf("another user after SetPassword of a missing one: %+v, %v; want unchanged", got, err)
	}
	if got, err := s.SessionByID(ctx, ses.ID); err != nil || !got.RevokedAt.IsZero() || got.EndedBy != "" {
		t.Fatalf("another user's session after SetPassword of a missing one: %+v, %v; want live", got, err)
	}
	if id, err := s.UseResetToken(ctx, "other-token", t0); err != nil || id != other.ID {
		t.Fatalf("another user's reset token after SetPassword of a missing one: %q, %v; want it unused, for %s", id, err, other.ID)
	}
}

func testMFA(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u := MustUser(t, s, "m@example.com")
	if _, err := s.MFA(ctx, u.ID); code(err) != pw.ENOTFOUND {
		t.Fatalf("no enrolment: %v", err)
	}
	for _, secret := range []string{"AAAA", "BBBB"} {
		if stored, err := s.SetMFA(ctx, &auth.MFA{UserID: u.ID, Secret: secret}); err != nil || !stored {
			t.Fatalf("SetMFA(%s) of an unconfirmed enrolment = %v, %v; want stored", secret, stored, err)
		}
	}
	// The enrolment whose code was checked was replaced: not confirmed.
	if ok, err := s.ConfirmMFA(ctx, u.ID, "AAAA", t0, []string{"x1"}); err != nil || ok {
		t.Fatalf("ConfirmMFA of a replaced enrolment = %v, %v; want false", ok, err)
	}
	if m, err := s.MFA(ctx, u.ID); err != nil || m.Confirmed() {
		t.Fatalf("after a refused ConfirmMFA: %+v, %v; want unconfirmed", m, err)
	}
	if ok, err := s.ConfirmMFA(ctx, u.ID, "BBBB", t0, []string{"r1", "r2"}); err != nil || !ok {
		t.Fatalf("ConfirmMFA = %v, %v; want confirmed", ok, err)
	}
	if ok, err := s.ConfirmMFA(ctx, u.ID, "BBBB", t0, []string{"r3"}); err != nil || ok {
		t.Fatalf("ConfirmMFA of a confirmed enrolment = %v, %v; want false (its recovery codes kept)", ok, err)
	}
	if stored, err := s.SetMFA(ctx, &auth.MFA{UserID: u.ID, Secret: "CCCC"}); err != nil || stored {
		t.Fatalf("SetMFA over a confirmed enrolment = %v, %v; want not stored", stored, err)
	}
	m, err := s.MFA(ctx, u.ID)
	if err != nil || m.Secret != "BBBB" || !m.Confirmed() {
		t.Fatalf("MFA = %+v, %v; a confirmed secret is never replaced", m, err)
	}
	for _, c := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		ok, err := s.UseTOTPStep(ctx, u.ID, c.step)
		if err != nil || ok != c.ok {
			t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.ok)
		}
	}
	for _, c := range []struct {
		hash string
		ok   bool
	}{{"r1", true}, {"r1", false}, {"nope", false}, {"r2", true}} {
		ok, err := s.UseRecoveryCode(ctx, u.ID, c.hash, t0)
		if err != nil || ok != c.ok {
			t.Fatalf("UseRecoveryCode(%s) = %v, %v; want %v", c.hash, ok, err, c.ok)
		}
	}
}

func testOTP(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u := MustUser(t, s, "o@example.com")
	mk := func(hash string, ttl time.Duration) {
		must(t, s.CreateOTP(ctx, &auth.OTP{ID: pw.NewID("otp", t0), UserID: u.ID, Purpose: auth.PurposeStepUp, CodeHash: hash, CreatedAt: t0, ExpiresAt: t0.Add(ttl)}))
	}
	mk("c1", time.Minute)
	if ok, _ := s.UseOTP(ctx, u.ID, auth.PurposeLogin, "c1", t0); ok {
		t.Fatal("a step-up code worked for login")
	}
	if ok, err := s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "c1", t0); !ok || err != nil {
		t.Fatalf("right code: %v, %v", ok, err)
	}
	if ok, _ := s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "c1", t0); ok {
		t.Fatal("a code worked twice")
	}
	mk("c2", time.Minute)
	for i := 0; i < auth.OTPAttemptsMax; i++ {
		if ok, _ := s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "wrong", t0); ok {
			t.Fatal("wrong code accepted")
		}
	}
	if ok, _ := s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "c2", t0); ok {
		t.Fatalf("code accepted after %d wrong attempts", auth.OTPAttemptsMax)
	}
	mk("c3", time.Minute)
	if ok, _ := s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "c3", t0.Add(time.Minute)); ok {
		t.Fatal("expired code accepted")
	}
}

func testKeys(t *testing.T, s auth.Store) {
	ctx := context.Background()
	m := &auth.Merchant{ID: pw.NewID(pw.PrefixMerchant, t0), Name: "Shop", CreatedAt: t0}
	must(t, s.CreateMerchant(ctx, m))
	if got, err := s.Merchant(ctx, m.ID); err != nil || got.Name != "Shop" {
		t.Fatalf("Merchant = %+v, %v", got, err)
	}
	k := &auth.APIKey{ID: pw.NewID(pw.PrefixKey, t0), MerchantID: m.ID, Prefix: "pk_live_abcd", Hash: "kh", Scope: auth.ScopeRead, CreatedAt: t0}
	must(t, s.CreateAPIKey(ctx, k))
	if got, err := s.APIKeyByHash(ctx, "kh"); err != nil || got.ID != k.ID || got.Scope != auth.ScopeRead || !got.RevokedAt.IsZero() {
		t.Fatalf("APIKeyByHash = %+v, %v", got, err)
	}
	if got, err := s.APIKeyByID(ctx, k.ID); err != nil || got.Hash != "kh" || got.MerchantID != m.ID || !got.RevokedAt.IsZero() {
		t.Fatalf("APIKeyByID = %+v, %v", got, err)
	}
	if _, err := s.APIKeyByID(ctx, "key_nope"); code(err) != pw.ENOTFOUND {
		t.Fatalf("unknown key by ID: %v", err)
	}
	if err := s.RevokeAPIKey(ctx, "mer_other", k.ID, t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("revoking through another merchant: %v", err)
	}
	must(t, s.RevokeAPIKey(ctx, m.ID, k.ID, t0))
	if got, _ := s.APIKeyByHash(ctx, "kh"); got.RevokedAt.IsZero() {
		t.Fatal("revoked key reads as live")
	}
	if got, _ := s.APIKeyByID(ctx, k.ID); !got.RevokedAt.Equal(t0) {
		t.Fatalf("revoked key by ID reads %+v", got)
	}
	o := &auth.Operator{ID: pw.NewID(pw.PrefixOperator, t0), Name: "Sam", Role: pw.RoleSupport, KeyHash: "oh", CreatedAt: t0}
	must(t, s.CreateOperator(ctx, o))
	if got, err := s.OperatorByHash(ctx, "oh"); err != nil || got.Role != pw.RoleSupport {
		t.Fatalf("OperatorByHash = %+v, %v", got, err)
	}
	if _, err := s.OperatorByHash(ctx, "nope"); code(err) != pw.ENOTFOUND {
		t.Fatalf("unknown operator: %v", err)
	}
	if got, err := s.OperatorByID(ctx, o.ID); err != nil || got.KeyHash != "oh" || got.Role != pw.RoleSupport || !got.RevokedAt.IsZero() {
		t.Fatalf("OperatorByID = %+v, %v", got, err)
	}
	if _, err := s.OperatorByID(ctx, "op_nope"); code(err) != pw.ENOTFOUND {
		t.Fatalf("unknown operator by ID: %v", err)
	}
	must(t, s.RevokeOperator(ctx, o.ID, t0))
	if got, _ := s.OperatorByHash(ctx, "oh"); got.RevokedAt.IsZero() {
		t.Fatal("revoked operator reads as live")
	}
	if got, _ := s.OperatorByID(ctx, o.ID); !got.RevokedAt.Equal(t0) {
		t.Fatalf("revoked operator by ID reads %+v", got)
	}
	if err := s.RevokeOperator(ctx, o.ID, t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("revoking twice: %v", err)
	}
}

// testAudit appends concurrently, through two services (as two server
// processes would, each group-committing its own records): the chain must
// come out gap-free and verifiable, every record with its own predecessor.
func testAudit(t *testing.T, s auth.Store) {
	ctx := context.Background()
	opts := auth.Options{Now: func() time.Time { return t0 }, Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}}
	svcs := []*auth.Service{auth.New(s, nil, opts), auth.New(s, nil, opts)}
	if head, err := s.AuditHead(ctx); err != nil || head != nil {
		t.Fatalf("AuditHead of an empty log = %+v, %v; want nil", head, err)
	}
	const n = 48
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- svcs[i%2].Audit(ctx, "test.event", fmt.Sprint(i), map[string]string{"i": fmt.Sprint(i)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	r, err := auth.VerifyAudit(ctx, s)
	if err != nil || !r.OK() || r.Records != n {
		t.Fatalf("VerifyAudit = %+v, %v", r, err)
	}
	page, err := s.Audit(ctx, n-4, 10)
	if err != nil || len(page) != 4 || page[0].Seq != n-3 || page[0].Detail["i"] == "" || !page[0].At.Equal(t0) {
		t.Fatalf("Audit page = %+v, %v", page, err)
	}
	if head, err := s.AuditHead(ctx); err != nil || head == nil || head.Seq != n || head.Hash != r.Head || head.Hash != page[3].Hash {
		t.Fatalf("AuditHead = %+v, %v; want record %d, hash %s", head, err, n, r.Head)
	}
}

func testOutbox(t *testing.T, s auth.Store) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		must(t, s.Enqueue(ctx, &auth.Message{ID: pw.NewID("msg", t0), To: "x@example.com", Subject: "s", Body: fmt.Sprint("code ", i), CreatedAt: t0}))
	}
	list, err := s.Pending(ctx, 10)
	if err != nil || len(list) != 3 || list[0].Body != "code 0" {
		t.Fatalf("Pending = %v, %v", list, err)
	}
	must(t, s.MarkSent(ctx, list[0].ID, t0))
	if list, _ := s.Pending(ctx, 10); len(list) != 2 {
		t.Fatalf("after MarkSent: %d pending", len(list))
	}
}

func testResetTokens(t *testing.T, s auth.Store) {
	ctx := context.Background()
	u := MustUser(t, s, "r@example.com")
	must(t, s.CreateResetToken(ctx, "t1", u.ID, t0.Add(time.Minute)))
	if id, err := s.UseResetToken(ctx, "t1", t0); err != nil || id != u.ID {
		t.Fatalf("UseResetToken = %q, %v", id, err)
	}
	if _, err := s.UseResetToken(ctx, "t1", t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("second use: %v", err)
	}
	must(t, s.CreateResetToken(ctx, "t2", u.ID, t0.Add(time.Minute)))
	if _, err := s.UseResetToken(ctx, "t2", t0.Add(time.Minute)); code(err) != pw.ENOTFOUND {
		t.Fatalf("expired use: %v", err)
	}
	// Only the newest token works: a new one ends the unused ones.
	must(t, s.CreateResetToken(ctx, "t5", u.ID, t0.Add(time.Minute)))
	must(t, s.CreateResetToken(ctx, "t6", u.ID, t0.Add(time.Minute)))
	if _, err := s.UseResetToken(ctx, "t5", t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("a token older than the newest: %v", err)
	}
	if id, err := s.UseResetToken(ctx, "t6", t0); err != nil || id != u.ID {
		t.Fatalf("the newest token: %q, %v", id, err)
	}
	// A new password ends the user's unused tokens, and only theirs.
	other := MustUser(t, s, "r2@example.com")
	must(t, s.CreateResetToken(ctx, "t3", u.ID, t0.Add(time.Minute)))
	must(t, s.CreateResetToken(ctx, "t4", other.ID, t0.Add(time.Minute)))
	must(t, s.SetPassword(ctx, u.ID, auth.AnyPasswordVersion, "$argon2id$z", "", auth.EndedByPasswordReset, t0))
	if _, err := s.UseResetToken(ctx, "t3", t0); code(err) != pw.ENOTFOUND {
		t.Fatalf("a token from before the new password: %v", err)
	}
	if id, err := s.UseResetToken(ctx, "t4", t0); err != nil || id != other.ID {
		t.Fatalf("another user's token: %q, %v", id, err)
	}
}

// ledgerOn returns a ledger over s, which must also be a peakwallet.Store
// (wallets are ledger accounts), closed when t ends.
func ledgerOn(t *testing.T, s auth.Store) *ledger.Ledger {
	t.Helper()
	ps, ok := s.(pw.Store)
	if !ok {
		t.Fatalf("%T is not a peakwallet.Store", s)
	}
	l := ledger.New(ps, ledger.Options{})
	t.Cleanup(func() { l.Close() })
	return l
}

func testUserAccounts(t *testing.T, s auth.Store) {
	ctx := context.Background()
	l := ledgerOn(t, s)
	for _, r := range []pw.AccountCreate{
		{Kind: pw.AccountUser, Currency: "EUR", OwnerID: "usr_a"},
		{Kind: pw.AccountUser, Currency: "USD", OwnerID: "usr_a"},
		{Kind: pw.AccountMerchant, Currency: "EUR", OwnerID: "usr_a"},
		{Kind: pw.AccountUser, Currency: "EUR", OwnerID: "usr_b"},
	} {
		if _, err := l.CreateAccount(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.UserAccounts(ctx, "usr_a", pw.AccountUser, 10)
	if err != nil || len(list) != 2 || list[0].OwnerID != "usr_a" || list[0].Kind != pw.AccountUser {
		t.Fatalf("UserAccounts = %v, %v", list, err)
	}
}

// testMoneyAudit: an operator's money action is recorded in the ledger
// transaction that commits it, on both stores. Every payment that reached
// the ledger has exactly one record, a payment the ledger's rules refuse
// included; one that never reached it has none and moved nothing; users'
// payments are not audited; concurrent payments and the service's own
// appends interleave into one verifiable chain.
func testMoneyAudit(t *testing.T, s auth.Store) {
	ctx := context.Background()
	l := ledgerOn(t, s)
	svc := auth.New(s, l, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	g := svc.Guard()
	op := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalOperator, ID: "opr_audit", Role: pw.RoleAdmin})
	open := func(r pw.AccountCreate) *pw.Account {
		a, err := g.CreateAccount(op, r)
		must(t, err)
		return a
	}
	u := MustUser(t, s, "payer")
	bank := open(pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	payer := open(pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR", OwnerID: u.ID})
	payee := open(pw.AccountCreate{Kind: pw.AccountMerchant, Currency: "EUR", OwnerID: "mer_payee"})
	pay := func(ctx context.Context, from, to *pw.Account, amount int64) error {
		_, err := g.CreateTransfer(ctx, pw.TransferCreate{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: "EUR"})
		return err
	}
	must(t, pay(op, bank, payer, 10_000))
	if err := pay(op, payer, payee, 50_000); code(err) != pw.EINSUFFICIENT {
		t.Fatalf("overdrawing payment: %v", err)
	}
	// A caller that has already given up usually never reaches the ledger
	// (busy, nothing moved, nothing recorded), but its command may win the
	// race into a batch and commit, record and all: either way, together.
	gone, cancel := context.WithCancel(op)
	cancel()
	goneErr := pay(gone, payer, payee, 100)
	if goneErr != nil && code(goneErr) != pw.EBUSY && code(goneErr) != pw.EUNAVAILABLE {
		t.Fatalf("payment after its caller gave up: %v", goneErr)
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- pay(op, payer, payee, int64(i+1)) }()
		go func() { defer wg.Done(); errs <- svc.Audit(op, "test.event", fmt.Sprint(i), nil) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	user := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalUser, ID: u.ID})
	must(t, pay(user, payer, payee, 1))

	r, err := auth.VerifyAudit(ctx, s)
	if err != nil || !r.OK() {
		t.Fatalf("VerifyAudit = %+v, %v", r, err)
	}
	recs, err := s.Audit(ctx, 0, auth.AuditPageMax)
	must(t, err)
	moves := map[string]int{}
	for _, rec := range recs {
		if rec.Action == "money.move" {
			if rec.Actor == "" || rec.Detail["currency"] != "EUR" || rec.Detail["to"] == "" {
				t.Errorf("record %+v", rec)
			}
			moves[rec.Target+" "+rec.Detail["amount"]]++
		}
	}
	want := map[string]int{bank.ID + " 10000": 1, payer.ID + " 50000": 1}
	if goneErr == nil {
		want[payer.ID+" 100"] = 1
	}
	for i := range n {
		want[payer.ID+" "+fmt.Sprint(i+1)] = 1
	}
	if len(moves) != len(want) {
		t.Errorf("%d payments recorded, want %d (the ended and the user's ones not): %v", len(moves), len(want), moves)
	}
	for k, c := range want {
		if moves[k] != c {
			t.Errorf("payment %s recorded %d times, want %d", k, moves[k], c)
		}
	}
	a, err := l.Account(ctx, payee.ID)
	must(t, err)
	wantPosted := int64(n*(n+1)/2 + 1)
	if goneErr == nil {
		wantPosted += 100
	}
	if a.Balance.Posted != wantPosted {
		t.Fatalf("payee holds %d, want %d", a.Balance.Posted, wantPosted)
	}
}

// testAccountHolders: one read gives each account's kind and owner, with
// the owning user's handle or merchant's name; an owner of the other kind
// (a user's ID on a merchant account), an unknown owner and a system
// account have neither, and an unknown account is left out.
func testAccountHolders(t *testing.T, s auth.Store) {
	ctx := context.Background()
	l := ledgerOn(t, s)
	ann := MustUser(t, s, "ann@example.com")
	shop := &auth.Merchant{ID: pw.NewID(pw.PrefixMerchant, t0), Name: "Coffee Corner", CreatedAt: t0}
	must(t, s.CreateMerchant(ctx, shop))
	open := func(kind pw.AccountKind, owner string) string {
		t.Helper()
		a, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: kind, Currency: "EUR", OwnerID: owner})
		must(t, err)
		return a.ID
	}
	wallet, till, system := open(pw.AccountUser, ann.ID), open(pw.AccountMerchant, shop.ID), open(pw.AccountSystem, "")
	mixed, orphan := open(pw.AccountMerchant, ann.ID), open(pw.AccountUser, "usr_gone")
	got, err := s.AccountHolders(ctx, []string{wallet, till, system, mixed, orphan, "acc_missing"})
	must(t, err)
	want := map[string]auth.AccountHolder{
		wallet: {Kind: pw.AccountUser, OwnerID: ann.ID, Handle: "ann@example.com"},
		till:   {Kind: pw.AccountMerchant, OwnerID: shop.ID, Name: "Coffee Corner"},
		system: {Kind: pw.AccountSystem},
		mixed:  {Kind: pw.AccountMerchant, OwnerID: ann.ID},
		orphan: {Kind: pw.AccountUser, OwnerID: "usr_gone"},
	}
	if len(got) != len(want) {
		t.Fatalf("AccountHolders = %+v, want %+v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("AccountHolders[%s] = %+v, want %+v", id, got[id], w)
		}
	}
	if none, err := s.AccountHolders(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("AccountHolders(nil) = %v, %v", none, err)
	}
}
