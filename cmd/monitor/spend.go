package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/history"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// cmdSpend is `monitor spend`: the finance report of the spend ledger.
func cmdSpend(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("spend", e)
	var apps multiFlag
	fs.Var(&apps, "app", "app to report (repeatable; default all configured)")
	since := fs.String("since", "", "how far back, like 30d or 12h (default 30d)")
	from := fs.String("from", "", "start, RFC 3339 (with --to)")
	to := fs.String("to", "", "end, RFC 3339 (default now)")
	step := fs.String("step", "1d", "bucket size: 1h or 1d")
	format := fs.String("format", "table", "table, csv or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usageErr("--format must be table, csv or json, not %q", *format)
	}
	if *since != "" && (*from != "" || *to != "") {
		return usageErr("use --since or --from/--to, not both")
	}
	now := time.Now().UTC()
	start, end := now.Add(-30*24*time.Hour), now
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
	// The range and step are checked before the database is opened.
	if _, err := (history.LedgerQuestion{From: start, To: end, Step: *step}).Check(); err != nil {
		return usageErr("%s", strings.TrimPrefix(err.Error(), history.ErrInvalid.Error()+": "))
	}
	cfg, st, err := configured(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(apps) == 0 {
		for _, a := range cfg.Apps {
			apps = append(apps, a.Name)
		}
	}
	for _, name := range apps {
		// An app no longer configured keeps its ledger; a name known nowhere is a typo.
		if _, ok := cfg.App(name); !ok {
			if _, err := st.AppID(ctx, name); errors.Is(err, store.ErrNotFound) {
				return usageErr("no app named %q in the config or the database", name)
			}
		}
	}
	return spendReport(ctx, st, apps, start, end, *step, *format, e.stdout)
}

// spendTotal is one app's line of totals: the opening total of its first bucket, the sums,
// and the closing total of its last bucket, so that, exactly,
// first_total + topped_up − spent − gift_expired = last_total.
type spendTotal struct {
	Spent       string `json:"spent"`
	ToppedUp    string `json:"topped_up"`
	GiftExpired string `json:"gift_expired"`
	FirstTotal  string `json:"first_total"`
	LastTotal   string `json:"last_total"`
}

type spendPoint struct {
	T string `json:"t"`
	spendTotal
}

type spendApp struct {
	App    string       `json:"app"`
	Points []spendPoint `json:"points"`
	Total  *spendTotal  `json:"total"` // null when the range holds no ledger row
}

// spendReport writes the spend ledger of apps in [from, to) by step ("1h" or "1d"), with a
// line of totals per app, as a table, CSV or JSON. An app without ledger rows in the range
// (or not in the database yet) has no points and no totals.
func spendReport(ctx context.Context, st *store.Store, apps []string, from, to time.Time, step, format string, w io.Writer) error {
	report := make([]spendApp, 0, len(apps))
	for _, name := range apps {
		ans, err := history.ReadLedger(ctx, st, history.LedgerQuestion{App: name, From: from, To: to, Step: step})
		if err != nil {
			return err
		}
		pts := ans.Raw
		a := spendApp{App: name, Points: make([]spendPoint, 0, len(pts))}
		spent, up, expired := decimal.Zero, decimal.Zero, decimal.Zero
		for _, p := range pts {
			a.Points = append(a.Points, spendPoint{T: rfcTime(p.T), spendTotal: spendTotal{
				Spent: p.Spent.StringFixed(4), ToppedUp: p.ToppedUp.StringFixed(4), GiftExpired: p.GiftExpired.StringFixed(4),
				FirstTotal: p.FirstTotal.StringFixed(4), LastTotal: p.LastTotal.StringFixed(4)}})
			spent, up, expired = spent.Add(p.Spent), up.Add(p.ToppedUp), expired.Add(p.GiftExpired)
		}
		if n := len(pts); n > 0 {
			a.Total = &spendTotal{Spent: spent.StringFixed(4), ToppedUp: up.StringFixed(4), GiftExpired: expired.StringFixed(4),
				FirstTotal: pts[0].FirstTotal.StringFixed(4), LastTotal: pts[n-1].LastTotal.StringFixed(4)}
		}
		report = append(report, a)
	}

	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"apps": report})
	}
	header := append([]string{"app"}, history.LedgerHeader...)
	var rows [][]string
	for _, a := range report {
		for _, p := range a.Points {
			rows = append(rows, []string{a.App, p.T, p.Spent, p.ToppedUp, p.GiftExpired, p.FirstTotal, p.LastTotal})
		}
		if t := a.Total; t != nil {
			rows = append(rows, []string{a.App, "total", t.Spent, t.ToppedUp, t.GiftExpired, t.FirstTotal, t.LastTotal})
		}
	}
	if format == "csv" {
		cw := csv.NewWriter(w)
		_ = cw.Write(header)
		_ = cw.WriteAll(rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t"))+"\t")
	for i, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
		if r[1] == "total" && i < len(rows)-1 {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t") // a blank line between apps
		}
	}
	return tw.Flush()
}
