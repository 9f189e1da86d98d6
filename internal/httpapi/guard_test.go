package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Another page open in the same browser must not be able to change anything: not by posting
// an HTML form (which cannot send a JSON content type), not by a cross-origin fetch.
func TestWritesNeedJSONAndSameOrigin(t *testing.T) {
	notJSON := `{"error":"a request that changes something must send Content-Type: application/json"}` + "\n"
	crossOrigin := `{"error":"a cross-origin request cannot change anything"}` + "\n"
	for _, tc := range []struct {
		name, method, body string
		headers            []string
		status             int
		want               string
	}{
		{"form post", "POST", "until=2026-11-27T00:00:00Z", []string{"Content-Type: application/x-www-form-urlencoded"}, 415, notJSON},
		{"text/plain post", "POST", `{"for":"1h"}`, []string{"Content-Type: text/plain"}, 415, notJSON},
		{"multipart post", "POST", "--x--", []string{"Content-Type: multipart/form-data; boundary=x"}, 415, notJSON},
		{"no content type", "POST", `{"for":"1h"}`, []string{"Content-Type: "}, 415, notJSON},
		{"delete without content type", "DELETE", "", []string{"Content-Type: "}, 415, notJSON},
		{"cross-site fetch", "POST", `{"for":"1h"}`, []string{"Sec-Fetch-Site: cross-site"}, 403, crossOrigin},
		{"same-site other origin", "POST", `{"for":"1h"}`, []string{"Sec-Fetch-Site: same-site"}, 403, crossOrigin},
		{"foreign Origin", "DELETE", "", []string{"Origin: https://evil.example"}, 403, crossOrigin},
		{"cross-site form", "POST", "for=1h", []string{"Sec-Fetch-Site: cross-site", "Content-Type: application/x-www-form-urlencoded"}, 403, crossOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t) // no tokens: the loopback mode the issue found open
			check(t, e.do(t, tc.method, "/api/v1/apps/checkout/silence", "", tc.body, tc.headers...), tc.status, tc.want)
			if got := e.get(t, "/api/v1/apps").body; !strings.Contains(got, `"silenced_until":null`) || strings.Contains(got, `"silenced_until":"`) {
				t.Errorf("a refused write silenced an app: %s", got)
			}
		})
	}

	e := newEnv(t)
	// The dashboard's own same-origin request, and a charset parameter, are fine.
	if res := e.do(t, "POST", "/api/v1/apps/checkout/silence", "", `{"for":"1h"}`, "Sec-Fetch-Site: same-origin", "Content-Type: application/json; charset=utf-8"); res.status != 200 {
		t.Errorf("same-origin JSON silence: %d %s", res.status, res.body)
	}
	if res := e.do(t, "DELETE", "/api/v1/apps/checkout/silence", "", "", "Origin: "+e.url); res.status != 200 {
		t.Errorf("same-origin unsilence: %d %s", res.status, res.body)
	}
}

// Login and logout are forms, and so keep their urlencoded bodies, but another site cannot
// post them (login CSRF would sign the victim into the attacker's session).
func TestLoginLogoutForms(t *testing.T) {
	e := newEnv(t, readToken)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, headers ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	tok := readToken.Token.Reveal()
	if res := post("/login", url.Values{"token": {tok}}, "Sec-Fetch-Site: cross-site"); res.StatusCode != 403 || len(res.Cookies()) != 0 {
		t.Errorf("cross-site login: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	// The deep link comes back after login; anything but #app=NAME is dropped.
	for next, want := range map[string]string{"#app=signup": "/#app=signup", "": "/", "#app=x\"><script>": "/", "//evil.example": "/", "#app=": "/"} {
		res := post("/login", url.Values{"token": {tok}, "next": {next}}, "Sec-Fetch-Site: same-origin")
		if res.StatusCode != 303 || res.Header.Get("Location") != want || len(res.Cookies()) != 1 {
			t.Errorf("login with next %q: %d to %q, cookies %v; want 303 to %q", next, res.StatusCode, res.Header.Get("Location"), res.Cookies(), want)
		}
	}
	res := post("/logout", nil, "Sec-Fetch-Site: same-origin")
	if c := res.Cookies(); res.StatusCode != 303 || len(c) != 1 || c[0].Name != "engagelab_session" || c[0].MaxAge >= 0 || c[0].Value != "" {
		t.Errorf("logout: %d, cookies %v", res.StatusCode, c)
	}
	if res := post("/logout", nil, "Sec-Fetch-Site: cross-site"); res.StatusCode != 403 {
		t.Errorf("cross-site logout: %d", res.StatusCode)
	}
}

// The page's icon and chart library load without a session (the login page needs the icon)
// and without any other host.
func TestFaviconAndVendoredAssets(t *testing.T) {
	e := newEnv(t, readToken)
	if res := e.get(t, "/favicon.ico"); res.status != 200 || res.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(res.body, "<svg") {
		t.Errorf("favicon: %d %q", res.status, res.header.Get("Content-Type"))
	}
	res := e.get(t, "/assets/vendor/uplot/uPlot.iife.min.js")
	if res.status != 200 || !strings.Contains(res.header.Get("Content-Type"), "javascript") || !strings.Contains(res.body, "var uPlot=") {
		t.Errorf("uPlot: %d %q", res.status, res.header.Get("Content-Type"))
	}
	if res := e.get(t, "/assets/vendor/uplot/uPlot.min.css"); res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/css") {
		t.Errorf("uPlot css: %d %q", res.status, res.header.Get("Content-Type"))
	}
	for _, p := range []string{"/assets/vendor/", "/assets/index.html", "/assets/vendor/uplot/nope.js"} {
		if res := e.get(t, p); res.status != 404 {
			t.Errorf("%s: %d, want 404", p, res.status)
		}
	}
}
