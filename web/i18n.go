package web

import (
	"encoding/json"
	"fmt"
	"net/http"
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

// Language picks the page's language: the saved choice (cookie), else the
// first supported one the browser asks for, else English.
func Language(r *http.Request) string {
	if c, err := r.Cookie(LangCookie); err == nil {
		for _, l := range Languages {
			if c.Value == l {
				return l
			}
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return "zh-CN"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return Languages[0]
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
