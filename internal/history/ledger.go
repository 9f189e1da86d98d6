package history

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// LedgerSteps are the bucket sizes of the spend ledger: it keeps hours, and days add them up.
var LedgerSteps = map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour}

// LedgerStepList names LedgerSteps for people.
const LedgerStepList = "1h or 1d"

// LedgerHeader is the ledger's CSV header.
var LedgerHeader = []string{"t", "spent", "topped_up", "gift_expired", "first_total", "last_total"}

// LedgerQuestion asks for an app's spend ledger in [From, To) by Step ("" is 1h).
type LedgerQuestion struct {
	App      string
	From, To time.Time
	Step     string
}

// Check validates q and returns its step.
func (q LedgerQuestion) Check() (time.Duration, error) {
	if !q.From.Before(q.To) {
		return 0, invalid("the start of the range must be before its end")
	}
	v := cmp.Or(q.Step, "1h")
	step, ok := LedgerSteps[v]
	if !ok {
		return 0, invalid("step must be %s, not %s", LedgerStepList, q.Step)
	}
	if q.To.Sub(q.From)/step > MaxPoints {
		return 0, invalid("step %s gives more than %d buckets in the range: use a larger step or narrow the range", v, MaxPoints)
	}
	return step, nil
}

// LedgerPoint is one bucket of the ledger; amounts are strings with 4 places, and exactly
// first_total + topped_up − spent − gift_expired = last_total.
type LedgerPoint struct {
	T           UTC    `json:"t"`
	Spent       string `json:"spent"`
	ToppedUp    string `json:"topped_up"`
	GiftExpired string `json:"gift_expired"`
	FirstTotal  string `json:"first_total"`
	LastTotal   string `json:"last_total"`
}

// LedgerAnswer is the answer, in the shape of the API's JSON.
type LedgerAnswer struct {
	App    string        `json:"app"`
	From   UTC           `json:"from"`
	To     UTC           `json:"to"`
	Step   string        `json:"step"`
	Points []LedgerPoint `json:"points"`

	Raw []store.LedgerPoint `json:"-"` // the exact amounts, for sums
}

// ReadLedger answers q from the store's hourly ledger (never raw snapshots). An app that is
// configured but not stored yet has an empty ledger, not an error.
func ReadLedger(ctx context.Context, st *store.Store, q LedgerQuestion) (LedgerAnswer, error) {
	step, err := q.Check()
	if err != nil {
		return LedgerAnswer{}, err
	}
	a := LedgerAnswer{App: q.App, From: UTC(q.From), To: UTC(q.To), Step: cmp.Or(q.Step, "1h"), Points: []LedgerPoint{}}
	pts, err := st.LedgerPoints(ctx, q.App, q.From, q.To, step)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return LedgerAnswer{}, err
	}
	a.Raw = pts
	for _, p := range pts {
		a.Points = append(a.Points, LedgerPoint{T: UTC(p.T), Spent: p.Spent.StringFixed(4), ToppedUp: p.ToppedUp.StringFixed(4),
			GiftExpired: p.GiftExpired.StringFixed(4), FirstTotal: p.FirstTotal.StringFixed(4), LastTotal: p.LastTotal.StringFixed(4)})
	}
	return a, nil
}

// Row is p as a CSV row in LedgerHeader's order.
func (p LedgerPoint) Row() []string {
	return []string{rfc3339(time.Time(p.T)), p.Spent, p.ToppedUp, p.GiftExpired, p.FirstTotal, p.LastTotal}
}

// WriteCSV writes the header and the points.
func (a LedgerAnswer) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(LedgerHeader)
	for _, p := range a.Points {
		_ = cw.Write(p.Row())
	}
	cw.Flush()
	return cw.Error()
}
