// Package web is peakwallet's user web app (under /) and operator console
// (under /console/): server-rendered HTML shells, translated on the
// server, plus a little vanilla JavaScript that calls the JSON API. Every
// asset is embedded, so `peakwallet serve` needs nothing else, and no
// front-end toolchain is needed to build or run it.
//
// It is separate from the JSON API (package http): it never touches money
// or sessions itself, it only serves pages, assets, strings and QR images.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"

	pw "github.com/peakwallet/peakwallet"
)

//go:embed assets templates
var files embed.FS

// ContentSecurityPolicy is the policy of every web response: scripts and
// styles only from our own origin (no inline code, no eval), connections
// only to our own API, images from our origin or data: URLs (the TOTP QR
// code arrives as base64 PNG in JSON). Nothing may frame the pages.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; media-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Route is one entry of the web route list. The JSON API's routes are in
// package http's table; these are the pages and assets, mounted beside them.
type Route struct {
	Pattern string // a Go 1.22 ServeMux pattern
	Summary string
	handler func(a *App) http.Handler
}

// Routes returns the web route list.
func Routes() []Route {
	return []Route{
		{Pattern: "GET /{$}", Summary: "The wallet app", handler: page("app.html")},
		{Pattern: "GET /pay", Summary: "A payment request link: the app with the payment pre-filled", handler: page("app.html")},
		{Pattern: "GET /pay/qr.png", Summary: "A QR code (PNG) of a payment request link", handler: serveQR},
		{Pattern: "GET /console", Summary: "Redirect to /console/", handler: redirect("/console/")},
		{Pattern: "GET /console/{$}", Summary: "The operator console", handler: page("console.html")},
		{Pattern: "GET /assets/", Summary: "Embedded scripts, styles, strings and images", handler: serveAssets},
	}
}

// App serves the web routes. Build it with New.
type App struct {
	log    *slog.Logger
	pages  *template.Template
	mux    *http.ServeMux
	routes []Route
}

// New returns the web app; log may be nil.
func New(log *slog.Logger) *App {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{log: log, mux: http.NewServeMux(), routes: Routes()}
	a.pages = template.Must(template.ParseFS(files, "templates/*.html"))
	for _, rt := range a.routes {
		a.mux.Handle(rt.Pattern, rt.handler(a))
	}
	return a
}

// Patterns lists the ServeMux patterns the app serves, for the server that
// mounts it.
func (a *App) Patterns() []string {
	out := make([]string, len(a.routes))
	for i, rt := range a.routes {
		out[i] = rt.Pattern
	}
	return out
}

// ServeHTTP serves a web route with the pages' security headers. They
// replace the API's stricter policy, which forbids all active content.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The camera is for scanning payment QR codes on our own pages only.
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
	a.mux.ServeHTTP(w, r)
}

// pageData is what a page template renders.
type pageData struct {
	Lang  string
	S     Strings // the page's strings: {{.S.T "key"}}
	Langs []LangOption
	// Currencies are the server's currencies and their exponents, in the
	// page itself: the scripts read amounts in them without a request, so
	// no failed read of /v1/currencies can leave them guessing an exponent
	// (common.js, loadCurrencies).
	Currencies map[string]int
}

// currencyExponents is Currencies for pageData, made once.
var currencyExponents = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for _, c := range pw.Currencies() {
		m[string(c)] = c.Exponent()
	}
	return m
})

func page(name string) func(a *App) http.Handler {
	return func(a *App) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lang := Language(r)
			var buf bytes.Buffer
			err := a.pages.ExecuteTemplate(&buf, name, pageData{Lang: lang, S: StringsOf(lang), Langs: langOptions(lang), Currencies: currencyExponents()})
			if err != nil {
				// A template that does not render is a bug in this package.
				a.log.Error("web page did not render", "page", name, "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Vary", "Cookie, Accept-Language")
			_, _ = w.Write(buf.Bytes())
		})
	}
}

func redirect(to string) func(a *App) http.Handler {
	return func(*App) http.Handler { return http.RedirectHandler(to, http.StatusMovedPermanently) }
}

func serveAssets(*App) http.Handler {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fileServer := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Embedded files carry no modification time, so revalidate:
		// a new binary must never run with yesterday's script.
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}
