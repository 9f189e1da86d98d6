package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
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

// spendCmd is `monitor spend`: the finance report of the spend ledger. It reads the database
// directly.
type spendCmd struct {
	App    []string `sep:"none" help:"App to report (repeatable; default all configured)." placeholder:"NAME"`
	Since  string   `help:"How far back, like 30d or 12h (default 30d)." placeholder:"30d"`
	From   string   `help:"Start of the range, RFC 3339." placeholder:"T"`
	To     string   `help:"End of the range, RFC 3339 (default now)." placeholder:"T"`
	Step   string   `default:"1d" help:"Bucket size: 1h or 1d (default ${default})." placeholder:"STEP"`
	Format string   `default:"table" help:"table, csv or json (default ${default})." placeholder:"FORMAT"`
}

func (c *spendCmd) Run(ctx context.Context, e *env) error {
	if err := checkFormat(c.Format); err != nil {
		return err
	}
	if c.Since != "" && (c.From != "" || c.To != "") {
		return usagef("use --since or --from/--to, not both")
	}
	now := time.Now().UTC()
	start, end := now.Add(-30*24*time.Hour), now
	if c.Since != "" {
		d, err := config.ParseDuration(c.Since)
		if err != nil {
			return usagef("--since: %v", err)
		}
		start = now.Add(-d)
	}
	if c.From != "" {
		t, err := time.Parse(time.RFC3339, c.From)
		if err != nil {
			return usagef("--from must be an RFC 3339 time, like 2026-11-26T10:00:00Z")
		}
		start = t
	}
	if c.To != "" {
		t, err := time.Parse(time.RFC3339, c.To)
		if err != nil {
			return usagef("--to must be an RFC 3339 time, like 2026-11-26T10:00:00Z")
		}
		end = t
	}
	// The range and step are checked before the database is opened.
	if _, err := (history.LedgerQuestion{From: start, To: end, Step: c.Step}).Check(); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), history.ErrInvalid.Error()+": "))
	}
	s, err := e.open(ctx, need{store: true})
	if err != nil {
		return err
	}
	defer s.Close()
	apps := c.App
	if len(apps) == 0 {
		for _, a := range s.cfg.Apps {
			apps = append(apps, a.Name)
		}
	}
	for _, name := range apps {
		// An app no longer configured keeps its ledger; a name known nowhere is a typo.
		if err := s.knownApp(ctx, name); err != nil {
			return err
		}
	}
	return spendReport(ctx, s.store, apps, start, end, c.Step, c.Format, e.stdout)
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
