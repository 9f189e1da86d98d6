package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/history"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func cmdHistory(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("history", e)
	app := fs.String("app", "", "app name (required)")
	since := fs.String("since", "", "how far back, like 24h or 7d (default 24h)")
	from := fs.String("from", "", "start, RFC 3339 (with --to)")
	to := fs.String("to", "", "end, RFC 3339 (default now)")
	step := fs.String("step", "", "bucket size: 1m 5m 15m 1h 6h 1d (default: raw snapshots)")
	format := fs.String("format", "table", "table, csv or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *app == "" {
		return usageErr("history needs --app NAME")
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usageErr("--format must be table, csv or json, not %q", *format)
	}
	now := time.Now().UTC()
	end, start := now, now.Add(-24*time.Hour)
	if *since != "" && *from != "" {
		return usageErr("use --since or --from/--to, not both")
	}
	if *since != "" {
		d, err := config.ParseDuration(*since)
		if err != nil {
			return usageErr("--since: %v", err)
		}
		start = now.Add(-d)
	}
	if *from != "" {
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			return usageErr("--from must be an RFC 3339 time, like 2026-11-26T10:00:00Z")
		}
		start = t
	}
	if *to != "" {
		t, err := time.Parse(time.RFC3339, *to)
		if err != nil {
			return usageErr("--to must be an RFC 3339 time, like 2026-11-26T10:00:00Z")
		}
		end = t
	}
	cfg, st, err := configured(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	amount := "total_balance" // an app no longer configured keeps its history
	if a, ok := cfg.App(*app); ok {
		amount = a.Amount
	} else if _, err := st.AppID(ctx, *app); errors.Is(err, store.ErrNotFound) {
		return usageErr("no app named %q in the config or the database", *app)
	}
	ans, err := history.Read(ctx, st, history.Question{App: *app, Amount: amount, From: start, To: end, Step: *step})
	if errors.Is(err, history.ErrInvalid) {
		return usageErr("%s", strings.TrimPrefix(err.Error(), history.ErrInvalid.Error()+": "))
	}
	if err != nil {
		return err
	}
	if *format == "json" {
		return writeJSON(e, ans)
	}
	return writeRows(e, *format, ans.Header, ans.Rows(), "points")
}

// writeRows prints rows as a table, CSV, or JSON ({"points": [{header: value}]}), amounts as
// strings so nothing passes through float.
func writeRows(e *env, format string, header []string, rows [][]string, key string) error {
	switch format {
	case "csv":
		w := csv.NewWriter(e.stdout)
		_ = w.Write(header)
		_ = w.WriteAll(rows)
		return w.Error()
	case "json":
		items := make([]map[string]string, len(rows))
		for i, r := range rows {
			items[i] = map[string]string{}
			for j, h := range header {
				items[i][h] = r[j]
			}
		}
		return writeJSON(e, map[string]any{key: items})
	default:
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, strings.ToUpper(strings.Join(header, "\t"))+"\t")
		for _, r := range rows {
			fmt.Fprintln(w, strings.Join(r, "\t")+"\t")
		}
		return w.Flush()
	}
}

func cmdAlerts(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("alerts", e)
	app := fs.String("app", "", "only this app")
	all := fs.Bool("all", false, "show the event log (with delivery results) instead of firing alerts")
	limit := fs.Int("limit", 50, "with --all: how many events")
	format := fs.String("format", "table", "table, csv or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return usageErr("--limit must be between 1 and 10000, not %d", *limit)
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usageErr("--format must be table, csv or json, not %q", *format)
	}
	_, st, err := configured(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if *app != "" {
		if _, err := st.AppID(ctx, *app); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no app named %q in the database", *app)
		} else if err != nil {
			return err
		}
	}
	if !*all {
		firing, err := st.FiringAlerts(ctx, *app)
		if err != nil {
			return err
		}
		return writeFiring(e, *format, firing)
	}
	events, err := st.Events(ctx, *app, time.Time{}, *limit)
	if err != nil {
		return err
	}
	return writeEvents(e, *format, events)
}

func rfcTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeFiring prints firing alerts; the JSON is GET /api/v1/alerts's.
func writeFiring(e *env, format string, firing []store.FiringAlert) error {
	switch format {
	case "json":
		return writeJSON(e, map[string]any{"alerts": httpapi.Alerts(firing)})
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
		return nil
	}
	fmt.Fprintln(w, "APP\tALERT\tRULE\tSEVERITY\tSINCE\tFOR")
	for _, f := range firing {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.App, f.Alert, f.Rule, f.Severity, rfcTime(f.Since), time.Since(f.Since).Round(time.Second))
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

// silencer opens the service for one app: it silences under the same row lock as serve.
func silencer(ctx context.Context, e *env, cfgPath, name string) (*app.App, error) {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.App(name); !ok {
		return nil, usageErr("no app named %q in the config", name)
	}
	return app.Open(ctx, cfg, app.OpenOptions{Logger: e.logger, NoMigrate: true, Apps: []string{name}})
}

func cmdSilence(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("silence", e)
	appName := fs.String("app", "", "app name (required)")
	forDur := fs.String("for", "", "how long, like 2h or 1d (required)")
	reason := fs.String("reason", "", "why (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *appName == "" || *forDur == "" || strings.TrimSpace(*reason) == "" {
		return usageErr("silence needs --app NAME --for DURATION --reason TEXT")
	}
	d, err := config.ParseDuration(*forDur)
	if err != nil || d <= 0 {
		return usageErr("--for must be a positive duration like 2h or 1d")
	}
	a, err := silencer(ctx, e, *cfgPath, *appName)
	if err != nil {
		return err
	}
	defer a.Close()
	until := time.Now().Add(d).UTC().Truncate(time.Second)
	if err := a.Silence(ctx, *appName, until, *reason); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s silenced until %s: %s\n", *appName, until.Format(time.RFC3339), *reason)
	return nil
}

func cmdUnsilence(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("unsilence", e)
	appName := fs.String("app", "", "app name (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *appName == "" {
		return usageErr("unsilence needs --app NAME")
	}
	a, err := silencer(ctx, e, *cfgPath, *appName)
	if err != nil {
		return err
	}
	defer a.Close()
	events, err := a.Evaluator.Unsilence(ctx, *appName)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is no longer silenced", *appName)
	switch n := len(events); {
	case n == 1:
		fmt.Fprint(e.stdout, "; 1 alert still firing: a reminder is queued for `monitor serve` to deliver")
	case n > 1:
		fmt.Fprintf(e.stdout, "; %d alerts still firing: reminders are queued for `monitor serve` to deliver", n)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
