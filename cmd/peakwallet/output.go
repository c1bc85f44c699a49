package main

import (
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// newJSONEncoder returns an encoder for what a command prints as JSON: a
// name or a reason in it (a merchant's, a promotion's, a maintenance
// window's) is text others chose, and encoding/json writes a bidirectional
// control (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE…)
// as it is, so a terminal showing the output reorders it and shows other
// text than the JSON holds (Trojan Source). The encoder writes every
// character that is not printable (strconv.IsPrint: format characters such
// as those controls and zero-width ones, separators, private use,
// unassigned) as a \u escape instead: the same JSON to a parser, only
// seen as it is.
func newJSONEncoder(w io.Writer) *json.Encoder {
	return json.NewEncoder(&jsonEscaper{w: w})
}

// jsonEscaper escapes the runes of JSON text that a terminal would not
// show as they are. Outside strings JSON text is ASCII, so every such rune
// is in a string, where \uXXXX (a UTF-16 surrogate pair above U+FFFF)
// means the same.
type jsonEscaper struct {
	w   io.Writer
	buf []byte
}

func (e *jsonEscaper) Write(p []byte) (int, error) {
	e.buf = e.buf[:0]
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if r < utf8.RuneSelf || r == utf8.RuneError && n == 1 || strconv.IsPrint(r) {
			e.buf = append(e.buf, p[i:i+n]...) // encoding/json writes valid UTF-8; anything else passes as it came
		} else if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			e.buf = appendU(appendU(e.buf, r1), r2)
		} else {
			e.buf = appendU(e.buf, r)
		}
		i += n
	}
	if _, err := e.w.Write(e.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func appendU(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

// shownName is a name as a command's text output prints it: as it is when
// every character in it is printable, else quoted in Go's syntax, which
// escapes the rest (a bidirectional control as \u202e), so that a
// terminal neither reorders nor hides what follows it.
func shownName(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
