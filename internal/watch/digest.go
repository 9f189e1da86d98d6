package watch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// DigestID is the event id of the digest of date ("2026-11-27"): derived from the date, so
// that every replica and every restart names the same day's digest alike, and the event log's
// primary key lets exactly one of them queue it.
func DigestID(date string) string { return "dig_" + date }

// startupPolls is, beyond engagelab.timeout, how long after its start a process waits before
// it makes a digest: the start-up polls of every app finish within it.
const startupPolls = 5 * time.Second

// Digest queues the day's digest if it is due: from digest.at in digest.timezone until the
// end of that day. A process that was down at digest.at sends the day's digest when it comes
// up later that day, once its start-up polls are done; days it missed entirely are not made up. It reports whether this call
// queued it (false when it is not due yet or was already queued, by anyone).
func (w *Watcher) Digest(ctx context.Context) (bool, error) {
	cfg := w.config() // one config for the whole digest, whatever a reload does meanwhile
	dg := cfg.Digest
	if dg == nil {
		return false, nil
	}
	now := w.cfg.Clock()
	if now.Before(w.cfg.Started.Add(cfg.EngageLab.Timeout + startupPolls)) {
		// A digest made at start-up would show the apps as they were before the start-up polls.
		return false, nil
	}
	local := now.In(dg.Timezone)
	y, m, d := local.Date()
	if now.Before(time.Date(y, m, d, dg.Hour, dg.Minute, 0, 0, dg.Timezone)) {
		return false, nil
	}
	date := local.Format(time.DateOnly)
	if w.digested == date {
		return false, nil
	}
	id := DigestID(date)
	// Reading every app's spend is not free: look first whether another replica did it.
	done, err := w.cfg.Store.EventExists(ctx, id)
	if err != nil {
		return false, err
	}
	if done {
		w.digested = date
		return false, nil
	}
	ev, err := w.buildDigest(ctx, cfg, now, date)
	if err != nil {
		return false, err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("render digest: %w", err)
	}
	queued, err := w.cfg.Store.QueueMonitorEvent(ctx, store.MonitorEvent{
		ID: id, Type: notify.TypeDigest, At: now, Payload: payload, Notifiers: dg.Notify})
	if err != nil {
		return false, err
	}
	w.digested = date
	if queued {
		w.cfg.Logger.Info("daily digest queued", "component", "digest", "date", date, "notifiers", dg.Notify)
	}
	return queued, nil
}

// buildDigest summarises every configured app as of now: its latest amounts, what it spent in
// the last 24 h, its burn rate and runway as the API shows them, the alerts firing, and the
// notifications that died in the last 24 h.
func (w *Watcher) buildDigest(ctx context.Context, cfg *config.Config, now time.Time, date string) (notify.Event, error) {
	st := w.cfg.Store
	from := now.Add(-24 * time.Hour)
	statuses, err := st.AppStatuses(ctx)
	if err != nil {
		return notify.Event{}, err
	}
	byName := make(map[string]store.AppStatus, len(statuses))
	for _, s := range statuses {
		byName[s.Name] = s
	}
	sums, err := st.SpendSummaries(ctx)
	if err != nil {
		return notify.Event{}, err
	}
	dead, err := st.DeadSince(ctx, from)
	if err != nil {
		return notify.Event{}, err
	}

	d := &notify.Digest{Date: date, Timezone: cfg.Digest.Timezone.String(), From: from.UTC(), To: now.UTC(),
		Apps: make([]notify.DigestApp, len(cfg.Apps)), Dead: []notify.DigestDead{}}
	var qs []store.SpendQuery
	var withSpend []int
	for i, app := range cfg.Apps {
		s := byName[app.Name]
		a := notify.DigestApp{Name: app.Name, Firing: []notify.DigestAlert{}}
		if sn := s.Latest; sn != nil {
			a.Currency = sn.Currency
			a.Balance, a.GiftBalance, a.TotalBalance = fixed(sn.Balance), fixed(sn.GiftBalance), fixed(sn.TotalBalance)
			at := sn.PolledAt.UTC()
			a.PolledAt = &at
			if id := sums[app.Name].AppID; id != 0 {
				qs = append(qs, store.SpendQuery{AppID: id, Now: now, Window: cmp.Or(app.Drain.Window, time.Hour),
					Day: evaluate.DayStart(now, app.SpendDay)})
				withSpend = append(withSpend, i)
			}
		}
		for _, f := range s.Firing {
			a.Firing = append(a.Firing, notify.DigestAlert{Alert: f.Alert, Rule: f.Rule, Severity: f.Severity, Since: f.Since.UTC()})
		}
		d.Firing += len(a.Firing)
		d.Apps[i] = a
	}
	ins, err := st.SpendInputsMany(ctx, qs)
	if err != nil {
		return notify.Event{}, err
	}
	for k, i := range withSpend {
		app, a := cfg.Apps[i], &d.Apps[i]
		in := ins[k]
		stats := spend.Compute(in)
		if stats.History > 0 {
			a.Spent24h = fixed(spent24h(in, now))
		}
		if stats.Rate24h != nil && stats.History > 0 {
			a.BurnRate24h = fixed(*stats.Rate24h)
		}
		switch rw := evaluate.RunwayOf(app, stats, byName[app.Name].Latest); {
		case rw.Known && rw.Infinite:
			a.NothingSpent = true
		case rw.Known:
			secs := int64(rw.Left / time.Second)
			at := now.Add(rw.Left).UTC()
			a.RunwaySeconds, a.RunsDryAt = &secs, &at
		}
	}
	index := make(map[string]int, len(cfg.Apps))
	for i, a := range cfg.Apps {
		index[a.Name] = i
	}
	for _, o := range dead {
		d.Dead = append(d.Dead, notify.DigestDead{EventID: o.EventID, App: o.App, Notifier: o.Notifier, Type: o.Type, Error: o.LastError, At: o.FinishedAt})
		if i, ok := index[o.App]; ok {
			d.Apps[i].Dead++
		}
	}
	return notify.Event{
		ID:         DigestID(date),
		Type:       notify.TypeDigest,
		ObservedAt: now.UTC(),
		Since:      from.UTC(),
		Message:    notify.DigestSummary(d),
		Digest:     d,
	}, nil
}

// spent24h is the spend of the ledger hours that began in the 24 h before now (the hour 24 h
// ago included, as the 24 h burn rate counts them).
func spent24h(in spend.Inputs, now time.Time) decimal.Decimal {
	from := now.Add(-24 * time.Hour).UTC().Truncate(time.Hour)
	sum := decimal.Zero
	for _, h := range in.Hours {
		if !h.Bucket.Before(from) {
			sum = sum.Add(h.Spent)
		}
	}
	return sum
}

func fixed(d decimal.Decimal) *string {
	s := d.StringFixed(4)
	return &s
}
