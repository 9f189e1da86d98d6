package httpapi

import (
	"errors"
	"net/http"
)

// reload re-reads the config file, as SIGHUP does. A refused file is the operator's to fix:
// 400 with the reason; the running configuration stays. A database that does not answer
// (registering added apps needs it) is 503, to be tried again.
func (s *server) reload(w http.ResponseWriter, r *http.Request) {
	if s.Reload == nil {
		writeError(w, http.StatusServiceUnavailable, "this server cannot reload its configuration")
		return
	}
	err := s.Reload(r.Context())
	var refused configProblem
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	case errors.As(err, &refused):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.internalError(w, r, err) // 503 for a database away, else 500; the detail is logged
	}
}

// configProblem is an error that the config file caused (app.ConfigError is one): a sentence
// naming the keys to fix, with no secret in it.
type configProblem interface {
	error
	ConfigProblem()
}
