package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// alertsCmd reads the database directly. Its JSON has the shapes of GET /api/v1/alerts (plus
// the silences) and GET /api/v1/events.
type alertsCmd struct {
	App    string `help:"Only this app." placeholder:"NAME"`
	All    bool   `help:"Print the event log, with each notifier's delivery result, instead of firing alerts."`
	Limit  int    `default:"50" help:"With --all: how many events, newest first, 1 to 10000 (default ${default})." placeholder:"N"`
	Format string `default:"table" help:"table, csv or json (default ${default}); csv leaves out the silences." placeholder:"FORMAT"`
}

// silence is an app silenced now, in the API's silence answer's shape.
type silence struct {
	App    string    `json:"app"`
	Until  time.Time `json:"silenced_until"`
	Reason string    `json:"reason"`
}

func (c *alertsCmd) Run(ctx context.Context, e *env) error {
	if c.Limit < 1 || c.Limit > 10000 {
		return usagef("--limit must be between 1 and 10000, not %d", c.Limit)
	}
	if err := checkFormat(c.Format); err != nil {
		return err
	}
	s, err := e.open(ctx, need{store: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if c.App != "" {
		if err := s.knownApp(ctx, c.App); err != nil {
			return err
		}
	}
	if c.All {
		events, err := s.store.Events(ctx, c.App, time.Time{}, c.Limit)
		if err != nil {
			return err
		}
		return writeEvents(e, c.Format, events)
	}
	firing, err := s.store.FiringAlerts(ctx, c.App)
	if err != nil {
		return err
	}
	silences, err := silencedNow(ctx, s.store, c.App, time.Now())
	if err != nil {
		return err
	}
	return writeFiring(e, c.Format, firing, silences)
}

// silencedNow lists the apps (all, or app) whose silence has not ended at now.
func silencedNow(ctx context.Context, st *store.Store, app string, now time.Time) ([]silence, error) {
	apps, err := st.AppStatuses(ctx)
	if err != nil {
		return nil, err
	}
	out := []silence{}
	for _, a := range apps {
		if (app == "" || a.Name == app) && a.SilencedUntil.After(now) {
			out = append(out, silence{App: a.Name, Until: a.SilencedUntil.UTC(), Reason: a.SilenceReason})
		}
	}
	return out, nil
}

// writeFiring prints firing alerts and silences; the JSON is GET /api/v1/alerts's with the
// silences beside the alerts.
func writeFiring(e *env, format string, firing []store.FiringAlert, silences []silence) error {
	switch format {
	case "json":
		return writeJSON(e, map[string]any{"alerts": httpapi.Alerts(firing), "silences": silences})
	case "csv":
		w := csv.NewWriter(e.stdout)
		_ = w.Write([]string{"app", "alert", "rule", "severity", "since", "level_since"})
		for _, f := range firing {
			_ = w.Write([]string{f.App, f.Alert, f.Rule, f.Severity, rfcTime(f.Since), rfcTime(f.LevelSince)})
		}
		w.Flush()
		return w.Error()
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	if len(firing) == 0 {
		fmt.Fprintln(w, "no alerts firing")
	} else {
		fmt.Fprintln(w, "APP\tALERT\tRULE\tSEVERITY\tSINCE\tFOR")
		for _, f := range firing {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.App, f.Alert, f.Rule, f.Severity, rfcTime(f.Since), time.Since(f.Since).Round(time.Second))
		}
	}
	if len(silences) > 0 {
		fmt.Fprintln(w) // ends the alerts' column block: the silences align on their own
		fmt.Fprintln(w, "SILENCED\tUNTIL\tREASON")
		for _, s := range silences {
			fmt.Fprintf(w, "%s\t%s\t%s\n", s.App, rfcTime(s.Until), s.Reason)
		}
	}
	return nil
}

// writeEvents prints the event log; the JSON is GET /api/v1/events's, and table and CSV
// summarise the deliveries in one column.
func writeEvents(e *env, format string, events []store.Event) error {
	if format == "json" {
		return writeJSON(e, map[string]any{"events": httpapi.Events(events)})
	}
	summary := func(ev store.Event) string {
		var ds []string
		for _, d := range ev.Deliveries {
			s := d.Notifier + ": " + d.Status
			switch {
			case d.Status == "dead" && d.LastError != "":
				s += " (" + d.LastError + ")"
			case d.Status == "pending" && d.LastError != "":
				// Why it is still waiting: Slack down, a 429, a notifier this process lacks.
				s += fmt.Sprintf(" after %d attempts (%s)", d.Attempts, d.LastError)
			}
			ds = append(ds, s)
		}
		if ev.Silenced {
			ds = append(ds, "silenced")
		}
		if len(ds) == 0 {
			return "-"
		}
		return strings.Join(ds, "; ")
	}
	if format == "csv" {
		w := csv.NewWriter(e.stdout)
		_ = w.Write([]string{"at", "id", "app", "alert", "type", "rule", "severity", "since", "deliveries", "message"})
		for _, ev := range events {
			_ = w.Write([]string{rfcTime(ev.At), ev.ID, ev.App, ev.Alert, ev.Type, ev.Rule, ev.Severity, rfcTime(ev.Since), summary(ev), ev.Message})
		}
		w.Flush()
		return w.Error()
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	if len(events) == 0 {
		fmt.Fprintln(w, "no events")
		return nil
	}
	fmt.Fprintln(w, "TIME\tAPP\tTYPE\tRULE\tSEVERITY\tDELIVERIES\tMESSAGE")
	for _, ev := range events {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rfcTime(ev.At), ev.App, ev.Type, ev.Rule, ev.Severity, summary(ev), ev.Message)
	}
	return nil
}
