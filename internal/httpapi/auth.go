package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// sessionCookie holds "name.expiry.mac" where mac is an HMAC of the token's name and the
// session's expiry, keyed by the token itself: the token never leaves the login request, any
// replica with the same config can check it, a stolen cookie stops working at its expiry,
// and changing a token ends its sessions at once.
const sessionCookie = "engagelab_session"

// sessionLife is how long a dashboard login lasts.
const sessionLife = 7 * 24 * time.Hour

// auth checks bearer tokens and dashboard session cookies. With no tokens it lets every
// request through (CheckListen keeps such a server on loopback).
type auth struct {
	tokens []config.Token
	now    func() time.Time
}

func newAuth(tokens []config.Token, now func() time.Time) *auth {
	return &auth{tokens: tokens, now: now}
}

func (a *auth) enabled() bool { return len(a.tokens) > 0 }

// byToken finds the token equal to presented. Every configured token is compared, in
// constant time, so the answer's timing says nothing about which one nearly matched.
func (a *auth) byToken(presented string) (config.Token, bool) {
	var found config.Token
	ok := 0
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(presented), []byte(t.Token.Reveal())) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

func sessionMAC(t config.Token, expires string) string {
	m := hmac.New(sha256.New, []byte(t.Token.Reveal()))
	m.Write([]byte("engagelab-monitor session\x00" + t.Name + "\x00" + expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *auth) sessionValue(t config.Token, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(t.Name)) + "." + exp + "." + sessionMAC(t, exp)
}

// bySession finds the token a session cookie was made from, if the session has not expired.
func (a *auth) bySession(value string) (config.Token, bool) {
	parts := strings.Split(value, ".")
	if len(parts) != 3 {
		return config.Token{}, false
	}
	name, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return config.Token{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !a.now().Before(time.Unix(exp, 0)) {
		return config.Token{}, false
	}
	for _, t := range a.tokens {
		if t.Name == string(name) && hmac.Equal([]byte(parts[2]), []byte(sessionMAC(t, parts[1]))) {
			return t, true
		}
	}
	return config.Token{}, false
}

type ctxKey struct{}

// requestInfo is shared between the logging and the auth middleware of one request.
type requestInfo struct{ token string }

// open paths answer without credentials: probes, the login form's target, logout (which only
// clears the cookie), the favicon and the vendored chart library (public code, no data).
func open(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/favicon.ico":
		return true
	case "/login", "/logout":
		return r.Method == http.MethodPost
	}
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/assets/")
}

func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.auth.enabled() || open(r) {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok, fromCookie := s.credentials(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path == "/" {
				// The login form is the page a signed-out person asked for, so it answers 200:
				// a 401 document shows as a failed load in the browser's console.
				s.loginPage(w, http.StatusOK, "")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="engagelab-monitor"`)
			writeError(w, http.StatusUnauthorized, "this path needs a token: send Authorization: Bearer <token>")
			return
		}
		if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
			info.token = tok.Name
		}
		changes := r.Method != http.MethodGet && r.Method != http.MethodHead
		if changes && tok.Scope != "write" {
			writeError(w, http.StatusForbidden, "token "+tok.Name+" has read scope and cannot change anything")
			return
		}
		// A cookie is sent by the browser on its own: it may read, never write, so a forged
		// cross-site request can change nothing.
		if changes && fromCookie {
			writeError(w, http.StatusForbidden, "a dashboard session cannot change anything: send Authorization: Bearer <token>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// credentials returns the token presented as a bearer token or, failing that, a session cookie.
func (s *server) credentials(r *http.Request) (tok config.Token, ok, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, presented, found := strings.Cut(h, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return config.Token{}, false, false
		}
		tok, ok = s.auth.byToken(strings.TrimSpace(presented))
		return tok, ok, false
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		tok, ok = s.auth.bySession(c.Value)
		return tok, ok, true
	}
	return config.Token{}, false, false
}

// login turns a token typed into the dashboard's form into a session cookie. The token
// travels in the POST body, never in a URL that a proxy or this server would log.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	// The page's fragment (#app=NAME, from Slack's "Open dashboard" button) never reaches the
	// server on its own: the login form copies it into "next" so that it survives the login.
	next := "/" + deepLink(r.PostFormValue("next"))
	if !s.auth.enabled() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	tok, ok := s.auth.byToken(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		s.loginPage(w, http.StatusUnauthorized, "That token is not one of this monitor's tokens.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    s.auth.sessionValue(tok, s.Clock().Add(sessionLife)),
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil || strings.HasPrefix(s.Config.Config.HTTP.PublicURL, "https://"),
		SameSite: http.SameSiteStrictMode,
		MaxAge:   int(sessionLife / time.Second),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// deepLink returns fragment if it is one the dashboard understands (#app=NAME), else "": the
// redirect after login goes nowhere but the dashboard.
func deepLink(fragment string) string {
	name, ok := strings.CutPrefix(fragment, "#app=")
	if !ok || name == "" || len(name) > 200 {
		return ""
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return ""
		}
	}
	return fragment
}

// logout ends the browser's session by clearing its cookie. The cookie itself stays valid
// until its expiry if someone copied it: sessions are stateless.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.HasPrefix(s.Config.Config.HTTP.PublicURL, "https://"), MaxAge: -1,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
