package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("serve", e)
	noMigrate := fs.Bool("no-migrate", false, "do not apply migrations at start")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	svc := app.New(app.Options{Config: cfg, Logger: e.logger, NoMigrate: *noMigrate})
	err = svc.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// configured loads the config and opens its database, failing fast.
func configured(ctx context.Context, e *env, cfgPath string) (*config.Config, *store.Store, error) {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// openStore connects once: verbs a person waits on fail fast instead of retrying.
func openStore(ctx context.Context, e *env, cfg *config.Config) (*store.Store, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return store.Open(cctx, cfg.Database.URL.Reveal(), e.logger)
}

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("migrate", e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, st, err := configured(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	cur, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "database is up to date (schema version %d)\n", cur)
		return nil
	}
	fmt.Fprintf(e.stdout, "applied %s; schema version %d\n", strings.Join(applied, ", "), cur)
	return nil
}

func cmdCheckConfig(_ context.Context, e *env, args []string) error {
	fs, cfgPath := flags("check-config", e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if err := app.Check(cfg); err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "config %s is valid: %d apps, %d notifiers\n\n", config.Resolve(*cfgPath, e.getenv), len(cfg.Apps), len(cfg.Notifiers))
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

func cmdPollOnce(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("poll-once", e)
	var apps multiFlag
	fs.Var(&apps, "app", "app to poll (repeatable; default all)")
	deliverTimeout := fs.Duration("deliver-timeout", 30*time.Second, "how long to retry delivering the notifications this poll caused")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	for _, name := range apps {
		if _, ok := cfg.App(name); !ok {
			return usageErr("poll-once: no app named %q in the config", name)
		}
	}
	a, err := app.Open(ctx, cfg, app.OpenOptions{Logger: e.logger, Apps: apps})
	if err != nil {
		return err
	}
	defer a.Close()
	st, notifiers := a.Store, a.Notifiers
	results, pending, err := a.PollOnce(ctx, *deliverTimeout)
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
		rows, err := st.Notifications(ctx, eventIDs, len(eventIDs)*len(notifiers)+1)
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
		what := fmt.Sprintf("%d notifications are still undelivered after %s; they stay", pending, *deliverTimeout)
		if pending == 1 {
			what = fmt.Sprintf("1 notification is still undelivered after %s; it stays", *deliverTimeout)
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

func cmdTestNotify(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flags("test-notify", e)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("test-notify needs exactly one notifier name, like `monitor test-notify ops`")
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	notifiers, err := app.BuildNotifiers(cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	n, ok := notifiers[rest[0]]
	if !ok {
		var names []string
		for name := range notifiers {
			names = append(names, name)
		}
		sort.Strings(names)
		return usageErr("no notifier named %q; configured: %s", rest[0], strings.Join(names, ", "))
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.Notify(sctx, notify.TestEvent(rest[0], time.Now())); err != nil {
		how := "a retryable failure"
		if notify.IsPermanent(err) {
			how = "a permanent refusal"
		}
		return fmt.Errorf("notifier %s: the test message was not delivered (%s): %v", rest[0], how, err)
	}
	fmt.Fprintf(e.stdout, "notifier %s: test message delivered\n", rest[0])
	return nil
}

func cmdSimulate(ctx context.Context, e *env, args []string) error {
	fs, _ := flags("simulate", e)
	listen := fs.String("listen", "127.0.0.1:8099", "address to serve the fake API on")
	scenarioPath := fs.String("scenario", "", "scenario file (default: the built-in demo)")
	secret := fs.String("webhook-secret", "", "whsec_ secret to verify the sink's Standard Webhooks signatures with (default: not checked)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var verifier *standardwebhooks.Webhook
	if *secret != "" {
		v, err := standardwebhooks.NewWebhook(*secret)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("simulate: --webhook-secret is not a whsec_ secret: %w", err)}
		}
		verifier = v
	}
	sc := fake.Demo()
	if *scenarioPath != "" {
		var err error
		if sc, err = fake.Load(*scenarioPath); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("simulate: listen on %s: %w", *listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", fake.New(sc, nil))
	// A webhook sink, so the demo shows the alerts it sends without any outside service.
	// Each alert is printed with its message and what became of its signature.
	mux.HandleFunc("POST /demo/webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var ev notify.Event
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		sig := "signature not checked"
		switch {
		case verifier == nil:
		case r.Header.Get("webhook-signature") == "":
			sig = "UNSIGNED"
		default:
			if err := verifier.Verify(body, r.Header); err != nil {
				sig = "signature INVALID: " + err.Error()
			} else {
				sig = "signature verified"
			}
		}
		fmt.Fprintf(e.stdout, "webhook received %s (%s): %s\n", ev.Type, sig, ev.Message)
		if strings.HasPrefix(sig, "signature INVALID") || sig == "UNSIGNED" {
			http.Error(w, sig, http.StatusUnauthorized)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "fake EngageLab balance API on http://%s/v1/balance with %d apps:\n", ln.Addr(), len(sc.Apps))
	for _, a := range sc.Apps {
		fmt.Fprintf(e.stdout, "  %-12s dev_key %s\n", a.Name, a.DevKey)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}
