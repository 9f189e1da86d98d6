package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// checkConfigCmd does not touch the database.
type checkConfigCmd struct{}

func (checkConfigCmd) Run(ctx context.Context, e *env) error {
	s, err := e.open(ctx, need{})
	if err != nil {
		return err
	}
	cfg := s.cfg
	if err := app.Check(cfg); err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "config %s is valid: %d apps, %d notifiers\n\n", config.Resolve(e.configPath, e.getenv), len(cfg.Apps), len(cfg.Notifiers))
	fmt.Fprintln(w, "APP\tSCHEDULE\tAMOUNT\tWARNING\tCRITICAL\tSTALE AFTER\tNOTIFY")
	for _, a := range cfg.Apps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Schedule, a.Amount, a.Warning.StringFixed(4),
			a.Critical.StringFixed(4), a.StaleAfter, strings.Join(a.Notify, ","))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "NOTIFIER\tTYPE\tMIN SEVERITY")
	for _, n := range cfg.Notifiers {
		fmt.Fprintf(w, "%s\t%s\t%s\n", n.Name, n.Type, n.MinSeverity)
	}
	w.Flush()
	for _, n := range cfg.Notifiers {
		if n.Type == "slack" && n.WebhookURL != "" {
			fmt.Fprintf(e.stdout, "note: %s is a Slack incoming webhook, which cannot reply in threads (thread: true needs token and channel)\n", n.Name)
		}
	}
	fmt.Fprintf(e.stdout, "\n# effective configuration (defaults applied, secrets redacted)\n%s", cfg.Redacted())
	return nil
}
