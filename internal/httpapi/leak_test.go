package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNothingLeaks hits every path, with good, bad and no credentials, and checks that no
// answer (body or header) and no log line contains a dev_secret or a token.
func TestNothingLeaks(t *testing.T) {
	e := newEnv(t, readToken, writeToken)
	e.fixture(t)
	e.history(t)
	secrets := []string{devSecret, readToken.Token.Reveal(), writeToken.Token.Reveal()}
	var seen []string
	record := func(status int, header http.Header, body string) {
		for k, vs := range header {
			seen = append(seen, k+": "+strings.Join(vs, ", "))
		}
		seen = append(seen, body)
	}
	paths := []struct{ method, path, body string }{
		{"GET", "/", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/metrics", ""},
		{"GET", "/api/v1/apps", ""},
		{"GET", "/api/v1/apps/checkout/history", ""},
		{"GET", "/api/v1/apps/checkout/history?step=1h&format=csv", ""},
		{"GET", "/api/v1/apps/checkout/history?from=bad", ""},
		{"GET", "/api/v1/alerts", ""},
		{"GET", "/api/v1/events", ""},
		{"GET", "/api/v1/events?token=" + url.QueryEscape(writeToken.Token.Reveal()), ""},
		{"POST", "/api/v1/apps/checkout/silence", `{"for":"1h","reason":"leak test"}`},
		{"DELETE", "/api/v1/apps/checkout/silence", ""},
		{"GET", "/nope", ""},
	}
	for _, p := range paths {
		for _, token := range []string{"", "wrong", readToken.Token.Reveal(), writeToken.Token.Reveal()} {
			res := e.do(t, p.method, p.path, token, p.body)
			record(res.status, res.header, res.body)
		}
	}
	for _, token := range []string{"wrong", readToken.Token.Reveal(), writeToken.Token.Reveal()} {
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noRedirect.PostForm(e.url+"/login", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		record(res.StatusCode, res.Header, "")
		for _, c := range res.Cookies() {
			r := e.do(t, "GET", "/api/v1/apps", "", "", "Cookie: "+c.Name+"="+c.Value)
			record(r.status, r.header, r.body)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `path=/api/v1/events status=200`) || !strings.Contains(logs, "token=ops") {
		t.Fatalf("the request log is not what this test expects:\n%s", logs)
	}
	seen = append(seen, logs)
	for _, s := range secrets {
		for _, text := range seen {
			if strings.Contains(text, s) {
				t.Errorf("%q leaked in:\n%s", s, text)
			}
		}
	}
}
