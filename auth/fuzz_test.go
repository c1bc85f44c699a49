package auth_test

import (
	"testing"
	"unicode/utf8"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// Fuzz targets for every parser of untrusted input auth adds. Their seed
// corpora run as ordinary tests in `go test`; `go test -fuzz=FuzzX` explores.

func FuzzParseHandle(f *testing.F) {
	for _, s := range []string{"ann@example.com", "+49 151 2345678", "A@B.C", "@", "+", "a@b..c", "\x00@x.y", "é@example.com", "+٣٤٥٦٧٨٩٠١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := auth.ParseHandle(s)
		if err != nil {
			if pw.ErrorCode(err) != pw.EINVALID {
				t.Fatalf("error code %q", pw.ErrorCode(err))
			}
			return
		}
		if !utf8.ValidString(h) || len(h) > pw.HandleBytesMax {
			t.Fatalf("bad handle %q", h)
		}
		// Normal form is a fixed point: one person, one handle.
		if again, err := auth.ParseHandle(h); err != nil || again != h {
			t.Fatalf("ParseHandle(%q) = %q, %v; not idempotent", h, again, err)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{auth.NewToken(auth.PrefixSessionToken), auth.NewToken(auth.PrefixMerchantKey), "pws_", "pk_live_x", "pwo_" + string(make([]byte, 43))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := auth.ParseToken(s)
		if err != nil {
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("error code %q", pw.ErrorCode(err))
			}
			return
		}
		if len(s) != len(p)+43 {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
	})
}

func FuzzParseMFACode(f *testing.F) {
	for _, s := range []string{"123456", " 12 34 56", "abcd-efgh-2345-6777", "----", "1234567", "ÀBCD-EFGH-2345-6777"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, kind, err := auth.ParseMFACode(s)
		if err != nil {
			return
		}
		if kind != auth.CodeDigits && kind != auth.CodeRecovery || len(c) > 19 {
			t.Fatalf("ParseMFACode(%q) = %q, %q", s, c, kind)
		}
		if c2, k2, err := auth.ParseMFACode(c); err != nil || c2 != c || k2 != kind {
			t.Fatalf("not idempotent on %q", c)
		}
	})
}

func FuzzParsePHC(f *testing.F) {
	h, _ := auth.HashPassword("x", auth.Argon2Params{Memory: 8, Time: 1, Threads: 1})
	for _, s := range []string{h, "$argon2id$v=19$m=8,t=1,p=1$$", "$argon2id$v=19$m=08,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$$$$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := auth.ParsePHC(s)
		if err != nil {
			return
		}
		// Whatever parses is bounded: a hostile row cannot exhaust memory.
		if p.Memory > 1<<20 || p.Time > 16 || len(salt) > 64 || len(key) > 64 {
			t.Fatalf("unbounded parameters accepted: %+v", p)
		}
	})
}
