package httpapi

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
)

// static holds the dashboard and the login page: self-contained HTML, no CDN, no external
// fonts, because the machines running the monitor often have no internet access.
//
//go:embed static/index.html static/login.html
var static embed.FS

var pages = template.Must(template.ParseFS(static, "static/index.html", "static/login.html"))

type pageData struct {
	Nonce string // lets the page's own inline script and style run under a strict CSP
	Error string
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	s.page(w, http.StatusOK, "index.html", pageData{})
}

func (s *server) loginPage(w http.ResponseWriter, status int, msg string) {
	s.page(w, status, "login.html", pageData{Error: msg})
}

func (s *server) page(w http.ResponseWriter, status int, name string, d pageData) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	d.Nonce = base64.RawURLEncoding.EncodeToString(b) // URL-safe: html/template leaves it unescaped
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
