package httpapi

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

// static holds the dashboard, the login page and the vendored chart library (uPlot, pinned by
// web/package-lock.json, see static/vendor/README.md): nothing is loaded from a CDN or for
// fonts, because the machines running the monitor often have no internet access.
//
//go:embed static/index.html static/login.html static/vendor
var static embed.FS

var pages = template.Must(template.ParseFS(static, "static/index.html", "static/login.html"))

// faviconSVG is a small bar chart: the page links it as a data: URL, and /favicon.ico serves it
// to clients that ask anyway.
const faviconSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2c5fd6"/>` +
	`<path d="M8 24V15M14 24V9M20 24V13M26 24V19" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/></svg>`

type pageData struct {
	Nonce   string // lets the page's own inline script and style run under a strict CSP
	Error   string
	Auth    bool         // tokens are configured: the page offers a logout
	Favicon template.URL // faviconSVG as a data: URL
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	s.page(w, http.StatusOK, "index.html", pageData{Auth: s.auth.enabled()})
}

func (s *server) loginPage(w http.ResponseWriter, status int, msg string) {
	s.page(w, status, "login.html", pageData{Error: msg})
}

func (s *server) page(w http.ResponseWriter, status int, name string, d pageData) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	d.Nonce = base64.RawURLEncoding.EncodeToString(b) // URL-safe: html/template leaves it unescaped
	d.Favicon = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(faviconSVG)))
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		s.Logger.Error("render page", "page", name, "error", err)
		writeError(w, http.StatusInternalServerError, "the page could not be rendered")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+d.Nonce+"'; style-src 'nonce-"+d.Nonce+
		"'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func favicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte(faviconSVG))
}

// assets serves the vendored files under /assets/vendor/.
func assets() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/assets/vendor/") || strings.HasSuffix(r.URL.Path, "/") { // no listings
			writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
