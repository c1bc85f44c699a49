package web_test

import (
	"net/http/httptest"
	"testing"

	"github.com/peakwallet/peakwallet/web"
)

// languageCases are Accept-Language headers and the language chosen for
// each, by the web app (without its cookie) and the status page (without
// its ?lang=) alike.
var languageCases = []struct{ header, want string }{
	{"", "en"},
	{"en-GB", "en"},
	{"zh-CN,zh;q=0.9", "zh-CN"},
	{"de-DE, en;q=0.5", "en"},
	{"fr-FR, de", "en"}, // none spoken: the default
	{"garbage;;;,", "en"},
	// Simplified Chinese, by any of its names.
	{"zh", "zh-CN"},
	{"zh-Hans", "zh-CN"},
	{"zh-Hans-CN", "zh-CN"},
	{"zh-SG", "zh-CN"},
	{"ZH_cn", "zh-CN"},
	// Traditional Chinese gets 简体中文, not English (ADR 0040)...
	{"zh-TW", "zh-CN"},
	{"zh-HK", "zh-CN"},
	{"zh-MO", "zh-CN"},
	{"zh-Hant", "zh-CN"},
	{"zh-Hant-TW", "zh-CN"},
	{"zh-TW, en;q=0.9", "zh-CN"},
	// ...unless English is preferred.
	{"zh-TW;q=0.5, en", "en"},
	{"zh-HK, en-HK", "zh-CN"},
	{"en-HK, zh-HK", "en"},
	// The q-values decide, not the order.
	{"en;q=0.4, zh-CN;q=0.8", "zh-CN"},
	{"zh-CN;q=0.3, en-US;q=0.9", "en"},
	{"de-DE, zh-sg;q=0.7, en;q=0.5", "zh-CN"},
	{"en;q=0.2, en-US;q=0.9, zh;q=0.5", "en"}, // a language's best range speaks for it
	{"en-US,en;q=0.9,zh-CN;q=0.8,zh;q=0.7", "en"},
	{"zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", "zh-CN"},
	{"Q-bad, zh;Q=0.7, en;q=0.6", "zh-CN"}, // Q is q
	// Of equal q-values, the first.
	{"en, zh", "en"},
	{"zh, en", "zh-CN"},
	{"zh;q=0.5, en;q=0.5", "zh-CN"},
	// q=0 is "not acceptable".
	{"zh-CN;q=0, en;q=0.1", "en"},
	{"zh;q=0, en", "en"},
	{"zh;q=0", "en"},
	{"en;q=0, zh;q=0.1", "zh-CN"},
	{"zh-CN;q=0, zh", "en"},          // its own code refused
	{"zh, zh-CN;q=0", "en"},          // whatever the order
	{"zh-TW;q=0, zh;q=0.5", "zh-CN"}, // another Chinese refused, not this one
	{"en;q=0.000, zh-TW;q=0.001", "zh-CN"},
	// A q that is not a number from 0 to 1: the range is not understood.
	{"zh;q=2, en;q=0.5", "en"},
	{"zh;q=-1, en;q=0.5", "en"},
	{"zh;q=abc", "en"},
	{"zh;q=NaN, en;q=0.1", "en"},
	// * is every language not named.
	{"*", "en"},
	{"en;q=0, *", "zh-CN"},
	{"zh;q=0, *", "en"},
	{"*;q=0.5, zh;q=0.4", "en"},
	{"zh;q=0.4, *;q=0.5", "en"},
	{"*;q=0.5, en;q=0.4", "zh-CN"},
}

func TestNegotiateLanguage(t *testing.T) {
	for _, c := range languageCases {
		if got := web.NegotiateLanguage(c.header); got != c.want {
			t.Errorf("NegotiateLanguage(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

// TestNegotiateLanguageLooksAtBoundedRanges: only the first
// AcceptLanguageRangesMax ranges are looked at.
func TestNegotiateLanguageLooksAtBoundedRanges(t *testing.T) {
	header := ""
	for range web.AcceptLanguageRangesMax {
		header += "de;q=0.9, "
	}
	if got := web.NegotiateLanguage(header + "zh"); got != "en" {
		t.Errorf("a range past the %d looked at chose %q", web.AcceptLanguageRangesMax, got)
	}
	if got := web.NegotiateLanguage(header[:len(header)-len("de;q=0.9, ")] + "zh"); got != "zh-CN" {
		t.Errorf("the %dth range was not looked at (%q)", web.AcceptLanguageRangesMax, got)
	}
}

// TestTheAppsLanguage: the app takes its cookie (pw_lang) first, when it
// names one of its languages, then the browser's Accept-Language as
// NegotiateLanguage reads it. Until 2026-11-29 the app took the first
// range it spoke, whatever its q-value (q=0 included), while the status
// page honoured them.
func TestTheAppsLanguage(t *testing.T) {
	for _, c := range languageCases {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", c.header)
		if got := web.Language(r); got != c.want {
			t.Errorf("Language with Accept-Language %q = %q, want %q", c.header, got, c.want)
		}
	}
	for _, c := range []struct{ cookie, header, want string }{
		{"zh-CN", "en", "zh-CN"},
		{"en", "zh-CN", "en"},
		{"xx", "zh-CN;q=0.5, en;q=0.9", "en"}, // not a language: the header decides
		{"", "zh", "zh-CN"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", c.header)
		r.Header.Set("Cookie", web.LangCookie+"="+c.cookie)
		if got := web.Language(r); got != c.want {
			t.Errorf("Language with the cookie %q and Accept-Language %q = %q, want %q", c.cookie, c.header, got, c.want)
		}
	}
}
