package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/history"
)

// historyCmd reads the database directly. What a valid question is, and the answer's shape
// (the JSON of GET /api/v1/apps/{name}/history), are internal/history's, as for the API.
type historyCmd struct {
	App    string `help:"The app (required)." placeholder:"NAME"`
	Since  string `help:"How far back, like 24h or 7d (default 24h)." placeholder:"7d"`
	From   string `help:"Start of the range, RFC 3339." placeholder:"T"`
	To     string `help:"End of the range, RFC 3339 (default now)." placeholder:"T"`
	Step   string `help:"Bucket size: 1m, 5m, 15m, 1h, 6h or 1d (default: raw snapshots)." placeholder:"1h"`
	Format string `default:"table" help:"table, csv or json (default ${default})." placeholder:"FORMAT"`
}

func (c *historyCmd) Run(ctx context.Context, e *env) error {
	if c.App == "" {
		return usagef("history needs --app NAME")
	}
	if err := checkFormat(c.Format); err != nil {
		return err
	}
	start, end, err := c.span(time.Now().UTC())
	if err != nil {
		return err
	}
	s, err := e.open(ctx, need{store: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.knownApp(ctx, c.App); err != nil {
		return err
	}
	amount := "" // an app no longer configured keeps its history, of total_balance
	if a, ok := s.cfg.App(c.App); ok {
		amount = a.Amount
	}
	ans, err := history.Read(ctx, s.store, history.Question{App: c.App, Amount: amount, From: start, To: end, Step: c.Step})
	if errors.Is(err, history.ErrInvalid) {
		return usagef("%s", strings.TrimPrefix(err.Error(), history.ErrInvalid.Error()+": "))
	}
	if err != nil {
		return err
	}
	if c.Format == "json" {
		return writeJSON(e, ans)
	}
	return writeRows(e, c.Format, append([][]string{ans.Header}, ans.Rows()...))
}

// span is the range the flags ask for: the last day by default.
func (c *historyCmd) span(now time.Time) (start, end time.Time, err error) {
	end, start = now, now.Add(-history.DefaultRange)
	if c.Since != "" && c.From != "" {
		return start, end, usagef("use --since or --from/--to, not both")
	}
	if c.Since != "" {
		d, err := config.ParseDuration(c.Since)
		if err != nil {
			return start, end, usagef("--since: %v", err)
		}
		start = now.Add(-d)
	}
	if c.From != "" {
		t, err := time.Parse(time.RFC3339, c.From)
		if err != nil {
			return start, end, usagef("--from must be an RFC 3339 time, like 2026-11-26T10:00:00Z")
		}
		start = t.UTC()
	}
	if c.To != "" {
		t, err := time.Parse(time.RFC3339, c.To)
		if err != nil {
			return start, end, usagef("--to must be an RFC 3339 time, like 2026-11-26T10:00:00Z")
		}
		end = t.UTC()
	}
	return start, end, nil
}
