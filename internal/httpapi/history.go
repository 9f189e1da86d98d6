package httpapi

import (
	"encoding/csv"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// maxPoints caps one history answer, raw or bucketed, so one request cannot pull a year of
// minute snapshots into memory.
const maxPoints = 10000

// steps are the bucket sizes the contract allows.
// Steps are the bucket sizes history accepts, in the API and the CLI alike.
var Steps = map[string]time.Duration{
	"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"1h": time.Hour, "6h": 6 * time.Hour, "1d": 24 * time.Hour,
}

// StepList names Steps for error messages.
const StepList = "1m, 5m, 15m, 1h, 6h or 1d"

type pointJSON struct {
	T            utc    `json:"t"`
	Balance      string `json:"balance"`
	GiftBalance  string `json:"gift_balance"`
	TotalBalance string `json:"total_balance"`
}

type bucketJSON struct {
	T     utc    `json:"t"`
	First string `json:"first"`
	Last  string `json:"last"`
	Min   string `json:"min"`
	Max   string `json:"max"`
}

type historyJSON struct {
	App    string `json:"app"`
	From   utc    `json:"from"`
	To     utc    `json:"to"`
	Step   string `json:"step,omitempty"`
	Amount string `json:"amount,omitempty"` // the amount bucketed; raw points carry all three
	Points any    `json:"points"`
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	app, ok := s.Config.Config.App(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no app named %q", name))
		return
	}
	q := r.URL.Query()
	to := s.Clock().UTC()
	if v := q.Get("to"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "to must be an RFC 3339 time, "+timeExample)
			return
		}
		to = t.UTC()
	}
	from := to.Add(-24 * time.Hour)
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "from must be an RFC 3339 time, "+timeExample)
			return
		}
		from = t.UTC()
	}
	if !from.Before(to) {
		writeError(w, http.StatusBadRequest, "from must be before to")
		return
	}
	asCSV, err := wantsCSV(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := historyJSON{App: name, From: utc(from), To: utc(to)}
	var rows [][]string // the CSV, header first

	if v := q.Get("step"); v == "" {
		pts, err := s.Store.Snapshots(r.Context(), name, from, to, maxPoints)
		if errors.Is(err, store.ErrTooManyPoints) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(
				"more than %d snapshots between from and to: add a step (%s) or narrow the range", maxPoints, StepList))
			return
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) { // a configured app not yet stored has no history
			s.internalError(w, r, err)
			return
		}
		points := make([]pointJSON, 0, len(pts))
		rows = [][]string{{"t", "balance", "gift_balance", "total_balance"}}
		for _, p := range pts {
			pj := pointJSON{T: utc(p.T), Balance: amount(p.Balance), GiftBalance: amount(p.GiftBalance), TotalBalance: amount(p.TotalBalance)}
			points = append(points, pj)
			rows = append(rows, []string{rfc3339(p.T), pj.Balance, pj.GiftBalance, pj.TotalBalance})
		}
		out.Points = points
	} else {
		step, ok := Steps[v]
		if !ok {
			writeError(w, http.StatusBadRequest, "step must be one of "+StepList)
			return
		}
		if to.Sub(from)/step > maxPoints {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(
				"step %s gives more than %d buckets between from and to: use a larger step or narrow the range", v, maxPoints))
			return
		}
		buckets, err := s.Store.Buckets(r.Context(), name, from, to, step, app.Amount)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internalError(w, r, err)
			return
		}
		points := make([]bucketJSON, 0, len(buckets))
		rows = [][]string{{"t", "first", "last", "min", "max"}}
		for _, b := range buckets {
			bj := bucketJSON{T: utc(b.T), First: amount(b.First), Last: amount(b.Last), Min: amount(b.Min), Max: amount(b.Max)}
			points = append(points, bj)
			rows = append(rows, []string{rfc3339(b.T), bj.First, bj.Last, bj.Min, bj.Max})
		}
		out.Step, out.Amount, out.Points = v, app.Amount, points
	}

	if !asCSV {
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-history.csv"`, name))
	cw := csv.NewWriter(w)
	_ = cw.WriteAll(rows) // a write error means the client went away
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

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
