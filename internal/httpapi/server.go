package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// CheckListen refuses to serve without tokens on anything but loopback: the API can silence
// alerts, and the dashboard shows every balance.
func CheckListen(listen string, tokens []config.Token) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("http.listen %q is not a host:port address", listen)
	}
	if len(tokens) > 0 || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("http.listen %s is not a loopback address and http.tokens is empty: set tokens or listen on 127.0.0.1", listen)
}

// isLoopback is true only for names that cannot reach another machine. An empty host listens
// on every interface; another name may resolve to anything.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Starting is the handler of a service still waiting for its database: /healthz says the
// process runs, everything else (/readyz included) answers 503.
func Starting() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusServiceUnavailable, "the monitor is starting: it is waiting for its database")
	})
	return mux
}

// NewServer serves h on addr with timeouts, so slow or idle clients cannot hold connections
// forever. Request bodies are limited by the handler New returns.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second, // a year of CSV history is written well within it
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
