package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
)

type pollOnceCmd struct {
	App            []string      `sep:"none" help:"App to poll (repeatable; default all)." placeholder:"NAME"`
	DeliverTimeout time.Duration `default:"30s" help:"How long to retry delivering the notifications this poll caused (default ${default})." placeholder:"DURATION"`
}

// Run applies migrations first, like serve.
func (c *pollOnceCmd) Run(ctx context.Context, e *env) error {
	s, err := e.open(ctx, need{app: true, migrate: true, apps: c.App})
	if err != nil {
		return err
	}
	defer s.Close()
	results, pending, err := s.app.PollOnce(ctx, c.DeliverTimeout)
	printPolls(e, results)
	if err != nil {
		return err
	}
	var eventIDs []string
	for _, r := range results {
		for _, ev := range r.Events {
			eventIDs = append(eventIDs, ev.ID)
		}
	}
	// A permanent refusal is undelivered too, though nothing will retry it.
	var problems []string
	if len(eventIDs) > 0 {
		rows, err := s.store.Notifications(ctx, eventIDs, len(eventIDs)*len(s.notifiers)+1)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if row.Status == "dead" {
				problems = append(problems, fmt.Sprintf("notifier %s refused the %s notification of %s for good (%s)", row.Notifier, row.Type, row.App, row.LastError))
			}
		}
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d polls failed", failed, len(results)))
	}
	if pending > 0 {
		what := fmt.Sprintf("%d notifications are still undelivered after %s; they stay", pending, c.DeliverTimeout)
		if pending == 1 {
			what = fmt.Sprintf("1 notification is still undelivered after %s; it stays", c.DeliverTimeout)
		}
		problems = append(problems, what+" in the outbox for `monitor serve` to deliver")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func printPolls(e *env, results []poller.Result) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "APP\tRESULT\tCURRENCY\tBALANCE\tGIFT\tTOTAL\tEVENTS")
	sort.SliceStable(results, func(i, j int) bool { return results[i].App < results[j].App })
	for _, r := range results {
		var evs []string
		for _, ev := range r.Events {
			s := fmt.Sprintf("%s %s/%s", ev.Type, ev.Rule, ev.Severity)
			if ev.Silenced {
				s += " (silenced)"
			}
			evs = append(evs, s)
		}
		events := strings.Join(evs, "; ")
		switch {
		case r.Snapshot != nil:
			s := r.Snapshot
			result := "ok"
			if r.Err != nil {
				result = "not stored"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.App, result, s.Currency, s.Balance.StringFixed(4), s.GiftBalance.StringFixed(4), s.TotalBalance.StringFixed(4), events)
		case r.Failure != nil:
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t-\t%s\n", r.App, describeFailure(r.Failure), events)
		default:
			fmt.Fprintf(w, "%s\terror: %v\t-\t-\t-\t-\t%s\n", r.App, r.Err, events)
		}
	}
	w.Flush()
}

func describeFailure(f *balance.Failure) string {
	s := string(f.Kind)
	if f.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d", f.HTTPStatus)
		if f.Code != 0 {
			s += fmt.Sprintf(", code %d", f.Code)
		}
		s += ")"
	}
	return s
}
