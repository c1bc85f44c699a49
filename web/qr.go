package web

import (
	"bytes"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// Bounds of a payment request, so that no one renders a QR code of
// megabytes. The handle bound is the API's (254 bytes).
const (
	RequestHandleBytesMax = 254
	RequestNoteBytesMax   = 140
	QRPixels              = 280
)

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// PayRequest is a payment request: who to pay, and optionally how much and
// what for. It travels as the query of a /pay link.
type PayRequest struct {
	To       string
	Amount   int64 // minor units; 0 lets the payer choose
	Currency string
	Note     string
}

// ParsePayRequest reads and bounds a payment request from query q.
func ParsePayRequest(q url.Values) (PayRequest, bool) {
	p := PayRequest{To: q.Get("to"), Currency: q.Get("currency"), Note: q.Get("note")}
	if p.To == "" || len(p.To) > RequestHandleBytesMax || len(p.Note) > RequestNoteBytesMax {
		return p, false
	}
	if p.Currency != "" && !currencyCode.MatchString(p.Currency) {
		return p, false
	}
	if s := q.Get("amount"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return p, false
		}
		p.Amount = n
	}
	return p, true
}

// Link returns the absolute /pay URL of p on origin (scheme://host).
func (p PayRequest) Link(origin string) string {
	q := url.Values{"to": {p.To}}
	if p.Amount > 0 {
		q.Set("amount", strconv.FormatInt(p.Amount, 10))
	}
	if p.Currency != "" {
		q.Set("currency", p.Currency)
	}
	if p.Note != "" {
		q.Set("note", p.Note)
	}
	return origin + "/pay?" + q.Encode()
}

// serveQR renders the /pay link of the request in the query as a QR code.
// The link points at the host the request came to, so a merchant's page
// shows a code for the server it is on.
func serveQR(*App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := ParsePayRequest(r.URL.Query())
		if !ok {
			http.Error(w, "a payment request needs to= (a handle) and may have amount=, currency= and note=", http.StatusBadRequest)
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		png, err := QRPNG(p.Link(scheme + "://" + r.Host))
		if err != nil {
			http.Error(w, "cannot encode this request as a QR code", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "private, max-age=300")
		_, _ = w.Write(png)
	})
}

// QRPNG encodes text as a QR code PNG, QRPixels wide, with error correction
// level M (readable with some glare on a phone screen).
func QRPNG(text string) ([]byte, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	code, err = barcode.Scale(code, QRPixels, QRPixels)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
