package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// timeExample ends every "must be an RFC 3339 time" message.
const timeExample = "like 2026-11-26T10:00:00Z"

// amount renders money as the contract wants it: a JSON string with 4 places.
func amount(d decimal.Decimal) string { return d.StringFixed(4) }

func optAmount(sn *balance.Snapshot, pick func(*balance.Snapshot) decimal.Decimal) *string {
	if sn == nil {
		return nil
	}
	s := amount(pick(sn))
	return &s
}

// utc renders a time as RFC 3339 UTC.
type utc time.Time

func (t utc) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(time.RFC3339) + `"`), nil
}

// optTime is null for the zero time.
func optTime(t time.Time) *utc {
	if t.IsZero() {
		return nil
	}
	u := utc(t)
	return &u
}

type firingJSON struct {
	Alert    string `json:"alert"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Since    utc    `json:"since"`
}

type appJSON struct {
	Name          string       `json:"name"`
	Amount        string       `json:"amount"` // which amount the thresholds apply to
	Currency      *string      `json:"currency"`
	Balance       *string      `json:"balance"`
	GiftBalance   *string      `json:"gift_balance"`
	TotalBalance  *string      `json:"total_balance"`
	PolledAt      *utc         `json:"polled_at"`
	Status        string       `json:"status"`
	SilencedUntil *utc         `json:"silenced_until"`
	SilenceReason string       `json:"silence_reason,omitempty"`
	Firing        []firingJSON `json:"firing"`
	Spend         spendJSON    `json:"spend"`
	// What the dashboard needs to draw the app's thresholds and to tell an old snapshot.
	Thresholds        thresholdsJSON `json:"thresholds"`
	IntervalSeconds   int64          `json:"interval_seconds"`    // the longest gap between two scheduled polls
	StaleAfterSeconds int64          `json:"stale_after_seconds"` // when the stale alert fires
}

type thresholdsJSON struct {
	Warning        string  `json:"warning"`
	Critical       string  `json:"critical"`
	OverdraftLimit *string `json:"overdraft_limit"` // null: none configured
}

// status is the worst current state of an app, from best to worst:
// unknown (no snapshot yet and nothing firing), ok, warning (low_balance warning, poll_failing),
// stale, critical (low_balance critical), overdraft (overdraft, overdraft_limit) and error (an
// access alert: the key or the app is refused, so no balance can be trusted). A silence
// changes nothing here: silenced_until is reported apart.
func status(a store.AppStatus) string {
	if a.Latest == nil && len(a.Firing) == 0 {
		return "unknown"
	}
	worst, rank := "ok", 0
	for _, f := range a.Firing {
		s, r := "warning", 1
		switch {
		case f.Alert == string(alert.Access):
			s, r = "error", 5
		case f.Rule == alert.RuleOverdraft || f.Rule == alert.RuleOverdraftLimit:
			s, r = "overdraft", 4
		case f.Severity == string(alert.SeverityCritical):
			s, r = "critical", 3
		case f.Rule == alert.RuleStale:
			s, r = "stale", 2
		}
		if r > rank {
			worst, rank = s, r
		}
	}
	return worst
}

func (s *server) apps(w http.ResponseWriter, r *http.Request) {
	statuses, err := s.Store.AppStatuses(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	sums, err := s.Store.SpendSummaries(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	byName := make(map[string]store.AppStatus, len(statuses))
	latest := make(map[string]*balance.Snapshot, len(statuses))
	for _, st := range statuses {
		byName[st.Name], latest[st.Name] = st, st.Latest
	}
	spends, err := s.appsSpend(r.Context(), latest, sums, s.Clock())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := make([]appJSON, 0, len(s.Config.Config.Apps))
	for _, app := range s.Config.Config.Apps {
		st, ok := byName[app.Name]
		if !ok {
			st = store.AppStatus{Name: app.Name}
		}
		a := appJSON{
			Name:              app.Name,
			Amount:            app.Amount,
			Balance:           optAmount(st.Latest, func(s *balance.Snapshot) decimal.Decimal { return s.Balance }),
			GiftBalance:       optAmount(st.Latest, func(s *balance.Snapshot) decimal.Decimal { return s.GiftBalance }),
			TotalBalance:      optAmount(st.Latest, func(s *balance.Snapshot) decimal.Decimal { return s.TotalBalance }),
			Status:            status(st),
			SilencedUntil:     optTime(st.SilencedUntil),
			Firing:            []firingJSON{},
			Thresholds:        thresholdsJSON{Warning: amount(app.Warning), Critical: amount(app.Critical)},
			IntervalSeconds:   int64(app.Interval / time.Second),
			StaleAfterSeconds: int64(app.StaleAfter / time.Second),
		}
		if app.OverdraftLimit != nil {
			l := amount(*app.OverdraftLimit)
			a.Thresholds.OverdraftLimit = &l
		}
		if st.Latest != nil {
			a.Currency, a.PolledAt = &st.Latest.Currency, optTime(st.Latest.PolledAt)
		}
		// An expired silence stays in the row until the next evaluation clears it.
		if !st.SilencedUntil.After(s.Clock()) {
			a.SilencedUntil = nil
		} else {
			a.SilenceReason = st.SilenceReason
		}
		for _, f := range st.Firing {
			a.Firing = append(a.Firing, firingJSON{Alert: f.Alert, Rule: f.Rule, Severity: f.Severity, Since: utc(f.Since)})
		}
		a.Spend = spends[app.Name]
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
}

// knownApp answers 404 and returns false unless name is a configured app.
func (s *server) knownApp(w http.ResponseWriter, name string) bool {
	if _, ok := s.Config.Config.App(name); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no app named %q", name))
		return false
	}
	return true
}

// Alert is one firing alert as GET /api/v1/alerts (and `monitor alerts --format json`) show it.
type Alert struct {
	App        string `json:"app"`
	Alert      string `json:"alert"`
	Rule       string `json:"rule"`
	Severity   string `json:"severity"`
	Since      utc    `json:"since"`
	LevelSince utc    `json:"level_since"`
}

// Alerts renders firing alerts in the API's shape.
func Alerts(firing []store.FiringAlert) []Alert {
	out := make([]Alert, 0, len(firing))
	for _, f := range firing {
		out = append(out, Alert{App: f.App, Alert: f.Alert, Rule: f.Rule, Severity: f.Severity, Since: utc(f.Since), LevelSince: utc(f.LevelSince)})
	}
	return out
}

func (s *server) alerts(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app != "" && !s.knownApp(w, app) {
		return
	}
	firing, err := s.Store.FiringAlerts(r.Context(), app)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": Alerts(firing)})
}

// Delivery is what became of one notification of an event.
type Delivery struct {
	Notifier  string `json:"notifier"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}

// Event is one entry of the event log as GET /api/v1/events (and `monitor alerts --all
// --format json`) show it.
type Event struct {
	ID         string     `json:"id"`
	App        string     `json:"app"`
	Alert      string     `json:"alert"`
	Type       string     `json:"type"`
	Rule       string     `json:"rule"`
	Severity   string     `json:"severity"`
	Since      utc        `json:"since"`
	At         utc        `json:"at"`
	Silenced   bool       `json:"silenced"`
	Message    string     `json:"message"`
	Deliveries []Delivery `json:"deliveries"`
}

// Events renders the event log in the API's shape.
func Events(events []store.Event) []Event {
	out := make([]Event, 0, len(events))
	for _, e := range events {
		ev := Event{ID: e.ID, App: e.App, Alert: e.Alert, Type: e.Type, Rule: e.Rule, Severity: e.Severity,
			Since: utc(e.Since), At: utc(e.At), Silenced: e.Silenced, Message: e.Message, Deliveries: []Delivery{}}
		for _, d := range e.Deliveries {
			ev.Deliveries = append(ev.Deliveries, Delivery{Notifier: d.Notifier, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError})
		}
		out = append(out, ev)
	}
	return out
}

const (
	defaultEvents = 100
	maxEvents     = 1000
)

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app := q.Get("app")
	if app != "" && !s.knownApp(w, app) {
		return
	}
	limit := defaultEvents
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEvents {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d", maxEvents))
			return
		}
		limit = n
	}
	// before is a time, or the id of the last event of the previous page: ids never skip
	// events that share a timestamp.
	var (
		events []store.Event
		err    error
	)
	switch v := q.Get("before"); {
	case strings.HasPrefix(v, "evt_"):
		events, err = s.Store.EventsBefore(r.Context(), app, v, limit)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("before: no event with id %q", v))
			return
		}
	default:
		var before time.Time
		if v != "" {
			if before, err = time.Parse(time.RFC3339, v); err != nil {
				writeError(w, http.StatusBadRequest, "before must be an RFC 3339 time, "+timeExample+", or an event id")
				return
			}
		}
		events, err = s.Store.Events(r.Context(), app, before, limit)
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": Events(events)})
}

func (s *server) silence(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.knownApp(w, name) || !s.canSilence(w) {
		return
	}
	var body struct {
		Until  string `json:"until"`
		For    string `json:"for"`
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, `the body must be JSON like {"until": "2026-11-26T10:00:00Z", "reason": "recharge on the way"}`)
		return
	}
	now := s.Clock()
	var until time.Time
	switch {
	case body.Until != "" && body.For != "":
		writeError(w, http.StatusBadRequest, "give until or for, not both")
		return
	case body.Until != "":
		t, err := time.Parse(time.RFC3339, body.Until)
		if err != nil {
			writeError(w, http.StatusBadRequest, "until must be an RFC 3339 time, "+timeExample)
			return
		}
		until = t
	case body.For != "":
		d, err := config.ParseDuration(body.For) // "1d" as in the config and the CLI
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "for must be a positive duration, like 2h, 30m or 1d")
			return
		}
		until = now.Add(d)
	default:
		writeError(w, http.StatusBadRequest, "until is required (or for, a duration like 2h)")
		return
	}
	if !until.After(now) {
		writeError(w, http.StatusBadRequest, "until must be in the future")
		return
	}
	if strings.ContainsRune(body.Reason, 0) || !utf8.ValidString(body.Reason) {
		// Postgres text cannot hold either; refusing here beats a 500 from the database.
		writeError(w, http.StatusBadRequest, "reason must be text without NUL bytes")
		return
	}
	until = until.UTC().Truncate(time.Second)
	if err := s.Silencer.Silence(r.Context(), name, until, body.Reason); err != nil {
		s.silenceFailed(w, r, name, err)
		return
	}
	s.Logger.Info("app silenced", "app", name, "until", until, "token", tokenName(r))
	writeJSON(w, http.StatusOK, map[string]any{"app": name, "silenced_until": utc(until), "reason": body.Reason})
}

func (s *server) unsilence(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.knownApp(w, name) || !s.canSilence(w) {
		return
	}
	if _, err := s.Silencer.Unsilence(r.Context(), name); err != nil {
		s.silenceFailed(w, r, name, err)
		return
	}
	s.Logger.Info("app unsilenced", "app", name, "token", tokenName(r))
	writeJSON(w, http.StatusOK, map[string]any{"app": name, "silenced_until": nil})
}

func tokenName(r *http.Request) string {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info.token
	}
	return ""
}

func (s *server) canSilence(w http.ResponseWriter) bool {
	if s.Silencer == nil {
		writeError(w, http.StatusServiceUnavailable, "this server cannot silence apps: it runs without a poller")
		return false
	}
	return true
}

func (s *server) silenceFailed(w http.ResponseWriter, r *http.Request, name string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no app named %q", name))
		return
	}
	s.internalError(w, r, err)
}
