// Package httpapi serves the monitor over HTTP: the JSON API of the ★ HTTP contract, the
// Prometheus metrics, the health probes and the embedded dashboard. It reads through the store
// and changes state only through the Silencer (the evaluator); it holds no state of its own
// beyond the configuration.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/metrics"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// maxBody limits request bodies: the largest legitimate one is a silence of a few hundred bytes.
const maxBody = 64 << 10

// Silencer silences and unsilences apps; *evaluate.Evaluator is one. Both return an error wrapping
// store.ErrNotFound for an unknown app.
type Silencer interface {
	Silence(ctx context.Context, app string, until time.Time, reason string) error
	Unsilence(ctx context.Context, app string) ([]store.EventRecord, error)
}

// Config is what the handler needs.
type Config struct {
	Store    *store.Store
	Config   *config.Config // apps (and the amount each alerts on), http.tokens
	Silencer Silencer       // nil: the silence endpoints answer 503
	Metrics  *metrics.Metrics
	// Reload re-reads the config file (POST /-/reload); nil: the path answers 503. Its error
	// is a sentence for the operator: why the file was refused (the running config stays).
	Reload func(ctx context.Context) error
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default: discard
}

type server struct {
	Config
	auth *auth
}

// New returns the handler of every path of the ★ HTTP contract.
func New(c Config) http.Handler {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{Config: c, auth: newAuth(c.Config.HTTP.Tokens, c.Clock)}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if c.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(c.Metrics.Registry(), promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /api/v1/apps", s.apps)
	mux.HandleFunc("GET /api/v1/apps/{name}/history", s.history)
	mux.HandleFunc("GET /api/v1/apps/{name}/ledger", s.ledger)
	mux.HandleFunc("POST /api/v1/apps/{name}/silence", s.silence)
	mux.HandleFunc("DELETE /api/v1/apps/{name}/silence", s.unsilence)
	mux.HandleFunc("POST /-/reload", s.reload)
	mux.HandleFunc("GET /api/v1/alerts", s.alerts)
	mux.HandleFunc("GET /api/v1/events", s.events)
	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /favicon.ico", favicon)
	mux.Handle("GET /assets/", assets())

	return s.logRequests(guardWrites(s.authenticate(jsonErrors(mux))))
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		// The detail (host, driver error) goes to the log, not to an unauthenticated caller.
		s.Logger.Warn("not ready", "error", err)
		writeError(w, http.StatusServiceUnavailable, "the database does not answer")
		return
	}
	if err := s.Store.CheckSchema(ctx); err != nil {
		s.Logger.Warn("not ready", "error", err)
		writeError(w, http.StatusServiceUnavailable, "the database schema is behind this binary: run `monitor migrate`")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers {"error": msg}, msg being one sentence for a user.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// internalError logs err and answers a 500 (or 503 when the database is the cause) without
// the detail, which may name hosts.
func (s *server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away: its own business, not a fault of ours worth an ERROR line.
		s.Logger.Debug("request cancelled by the client", "method", r.Method, "path", r.URL.Path, "error", err)
		return
	}
	s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "the database did not answer in time")
	case store.Unavailable(err):
		writeError(w, http.StatusServiceUnavailable, "the database does not answer; try again shortly")
	default:
		writeError(w, http.StatusInternalServerError, "reading the database failed; see the monitor's log")
	}
}

// jsonErrors turns the mux's plain-text 404 and 405 into the contract's JSON errors.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusOnly{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch rec.status {
		case http.StatusMethodNotAllowed:
			writeError(w, rec.status, r.Method+" is not allowed on "+r.URL.Path)
		default:
			writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		}
	})
}

// statusOnly keeps the status and headers a handler writes and drops its body.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int)        { s.status = code }

// logRequests logs one line per request. The query string, Authorization and Cookie headers
// are never logged: they may carry credentials.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, info))
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rw, r)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start)}
		if info.token != "" {
			attrs = append(attrs, "token", info.token) // the token's name, never its value
		}
		// Answered requests are routine (the dashboard alone makes several every 30 s, probes and
		// scrapes come every few seconds): they would drown the poll and alert lines at info.
		// Refusals and failures stay visible.
		level := slog.LevelDebug
		if rw.status >= 400 {
			level = slog.LevelInfo
		}
		s.Logger.Log(r.Context(), level, "http request", attrs...)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (promhttp flushes).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
