package http

import (
	"context"
	"net/http"
	"reflect"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ReadinessTimeout bounds the readiness check, so that a hung store makes
// the server unready rather than /readyz hang.
const ReadinessTimeout = 2 * time.Second

// plainRoute serves a route whose handler needs only the server; Resp is
// the type it answers (for the OpenAPI document).
func plainRoute[Resp any](build func(s *Server, rt *Route) http.Handler) endpoint {
	return endpoint{response: reflect.TypeFor[Resp](), build: build}
}

func serveCurrencies(_ *Server, rt *Route) http.Handler {
	all := pw.Currencies()
	list := List[CurrencyInfo]{Data: make([]CurrencyInfo, len(all))}
	for i, c := range all {
		list.Data[i] = CurrencyInfo{Code: c, Exponent: c.Exponent()}
	}
	_, body := renderJSON(rt.Status, list)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, rt.Status, contentTypeJSON, body)
	})
}

func serveOpenAPI(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, rt.Status, contentTypeJSON, s.openapi)
	})
}

func serveHealth(_ *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, rt.Status, Health{Status: "ok"})
	})
}

// serveReady answers 200 when the server is not draining and the readiness
// check (the store's ping) passes, else 503 busy with Retry-After.
func serveReady(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Draining() {
			Error(w, r, pw.Errorf(pw.EUNAVAILABLE, "the server is draining"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ReadinessTimeout)
		defer cancel()
		if err := s.readiness(ctx); err != nil {
			loggerFrom(ctx).Warn("not ready", "err", err)
			Error(w, r, &pw.Error{Code: pw.EUNAVAILABLE, Op: "http.readyz", Message: "the store is not ready: it cannot be read or written", Err: err})
			return
		}
		writeJSON(w, rt.Status, Health{Status: "ok"})
	})
}

func serveMetrics(s *Server, _ *Route) http.Handler { return s.metricsHandler() }
