package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// storeSnapshots writes snapshots of app straight into the database, as polls would have.
func storeSnapshots(t *testing.T, dbURL, app string, snaps ...balance.Snapshot) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := st.EnsureApps(ctx, []string{app})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		pgtest.Snapshot(t, st, ids[app], s)
	}
}

func snap(at, paid, gift, total string) balance.Snapshot {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		panic(err)
	}
	return balance.Snapshot{PolledAt: t, Currency: "USD", Balance: decimal.RequireFromString(paid),
		GiftBalance: decimal.RequireFromString(gift), TotalBalance: decimal.RequireFromString(total)}
}

// historyDB holds four snapshots of "healthy" between 10:00 and 12:00 on 2026-01-01.
func historyDB(t *testing.T) string {
	t.Helper()
	dbURL := pgtest.URL(t)
	storeSnapshots(t, dbURL, "healthy",
		snap("2026-01-01T10:05:00Z", "100.0000", "0", "100.0000"),
		snap("2026-01-01T10:35:00Z", "90.5", "1.25", "91.75"),
		snap("2026-01-01T11:10:00Z", "-12.3400", "0", "-12.3400"),
		snap("2026-01-01T11:50:00Z", "500.0001", "0", "500.0001"),
		snap("2026-01-01T12:30:00Z", "1.0000", "0", "1.0000"), // after the range
	)
	return setup{dbURL: dbURL, apps: []fake.App{appHealthy}}.config(t)
}

var historyRange = []string{"--app", "healthy", "--from", "2026-01-01T10:00:00Z", "--to", "2026-01-01T12:00:00Z"}

func TestHistoryRaw(t *testing.T) {
	t.Parallel()
	path := historyDB(t)
	rows := [][]string{
		{"t", "balance", "gift_balance", "total_balance"},
		{"2026-01-01T10:05:00Z", "100.0000", "0.0000", "100.0000"},
		{"2026-01-01T10:35:00Z", "90.5000", "1.2500", "91.7500"},
		{"2026-01-01T11:10:00Z", "-12.3400", "0.0000", "-12.3400"},
		{"2026-01-01T11:50:00Z", "500.0001", "0.0000", "500.0001"},
	}

	t.Run("table", func(t *testing.T) {
		r := cli(t, append([]string{"history", "--config", path}, historyRange...)...)
		r.want(t, 0)
		want := "                     T   BALANCE  GIFT_BALANCE  TOTAL_BALANCE\n" +
			"  2026-01-01T10:05:00Z  100.0000        0.0000       100.0000\n" +
			"  2026-01-01T10:35:00Z   90.5000        1.2500        91.7500\n" +
			"  2026-01-01T11:10:00Z  -12.3400        0.0000       -12.3400\n" +
			"  2026-01-01T11:50:00Z  500.0001        0.0000       500.0001\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%q\nwant:\n%q", r.stdout, want)
		}
	})
	t.Run("csv", func(t *testing.T) {
		r := cli(t, append([]string{"history", "--config", path, "--format", "csv"}, historyRange...)...)
		r.want(t, 0)
		got, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil {
			t.Fatalf("stdout is not CSV: %v\n%s", err, r.stdout)
		}
		if d := cmp.Diff(rows, got); d != "" {
			t.Errorf("CSV (-want +got):\n%s", d)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := cli(t, append([]string{"history", "--config", path, "--format", "json"}, historyRange...)...)
		r.want(t, 0)
		var got struct{ Points []map[string]string }
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("stdout is not JSON with string amounts: %v\n%s", err, r.stdout)
		}
		var want []map[string]string
		for _, row := range rows[1:] {
			want = append(want, map[string]string{"t": row[0], "balance": row[1], "gift_balance": row[2], "total_balance": row[3]})
		}
		if d := cmp.Diff(want, got.Points); d != "" {
			t.Errorf("points (-want +got):\n%s", d)
		}
	})
}

func TestHistoryStep(t *testing.T) {
	t.Parallel()
	path := historyDB(t)
	r := cli(t, append([]string{"history", "--config", path, "--step", "1h", "--format", "csv"}, historyRange...)...)
	r.want(t, 0)
	got, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("stdout is not CSV: %v\n%s", err, r.stdout)
	}
	want := [][]string{
		{"t", "first", "last", "min", "max"},
		{"2026-01-01T10:00:00Z", "100.0000", "91.7500", "91.7500", "100.0000"},
		{"2026-01-01T11:00:00Z", "-12.3400", "500.0001", "-12.3400", "500.0001"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CSV (-want +got):\n%s", d)
	}
}

// A snapshot poll-once just stored is in the default range (the last 24 hours).
func TestHistoryAfterPollOnce(t *testing.T) {
	t.Parallel()
	apps := []fake.App{appNegative}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps}.config(t)
	cli(t, "poll-once", "--config", path).want(t, 0)

	r := cli(t, "history", "--config", path, "--app", "negative", "--since", "1d", "--format", "csv")
	r.want(t, 0)
	got, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("stdout is not CSV: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || len(got[1]) != 4 {
		t.Fatalf("want a header and one row, got %q", got)
	}
	if d := cmp.Diff([]string{"-12.3400", "0.0000", "-12.3400"}, got[1][1:]); d != "" {
		t.Errorf("amounts (-want +got):\n%s", d)
	}
}

func TestHistoryErrors(t *testing.T) {
	t.Parallel()
	path := setup{dbURL: pgtest.URL(t), apps: []fake.App{appHealthy}}.config(t)
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no app":      {[]string{}, 2, "monitor: history needs --app NAME"},
		"bad step":    {[]string{"--app", "healthy", "--step", "2h"}, 2, `monitor: step must be one of 1m, 5m, 15m, 1h, 6h or 1d, not 2h`},
		"bad from":    {[]string{"--app", "healthy", "--from", "yesterday"}, 2, "monitor: --from must be an RFC 3339 time, like 2026-11-26T10:00:00Z"},
		"bad to":      {[]string{"--app", "healthy", "--to", "2026-13-01"}, 2, "monitor: --to must be an RFC 3339 time, like 2026-11-26T10:00:00Z"},
		"bad since":   {[]string{"--app", "healthy", "--since", "a week"}, 2, `monitor: --since: "a week" is not a duration (write it like 90s, 10m, 4h, 7d or 1d12h)`},
		"bad format":  {[]string{"--app", "healthy", "--format", "xml"}, 2, `monitor: --format must be table, csv or json, not "xml"`},
		"both ranges": {[]string{"--app", "healthy", "--since", "7d", "--from", "2026-01-01T00:00:00Z"}, 2, "monitor: use --since or --from/--to, not both"},
		"reversed": {[]string{"--app", "healthy", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, 2,
			"monitor: the start of the range must be before its end"},
		"unknown app": {[]string{"--app", "nosuch"}, 2, `monitor: no app named "nosuch" in the config; configured: healthy`},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append([]string{"history", "--config", path}, tc.args...)...)
			r.want(t, tc.code)
			if got := r.errorLine(t); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}
}

// history --format json is the API's answer for the same range, key for key and value for value.
func TestHistoryJSONIsTheAPIAnswer(t *testing.T) {
	t.Parallel()
	path := historyDB(t)
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Database.URL.Reveal(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	api := httpapi.New(httpapi.Config{Store: st, Config: cfg})

	for name, tc := range map[string]struct {
		step string
		keys []string
	}{
		"raw":  {"", []string{"app", "from", "points", "to"}},
		"step": {"1h", []string{"amount", "app", "from", "points", "step", "to"}},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"history", "--config", path, "--format", "json"}, historyRange...)
			query := "?from=2026-01-01T10:00:00Z&to=2026-01-01T12:00:00Z"
			if tc.step != "" {
				args = append(args, "--step", tc.step)
				query += "&step=" + tc.step
			}
			r := cli(t, args...)
			r.want(t, 0)
			var got map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
			}
			keys := slices.Sorted(maps.Keys(got))
			if d := cmp.Diff(tc.keys, keys); d != "" {
				t.Errorf("keys (-want +got):\n%s", d)
			}

			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/apps/healthy/history"+query, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("API answered %d: %s", rec.Code, rec.Body)
			}
			var want map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &want); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("CLI JSON differs from the API's (-api +cli):\n%s", d)
			}
		})
	}
}
