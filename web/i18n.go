package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Languages the app speaks, the first being the default. Each has one file
// of strings, assets/i18n/<code>.json: the server renders pages with it and
// the scripts read the same map, so every string is in one place.
var Languages = []string{"en", "zh-CN"}

// LangCookie persists the reader's choice of language. It is not a secret
// and scripts set it, so it is not HttpOnly.
const LangCookie = "pw_lang"

// Strings maps a string's key to its text in one language.
type Strings map[string]string

// T returns the text of key, or the key itself so that a missing string is
// visible rather than blank.
func (s Strings) T(key string) string {
	if v, ok := s[key]; ok {
		return v
	}
	return key
}

var strings_ = loadStrings()

func loadStrings() map[string]Strings {
	out := map[string]Strings{}
	for _, lang := range Languages {
		b, err := files.ReadFile("assets/i18n/" + lang + ".json")
		if err != nil {
			panic(err)
		}
		var s Strings
		if err := json.Unmarshal(b, &s); err != nil {
			panic(fmt.Sprintf("web: assets/i18n/%s.json: %v", lang, err))
		}
		out[lang] = s
	}
	return out
}

// StringsOf returns the strings of lang (the default language's when lang
// is unknown).
func StringsOf(lang string) Strings {
	if s, ok := strings_[lang]; ok {
		return s
	}
	return strings_[Languages[0]]
}

// Language picks the app's language: the saved choice (the cookie
// LangCookie) when it names one of Languages, else NegotiateLanguage of
// the browser's Accept-Language.
func Language(r *http.Request) string {
	if c, err := r.Cookie(LangCookie); err == nil {
		for _, l := range Languages {
			if c.Value == l {
				return l
			}
		}
	}
	return NegotiateLanguage(r.Header.Get("Accept-Language"))
}

// AcceptLanguageRangesMax bounds the language ranges of an Accept-Language
// header that are looked at; browsers send a handful.
const AcceptLanguageRangesMax = 32

// NegotiateLanguage is the one of Languages that an Accept-Language header
// prefers most, and Languages[0] when it accepts none; the web app (after
// its cookie) and the status page (after its ?lang=) both choose with it
// (docs/decisions/0040-status-page-languages.md).
//
// A language's q-value is the highest of the ranges of that language
// (en, en-GB; zh, zh-CN, zh-Hans, zh-TW: see languageOf), else that of *,
// which stands for every language the header does not name. q=0 is "not
// acceptable": a language whose own code (en, zh-CN) has q=0 is not
// chosen, whatever its other ranges say. A range whose q is not a number
// from 0 to 1 is not understood, and skipped. Of languages with equal q,
// the one whose range comes first wins.
func NegotiateLanguage(header string) string {
	type pick struct {
		q  float64
		at int // the position of the range that gave q
	}
	picks, refused := map[string]pick{}, map[string]bool{}
	star := pick{q: -1}
	for i, part := range strings.Split(header, ",") {
		if i == AcceptLanguageRangesMax {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(tag)), "_", "-")
		q, ok := qValue(params)
		if !ok || tag == "" {
			continue
		}
		if tag == "*" {
			if star.q < 0 {
				star = pick{q: q, at: i}
			}
			continue
		}
		lang := languageOf(tag)
		if lang == "" {
			continue
		}
		if q == 0 && tag == strings.ToLower(lang) {
			refused[lang] = true
		}
		if p, seen := picks[lang]; !seen || q > p.q {
			picks[lang] = pick{q: q, at: i}
		}
	}
	best, bestQ, bestAt := Languages[0], 0.0, 0
	for _, l := range Languages {
		p, named := picks[l]
		if !named {
			p = star
		}
		if refused[l] || p.q <= 0 {
			continue
		}
		if p.q > bestQ || p.q == bestQ && p.at < bestAt {
			best, bestQ, bestAt = l, p.q, p.at
		}
	}
	return best
}

// qValue reads a range's parameters (";q=0.8"): its q-value, 1 without
// one, and false when q is not a number from 0 to 1.
func qValue(params string) (float64, bool) {
	for _, param := range strings.Split(params, ";") {
		name, v, _ := strings.Cut(strings.TrimSpace(param), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(q >= 0 && q <= 1) {
			return 0, false
		}
		return q, true
	}
	return 1, true
}

// languageOf is the one of Languages that speaks for a language range
// (lower case), or "" when none does. Any English is en. Any Chinese is
// zh-CN, 简体中文: zh, zh-CN, zh-SG and zh-Hans, and also zh-TW, zh-HK,
// zh-MO and zh-Hant, whose readers read the simplified script far more
// often than they read English; a reader who prefers English says so with
// a higher q, or with the language switch (ADR 0040). A Traditional
// Chinese catalogue, when there is one, takes those ranges here.
func languageOf(tag string) string {
	primary, _, _ := strings.Cut(tag, "-")
	switch primary {
	case "en":
		return "en"
	case "zh":
		return "zh-CN"
	}
	return ""
}

// LangOption is one choice of the language switch.
type LangOption struct {
	Code     string
	Name     string // in its own language
	Selected bool
}

func langOptions(current string) []LangOption {
	out := make([]LangOption, len(Languages))
	for i, l := range Languages {
		out[i] = LangOption{Code: l, Name: StringsOf(l).T("lang.name"), Selected: l == current}
	}
	return out
}
