package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/history"
)

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	app, ok := s.Config.Config.App(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no app named %q", name))
		return
	}
	q := r.URL.Query()
	from, to, asCSV, ok := s.rangeOf(w, r)
	if !ok {
		return
	}
	out, err := history.Read(r.Context(), s.Store, history.Question{App: name, Amount: app.Amount, From: from, To: to, Step: q.Get("step")})
	s.answer(w, r, out, err, asCSV, name+"-history.csv")
}

// wantsCSV reads format= (which wins) or, without it, the Accept header.
func wantsCSV(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("format") {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, errors.New("format must be json or csv")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true, nil
		}
	}
	return false, nil
}

// rangeOf reads from=, to= (default: the last day up to now) and the answer's format, shared
// by history and ledger; on a bad parameter it answers 400 and ok is false.
func (s *server) rangeOf(w http.ResponseWriter, r *http.Request) (from, to time.Time, asCSV, ok bool) {
	q := r.URL.Query()
	to = s.Clock().UTC()
	if v := q.Get("to"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "to must be an RFC 3339 time, "+timeExample)
			return
		}
		to = t.UTC()
	}
	from = to.Add(-history.DefaultRange)
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "from must be an RFC 3339 time, "+timeExample)
			return
		}
		from = t.UTC()
	}
	asCSV, err := wantsCSV(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	return from, to, asCSV, true
}

// answer writes a history or ledger answer as JSON or as a CSV download, or the error that
// stopped it: 400 for a question history refuses, 500 for anything else.
func (s *server) answer(w http.ResponseWriter, r *http.Request, out interface{ WriteCSV(io.Writer) error }, err error, asCSV bool, filename string) {
	if errors.Is(err, history.ErrInvalid) {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), history.ErrInvalid.Error()+": "))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if !asCSV {
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, filename))
	_ = out.WriteCSV(w) // a write error means the client went away
}
