package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	pw "github.com/peakwallet/peakwallet"
)

// Request body limits. A batch of BatchTransfersMax (8190) transfers at
// about 1 KiB each (two IDs, amount, currency, a description and some
// metadata) fits in BatchBodyBytesMax; everything else is small.
const (
	RequestBodyBytesMax = 1 << 20 // 1 MiB
	BatchBodyBytesMax   = 8 << 20 // 8 MiB, POST /v1/transfers/batch only
	// AuthBodyBytesMax bounds the small bodies of the security routes.
	AuthBodyBytesMax = 16 << 10
)

const (
	contentTypeJSON    = "application/json"
	contentTypeProblem = "application/problem+json"
)

func invalidField(field, format string, args ...any) error {
	return pw.FieldErrorf(field, pw.EINVALID, format, args...)
}

// ReadBody reads r's body, at most limit bytes. A longer body is
// request_too_large (413). A non-empty body must be application/json:
// anything else is invalid_request (400, not 415, so that each code has
// exactly one status and clients need no special case).
//
// A body the admission middleware has already read (readBodyWithin) is
// taken as it was read, with the error its read ended with.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var body []byte
	var err error
	if rb, ok := r.Body.(*readBody); ok && rb.off == 0 && int64(len(rb.data)) <= limit {
		body, err = rb.data, rb.err
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		return nil, bodyError(err, limit)
	}
	if len(body) > 0 {
		mt, _, perr := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if perr != nil || mt != contentTypeJSON {
			return nil, pw.Errorf(pw.EINVALID, "Content-Type must be application/json")
		}
	}
	return body, nil
}

// bodyError is the problem a read of a request body (at most limit
// bytes) that failed with err answers.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return pw.Errorf(pw.ETOOLARGE, "the request body is larger than %d bytes", limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The admission middleware makes the body due by the request's
		// deadline (bodyDueBy).
		return pw.Errorf(pw.EINVALID, "the request body did not arrive before the request's deadline")
	}
	return pw.Errorf(pw.EINVALID, "cannot read the request body")
}

// DecodeJSON strictly decodes data, which must hold exactly one JSON
// object, into v (a pointer to a struct). Unknown members (names are
// case-sensitive), members named twice, trailing data, numbers that are
// not int64 where an integer is expected (1.5, 1e3, "100",
// 9223372036854775808), null for a number, and strings that are not UTF-8
// text are invalid_request naming the member.
func DecodeJSON(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return pw.Errorf(pw.EINVALID, "a JSON request body is required")
	}
	if trimmed[0] != '{' {
		return pw.Errorf(pw.EINVALID, "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if rest := bytes.Trim(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return pw.Errorf(pw.EINVALID, "unexpected data after the JSON object")
	}
	// The body decoded, so it is well-formed JSON: its members are read
	// again to refuse what encoding/json lets through.
	m := memberScanner{data: data}
	return m.value(reflect.TypeOf(v), "", nil)
}

// memberScanner reads a body that encoding/json has decoded already, so
// well-formed JSON, and refuses the two ways a body can say two things at
// once, which encoding/json accepts: a member named twice in one object
// (the last wins), and a member whose name differs in case from the
// field's (names are matched case-insensitively). A proxy, a log or a
// signature check that read {"amount":1,"amount":5000}, or
// {"amount":1,"Amount":5000}, saw a payment of 1, and the ledger paid
// 5000 (until 2026-11-29; TestAmbiguousMembersAreRefused). Names are
// exact, as the API documents them; a map's keys are the client's own and
// only repeating one is refused. It scans the bytes: read as
// encoding/json's tokens, the check tripled the cost of decoding a
// payment's body (15–21 µs and 118 allocations against 5–6 µs and 21; an
// 8,190-transfer batch 62–80 ms against 21–26 ms: BenchmarkDecodeJSON on a
// busy 2-core machine); scanned, it is 16 % of DecodeJSON's CPU time in
// that benchmark's profile, and one allocation.
//
// Since 2026-11-29 it also refuses what encoding/json silently changes,
// so that what is stored (and was signed, logged, replayed from the
// Idempotency-Key) is what the client sent:
//   - null for a number member: encoding/json leaves the field as it was,
//     0, which on a refund or a capture means "all"
//     (TestANullAmountIsRefusedOnEveryMoneyRoute);
//   - a string that is not UTF-8 text, invalid bytes or a lone surrogate
//     escape (\ud800), which encoding/json turns into U+FFFD
//     (TestInvalidUTF8IsRefusedWhereItIs). Only strings with a byte
//     above 0x7F or an escape are looked at again, so an ASCII payment
//     pays one OR per byte of its strings.
type memberScanner struct {
	data []byte
	i    int
}

func (m *memberScanner) space() {
	for m.i < len(m.data) {
		switch m.data[m.i] {
		case ' ', '\t', '\r', '\n':
			m.i++
		default:
			return
		}
	}
}

// str reads the string at m.i (its opening quote) and returns its bytes
// between the quotes, unescaped when it holds an escape, and, when it is
// not UTF-8 text, the offset in the body where it stops being text (else
// -1).
func (m *memberScanner) str() (b []byte, bad int) {
	start, escaped := m.i+1, false
	var high byte // every byte ORed: 0x80 is set if one is not ASCII
	for m.i++; m.i < len(m.data); m.i++ {
		c := m.data[m.i]
		high |= c
		switch c {
		case '\\':
			escaped = true
			m.i++
		case '"':
			m.i++
			raw := m.data[start : m.i-1]
			bad = -1
			if high >= 0x80 && !utf8.Valid(raw) {
				bad = start + invalidAt(raw)
			}
			if !escaped {
				return raw, bad
			}
			if bad < 0 {
				if at := loneSurrogateAt(raw); at >= 0 {
					bad = start + at
				}
			}
			var s string
			if json.Unmarshal(m.data[start-1:m.i], &s) != nil {
				return raw, bad // cannot be: the body decoded
			}
			return []byte(s), bad
		}
	}
	return m.data[start:], -1
}

// invalidAt is the offset of the first byte of b that is not part of a
// UTF-8 sequence.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// loneSurrogateAt is the offset in raw, a JSON string's escaped bytes, of
// a \u escape of a UTF-16 surrogate that is not half of a pair, which no
// UTF-8 can hold; -1 when there is none.
func loneSurrogateAt(raw []byte) int {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // \", \\, \n...: the escaped byte is not a backslash
			continue
		}
		if i+6 > len(raw) {
			return i // cannot be: the body decoded, so four digits follow
		}
		switch r := hex4(raw[i+2:]); {
		case r < 0xd800 || r > 0xdfff:
		case r < 0xdc00 && lowSurrogate(raw[i+6:]):
			i += 6 // the pair's low half
		default:
			return i
		}
		i += 5
	}
	return -1
}

// lowSurrogate reports whether b begins with a \u escape of the low half
// of a UTF-16 surrogate pair.
func lowSurrogate(b []byte) bool {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return false
	}
	r := hex4(b[2:])
	return 0xdc00 <= r && r <= 0xdfff
}

// hex4 reads the four hexadecimal digits of a \u escape; the body
// decoded, so they are there.
func hex4(b []byte) int {
	if len(b) < 4 {
		return -1
	}
	n := 0
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}

// notText refuses a string of the body that is not UTF-8 text, naming the
// member it is (or is in) and the byte where it stops being text.
func notText(field string, at int) error {
	const why = "JSON strings must be UTF-8 text, and a decoder would store U+FFFD instead of what was sent"
	if field == "" {
		return pw.Errorf(pw.EINVALID, "the body is not valid UTF-8 at byte %d: %s", at, why)
	}
	return invalidField(field, "%s is not valid UTF-8 at byte %d of the body: %s", field, at, why)
}

// value reads the value at m.i, of type t (nil: not known, or one that
// decodes itself), member name of the object or array whose dotted path
// is field (as encoding/json names a member in its errors); name is nil
// for an array's elements and a map's values, which are named by field.
// The path is joined only for an error or a composite value: an object's
// scalar members cost no allocation.
func (m *memberScanner) value(t reflect.Type, field string, name []byte) error {
	m.space()
	if m.i >= len(m.data) {
		return nil
	}
	switch c := m.data[m.i]; c {
	case '"':
		if _, bad := m.str(); bad >= 0 {
			return notText(join(field, name), bad)
		}
	case '[', '{':
		t = composite(t)
		field = join(field, name)
		if c == '{' {
			return m.object(t, field)
		}
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		m.i++
		for {
			m.space()
			if m.i >= len(m.data) || m.data[m.i] == ']' {
				m.i++
				return nil
			}
			if err := m.value(elem, field, nil); err != nil {
				return err
			}
			m.space()
			if m.i < len(m.data) && m.data[m.i] == ',' {
				m.i++
			}
		}
	default: // a number, true, false or null
		if c == 'n' && isNumber(t) {
			at := join(field, name)
			return invalidField(at, "%s must be a number, not null: leave it out where it may be left out", at)
		}
		for m.i < len(m.data) {
			switch m.data[m.i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return nil
			}
			m.i++
		}
	}
	return nil
}

// composite is the type a JSON object or array of type t is read as: t's
// element for a pointer, nil for a type that decodes itself (only repeated
// members are looked for in it).
func composite(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	return t
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// isNumber reports whether t, or what it points to, is a number type that
// encoding/json decodes itself: a null for it leaves the Go value as it
// was (zero), where the API means "left out" only by a missing member.
func isNumber(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(unmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// object reads the object at m.i (see value).
func (m *memberScanner) object(t reflect.Type, field string) error {
	var fields map[string]reflect.Type // nil: names are not checked
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	var buf [16][]byte // most objects: no allocation
	seen := buf[:0]
	m.i++
	for {
		m.space()
		if m.i >= len(m.data) || m.data[m.i] == '}' {
			m.i++
			return nil
		}
		name, bad := m.str()
		if bad >= 0 {
			return notText(field, bad)
		}
		var vt reflect.Type
		switch {
		case fields != nil:
			ft, ok := fields[string(name)]
			if !ok {
				return invalidField(join(field, name), "unknown member %q (member names are case-sensitive)", name)
			}
			vt = ft
		case t != nil && t.Kind() == reflect.Map:
			vt = t.Elem()
		}
		for _, n := range seen {
			if bytes.Equal(n, name) {
				at := join(field, name)
				if t != nil && t.Kind() == reflect.Map {
					at = field
				}
				return invalidField(at, "member %q appears more than once", name)
			}
		}
		seen = append(seen, name)
		m.space()
		m.i++ // the colon
		member := name
		if t != nil && t.Kind() == reflect.Map {
			member = nil // a map's keys are the client's: the map is named
		}
		if err := m.value(vt, field, member); err != nil {
			return err
		}
		m.space()
		if m.i < len(m.data) && m.data[m.i] == ',' {
			m.i++
		}
	}
}

// join is the dotted path of member name in field; field itself for a
// nil name.
func join(field string, name []byte) string {
	if name == nil {
		return field
	}
	if field == "" {
		return string(name)
	}
	return field + "." + string(name)
}

// jsonFields returns the member names of struct type t, as encoding/json
// decodes them, and their types; nil for a struct that embeds another,
// whose promoted names it does not work out (no request type does).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			fields = nil
			break
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
			continue
		case name == "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	fieldsCache.Store(t, fields)
	return fields
}

var fieldsCache sync.Map // reflect.Type → map[string]reflect.Type

// decodeError translates encoding/json's errors by their types; errors
// without a type (unknown members) keep their text, minus the "json: ".
func decodeError(err error) error {
	var (
		ute *json.UnmarshalTypeError
		se  *json.SyntaxError
	)
	switch {
	case errors.As(err, &ute):
		return typeError(ute)
	case errors.As(err, &se):
		return pw.Errorf(pw.EINVALID, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return pw.Errorf(pw.EINVALID, "malformed JSON: the body ends early")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		field := strings.Trim(name, `"`)
		return invalidField(field, "unknown member %s", name)
	}
	return pw.Errorf(pw.EINVALID, "malformed JSON: %s", msg)
}

// typeError explains a value of the wrong JSON type. Integers get a precise
// message: money is a count of minor units and nothing else.
func typeError(e *json.UnmarshalTypeError) error {
	field := e.Field
	name := field
	if name == "" {
		name = "the body"
	}
	literal, isNumber := strings.CutPrefix(e.Value, "number ")
	switch e.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch {
		case isNumber && strings.ContainsAny(literal, ".eE"):
			return invalidField(field, "%s must be an integer (minor units), not %s", name, literal)
		case isNumber:
			return invalidField(field, "%s is out of range: %s does not fit in a 64-bit integer", name, literal)
		default:
			return invalidField(field, "%s must be a JSON integer, not a %s", name, e.Value)
		}
	}
	return invalidField(field, "%s must be %s, not %s", name, jsonTypeName(e.Type), e.Value)
}

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return fmt.Sprintf("of type %s", t)
}

// mustMarshal encodes v, which is always one of this package's or the root
// package's plain types; failing to encode one is a programming error.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("http: cannot encode %T: %v", v, err))
	}
	return append(b, '\n')
}

// renderJSON is the one rendering of a success response, used both for
// live responses and for the ones remembered under an idempotency key.
func renderJSON(status int, v any) (int, []byte) {
	return status, mustMarshal(present(v))
}

// writeBody writes a rendered response.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeJSON writes v with status as application/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	status, body := renderJSON(status, v)
	writeBody(w, status, contentTypeJSON, body)
}

// writeRendered writes a response rendered by renderJSON or renderError.
func writeRendered(w http.ResponseWriter, status int, body []byte) {
	ct := contentTypeJSON
	if status >= 300 {
		ct = contentTypeProblem
	}
	writeBody(w, status, ct, body)
}
