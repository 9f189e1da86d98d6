package evaluate

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// ledger books what changed since the app's previous snapshot and reads the spend as of this
// one. prev is the newest snapshot before snap (nil for the app's first).
func ledger(ctx context.Context, tx *store.AppTx, app config.App, prev *balance.Snapshot, snap balance.Snapshot) (spend.Stats, spend.Delta, error) {
	in, err := spendInputsAt(ctx, tx, app, snap.PolledAt)
	if err != nil {
		return spend.Stats{}, spend.Delta{}, err
	}
	// The usual rate is the one before this snapshot: the interval must not explain itself.
	prior := in
	if n := len(in.Recent); n > 0 && in.Recent[n-1].PolledAt.Equal(snap.PolledAt.UTC()) {
		prior.Recent = in.Recent[:n-1]
	}
	before := spend.Compute(prior)
	entry := store.LedgerEntry{At: snap.PolledAt, Opening: snap.TotalBalance, Closing: snap.TotalBalance}
	if prev != nil {
		// What the app would usually have spent in this interval: gift credit that fell by more
		// than that, with the paid balance holding, expired.
		var explainable *decimal.Decimal
		if rate := usualRate(before); rate != nil {
			x := rate.Mul(decimal.NewFromInt(snap.PolledAt.Sub(prev.PolledAt).Microseconds())).
				DivRound(decimal.NewFromInt(time.Hour.Microseconds()), 4)
			explainable = &x
		}
		entry.Opening = prev.TotalBalance
		entry.Delta = spend.Between(*prev, snap, explainable)
	} else {
		entry.Delta = spend.Between(snap, snap, nil)
	}
	if err := tx.Book(ctx, entry); err != nil {
		return spend.Stats{}, spend.Delta{}, err
	}
	in.Hours = withSpent(in.Hours, snap.PolledAt.UTC().Truncate(time.Hour), entry.Delta.Spent)
	return spend.Compute(in), entry.Delta, nil
}

// spendQuery is the spend read an evaluation of app at at asks for: the one the group commit
// reads ahead (evaluate.apply) and the one AppTx.SpendInputs is asked (spendInputsAt), which
// must be the same for the read-ahead to serve.
func spendQuery(app config.App, at time.Time) store.SpendQuery {
	return store.SpendQuery{Now: at, Window: app.Drain.Window, Day: DayStart(at, app.SpendDay)}
}

// spendInputsAt reads app's spend inputs as of at under tx's lock.
func spendInputsAt(ctx context.Context, tx *store.AppTx, app config.App, at time.Time) (spend.Inputs, error) {
	q := spendQuery(app, at)
	return tx.SpendInputs(ctx, q.Now, q.Window, q.Day)
}

// usualRate is the rate gift expiry is judged against: the 24 h rate, or the 1 h rate while
// the app is younger than a day. Nil when there is no usual rate to judge by: under an hour
// of history, or nothing spent (then only a drop of gift credit to zero is an expiry, and a
// partial drop is spend: EngageLab may well spend gift credit first).
func usualRate(s spend.Stats) *decimal.Decimal {
	rate := s.Rate1h
	if s.History >= 24*time.Hour {
		rate = s.Rate24h
	}
	if s.History < time.Hour || rate == nil || !rate.IsPositive() {
		return nil
	}
	return rate
}

// withSpent adds spent to the ledger hour at bucket, as the booking just did in the database.
func withSpent(hours []spend.Hour, bucket time.Time, spent decimal.Decimal) []spend.Hour {
	if n := len(hours); n > 0 && hours[n-1].Bucket.Equal(bucket) {
		hours[n-1].Spent = hours[n-1].Spent.Add(spent)
		return hours
	}
	return append(hours, spend.Hour{Bucket: bucket, Spent: spent})
}

// DayStart is the start of the day of t in loc (UTC when nil): where spent_today and the
// daily_spend alert begin counting.
func DayStart(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// spendNow is the spend read in one evaluation: the stats as of now and, after a snapshot,
// the change it booked.
type spendNow struct {
	stats spend.Stats
	delta spend.Delta
}

// Floor is where an app's money runs dry: zero, or the overdraft quota below it.
func Floor(app config.App) decimal.Decimal {
	if app.OverdraftLimit != nil {
		return app.OverdraftLimit.Neg()
	}
	return decimal.Zero
}

// RunwayOf is the app's runway from stats and its latest snapshot.
func RunwayOf(app config.App, stats spend.Stats, latest *balance.Snapshot) spend.Runway {
	if latest == nil {
		return spend.Runway{}
	}
	return stats.RunwayOf(latest.Amount(app.Amount), Floor(app), app.Runway.MinHistory)
}

// view is what the alert rules read of the spend.
func (s *spendNow) view(app config.App, latest *balance.Snapshot) *alert.Spend {
	return &alert.Spend{
		Runway: RunwayOf(app, s.stats, latest), History: s.stats.History,
		WindowSpent: s.stats.WindowSpent, Typical: s.stats.Typical, SpentToday: s.stats.SpentToday,
	}
}

// balanceAlert is the "alert" of non-alert events in the event log.
const balanceAlert alert.Kind = "balance"

// Non-alert event names, as a notifier's `events:` lists them.
const (
	eventTopup       = "topup"
	eventGiftExpired = "gift_expired"
)

// balanceEvents are the top-up and gift expiry a snapshot's change shows, as events that
// are not alerts: no level, no state, sent only to notifiers that opt in.
func balanceEvents(d spend.Delta, at time.Time, silenced bool) []alert.Event {
	var out []alert.Event
	if d.ToppedUp.IsPositive() {
		out = append(out, alert.Event{Type: alert.Topup, Alert: balanceAlert,
			Level: alert.Level{Rule: eventTopup, Severity: alert.SeverityInfo}, Since: at, At: at, Silenced: silenced})
	}
	if d.GiftExpired.IsPositive() {
		out = append(out, alert.Event{Type: alert.GiftExpired, Alert: balanceAlert,
			Level: alert.Level{Rule: eventGiftExpired, Severity: alert.SeverityInfo}, Since: at, At: at, Silenced: silenced})
	}
	return out
}
