package httpapi

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/history"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

type topupJSON struct {
	At     utc    `json:"at"`
	Amount string `json:"amount"`
}

type spendJSON struct {
	BurnRate1h    *string    `json:"burn_rate_1h"`
	BurnRate24h   *string    `json:"burn_rate_24h"`
	BurnRate7d    *string    `json:"burn_rate_7d"`
	RunwaySeconds *int64     `json:"runway_seconds"` // null: unknown, or infinite (nothing spent)
	RunsDryAt     *utc       `json:"runs_dry_at"`
	SpentToday    string     `json:"spent_today"`
	LastTopup     *topupJSON `json:"last_topup"`
}

func optRate(d *decimal.Decimal) *string {
	if d == nil {
		return nil
	}
	s := amount(*d)
	return &s
}

// appsSpend computes the spend object of every configured app as of now, from the ledger and
// the last hour of snapshots (store.SpendInputsMany: a round trip per 500 apps, no scan of
// older snapshots), and the running totals in sums.
func (s *server) appsSpend(ctx context.Context, latest map[string]*balance.Snapshot, sums map[string]store.SpendSummary, now time.Time) (map[string]spendJSON, error) {
	out := make(map[string]spendJSON, len(s.Config.Config.Apps))
	var qs []store.SpendQuery
	var computed []config.App
	for _, app := range s.Config.Config.Apps {
		sj := spendJSON{SpentToday: amount(decimal.Zero)}
		sum := sums[app.Name]
		if !sum.LastTopupAt.IsZero() {
			sj.LastTopup = &topupJSON{At: utc(sum.LastTopupAt), Amount: amount(sum.LastTopupAmount)}
		}
		out[app.Name] = sj
		if latest[app.Name] != nil && sum.AppID != 0 {
			qs = append(qs, store.SpendQuery{AppID: sum.AppID, Now: now, Window: cmp.Or(app.Drain.Window, time.Hour),
				Day: evaluate.DayStart(now, app.SpendDay)})
			computed = append(computed, app)
		}
	}
	ins, err := s.Store.SpendInputsMany(ctx, qs)
	if err != nil {
		return nil, err
	}
	for i, app := range computed {
		sj := out[app.Name]
		st := spend.Compute(ins[i])
		sj.BurnRate1h, sj.BurnRate24h, sj.BurnRate7d = optRate(st.Rate1h), optRate(st.Rate24h), optRate(st.Rate7d)
		sj.SpentToday = amount(st.SpentToday)
		// The runway the runway alert would see now.
		if rw := evaluate.RunwayOf(app, st, latest[app.Name]); rw.Known && !rw.Infinite {
			secs := int64(rw.Left / time.Second)
			sj.RunwaySeconds = &secs
			sj.RunsDryAt = optTime(now.Add(rw.Left))
		}
		out[app.Name] = sj
	}
	return out, nil
}

func (s *server) ledger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.Config.Config.App(name); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no app named %q", name))
		return
	}
	q := r.URL.Query()
	from, to, asCSV, ok := s.rangeOf(w, r)
	if !ok {
		return
	}
	out, err := history.ReadLedger(r.Context(), s.Store, history.LedgerQuestion{App: name, From: from, To: to, Step: q.Get("step")})
	s.answer(w, r, out, err, asCSV, name+"-ledger.csv")
}
