// Package history is the one owner of reading an app's balance history: the ranges, steps
// and caps that the API (`GET /api/v1/apps/{name}/history`) and the CLI (`monitor history`)
// both accept, and the answer they both print (JSON, CSV or rows for a table). The SQL is the
// store's; what a valid question is, and what its answer looks like, is decided here.
package history

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// MaxPoints caps one answer, raw or bucketed, so one question cannot pull a year of minute
// snapshots into memory.
const MaxPoints = 10000

// Steps are the bucket sizes history accepts.
var Steps = map[string]time.Duration{
	"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"1h": time.Hour, "6h": 6 * time.Hour, "1d": 24 * time.Hour,
}

// StepList names Steps for people.
const StepList = "1m, 5m, 15m, 1h, 6h or 1d"

// DefaultRange is the range of a question that names none: the last day.
const DefaultRange = 24 * time.Hour

// ErrInvalid is wrapped by every refusal of a question (a 400, or a usage error): its text
// says what to change.
var ErrInvalid = errors.New("invalid history question")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Question is what is asked: an app, a range [From, To) and an optional step.
type Question struct {
	App    string
	Amount string // the amount buckets follow: "total_balance" (default) or "balance"
	From   time.Time
	To     time.Time
	Step   string // "" for raw snapshots
}

// Check validates q and returns its step.
func (q Question) Check() (time.Duration, error) {
	if !q.From.Before(q.To) {
		return 0, invalid("the start of the range must be before its end")
	}
	if q.Step == "" {
		return 0, nil
	}
	step, ok := Steps[q.Step]
	if !ok {
		return 0, invalid("step must be one of %s, not %s", StepList, q.Step)
	}
	if q.To.Sub(q.From)/step > MaxPoints {
		return 0, invalid("step %s gives more than %d buckets in the range: use a larger step or narrow the range", q.Step, MaxPoints)
	}
	return step, nil
}

// Answer is the answer, in the shape of the API's JSON.
type Answer struct {
	App    string `json:"app"`
	From   UTC    `json:"from"`
	To     UTC    `json:"to"`
	Step   string `json:"step,omitempty"`
	Amount string `json:"amount,omitempty"` // the amount bucketed; raw points carry all three
	Points any    `json:"points"`           // []Raw or []Bucket

	Header []string   `json:"-"` // the CSV header: raw or bucketed columns
	rows   [][]string // the points as CSV rows
}

// Raw is one snapshot; amounts are strings with 4 places.
type Raw struct {
	T            UTC    `json:"t"`
	Balance      string `json:"balance"`
	GiftBalance  string `json:"gift_balance"`
	TotalBalance string `json:"total_balance"`
}

// Bucket is the first, last, lowest and highest amount of a bucket starting at T.
type Bucket struct {
	T     UTC    `json:"t"`
	First string `json:"first"`
	Last  string `json:"last"`
	Min   string `json:"min"`
	Max   string `json:"max"`
}

// UTC is a time written as RFC 3339 in UTC, to the second.
type UTC time.Time

// MarshalJSON writes t as "2026-11-26T10:00:00Z".
func (t UTC) MarshalJSON() ([]byte, error) {
	return []byte(`"` + rfc3339(time.Time(t)) + `"`), nil
}

// Read answers q from the store. An app that is configured but not stored yet has an empty
// history, not an error.
func Read(ctx context.Context, st *store.Store, q Question) (Answer, error) {
	step, err := q.Check()
	if err != nil {
		return Answer{}, err
	}
	a := Answer{App: q.App, From: UTC(q.From), To: UTC(q.To)}
	if step == 0 {
		a.Header = []string{"t", "balance", "gift_balance", "total_balance"}
		pts, err := st.Snapshots(ctx, q.App, q.From, q.To, MaxPoints)
		if errors.Is(err, store.ErrTooManyPoints) {
			return Answer{}, invalid("more than %d snapshots in the range: add a step (%s) or narrow the range", MaxPoints, StepList)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Answer{}, err
		}
		points := make([]Raw, 0, len(pts))
		for _, p := range pts {
			r := Raw{T: UTC(p.T), Balance: p.Balance.StringFixed(4), GiftBalance: p.GiftBalance.StringFixed(4), TotalBalance: p.TotalBalance.StringFixed(4)}
			points = append(points, r)
			a.rows = append(a.rows, []string{rfc3339(p.T), r.Balance, r.GiftBalance, r.TotalBalance})
		}
		a.Points = points
		return a, nil
	}
	a.Step, a.Amount = q.Step, q.Amount
	if a.Amount == "" {
		a.Amount = "total_balance"
	}
	a.Header = []string{"t", "first", "last", "min", "max"}
	buckets, err := st.Buckets(ctx, q.App, q.From, q.To, step, a.Amount)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Answer{}, err
	}
	points := make([]Bucket, 0, len(buckets))
	for _, b := range buckets {
		p := Bucket{T: UTC(b.T), First: b.First.StringFixed(4), Last: b.Last.StringFixed(4), Min: b.Min.StringFixed(4), Max: b.Max.StringFixed(4)}
		points = append(points, p)
		a.rows = append(a.rows, []string{rfc3339(b.T), p.First, p.Last, p.Min, p.Max})
	}
	a.Points = points
	return a, nil
}

// Rows returns the points as rows in Header's order.
func (a Answer) Rows() [][]string { return a.rows }

// WriteCSV writes the header and the rows.
func (a Answer) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(a.Header)
	_ = cw.WriteAll(a.Rows())
	return cw.Error()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
