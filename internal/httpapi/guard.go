package httpapi

import (
	"mime"
	"net/http"
)

// guardWrites protects every request that can change something (any method but GET, HEAD and
// OPTIONS) from being forged by another web page open in the same browser:
//
//   - A cross-origin browser request is refused (Sec-Fetch-Site, else Origin against Host; see
//     http.CrossOriginProtection). A cookie session is only one way in: without tokens the
//     server trusts every loopback caller, the browser included.
//   - An API write must say Content-Type: application/json. An HTML form can only send
//     urlencoded, multipart or text/plain bodies, and a page's script that sets a JSON type
//     triggers a CORS preflight this server never grants.
//
// The login and logout forms post urlencoded bodies by design, and POST /-/reload has no body
// (`curl -X POST .../-/reload`, as with Prometheus); they get the origin check only.
func guardWrites(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if err := cop.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "a cross-origin request cannot change anything")
			return
		}
		if r.URL.Path != "/login" && r.URL.Path != "/logout" && r.URL.Path != "/-/reload" {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "a request that changes something must send Content-Type: application/json")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
