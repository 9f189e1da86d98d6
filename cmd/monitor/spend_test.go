package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

var (
	appShop  = fake.App{Name: "shop", DevKey: "key-shop", DevSecret: "secret-shop-1", Balance: "1"}
	appQuiet = fake.App{Name: "quiet", DevKey: "key-quiet", DevSecret: "secret-quiet-1", Balance: "1"}
)

// spendDB books, through the evaluator, the ledger of "shop": on 2026-01-01 100.0000 → 90
// (spent 10) → 590 (recharged 500); on 2026-01-02 a gift of 20 granted while 10 was spent
// (+10 net), the gift expiring (20), then 10 spent. "quiet" is configured and never polled.
func spendDB(t *testing.T) string {
	t.Helper()
	dbURL := pgtest.URL(t)
	path := setup{dbURL: dbURL, apps: []fake.App{appShop, appQuiet}}.config(t)
	ctx := context.Background()
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := st.EnsureApps(ctx, []string{"shop"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps[:1], AppIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ at, paid, gift, total string }{
		{"2026-01-01T10:00:00Z", "100", "0", "100"},
		{"2026-01-01T10:30:00Z", "90", "0", "90"},
		{"2026-01-01T11:15:00Z", "590", "0", "590"},
		{"2026-01-02T09:00:00Z", "580", "20", "600"},
		{"2026-01-02T10:00:00Z", "580", "0", "580"},
		{"2026-01-02T10:20:00Z", "570", "0", "570"},
	} {
		sn := snap(s.at, s.paid, s.gift, s.total)
		if _, err := ev.Observe(ctx, "shop", &sn, nil); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

var spendRange = []string{"--from", "2026-01-01T00:00:00Z", "--to", "2026-01-03T00:00:00Z"}

func TestSpendReport(t *testing.T) {
	t.Parallel()
	path := spendDB(t)

	t.Run("table", func(t *testing.T) {
		r := cli(t, append([]string{"spend", "--config", path}, spendRange...)...)
		r.want(t, 0)
		// The totals line: 100.0000 + 510.0000 − 20.0000 − 20.0000 = 570.0000.
		want := "   APP                     T    SPENT  TOPPED_UP  GIFT_EXPIRED  FIRST_TOTAL  LAST_TOTAL\n" +
			"  shop  2026-01-01T00:00:00Z  10.0000   500.0000        0.0000     100.0000    590.0000\n" +
			"  shop  2026-01-02T00:00:00Z  10.0000    10.0000       20.0000     590.0000    570.0000\n" +
			"  shop                 total  20.0000   510.0000       20.0000     100.0000    570.0000\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("csv by hour, one app", func(t *testing.T) {
		r := cli(t, append([]string{"spend", "--config", path, "--app", "shop", "--step", "1h", "--format", "csv"}, spendRange...)...)
		r.want(t, 0)
		want := "app,t,spent,topped_up,gift_expired,first_total,last_total\n" +
			"shop,2026-01-01T10:00:00Z,10.0000,0.0000,0.0000,100.0000,90.0000\n" +
			"shop,2026-01-01T11:00:00Z,0.0000,500.0000,0.0000,90.0000,590.0000\n" +
			"shop,2026-01-02T09:00:00Z,0.0000,10.0000,0.0000,590.0000,600.0000\n" +
			"shop,2026-01-02T10:00:00Z,10.0000,0.0000,20.0000,600.0000,570.0000\n" +
			"shop,total,20.0000,510.0000,20.0000,100.0000,570.0000\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := cli(t, append([]string{"spend", "--config", path, "--format", "json"}, spendRange...)...)
		r.want(t, 0)
		want := `{
  "apps": [
    {
      "app": "shop",
      "points": [
        {
          "t": "2026-01-01T00:00:00Z",
          "spent": "10.0000",
          "topped_up": "500.0000",
          "gift_expired": "0.0000",
          "first_total": "100.0000",
          "last_total": "590.0000"
        },
        {
          "t": "2026-01-02T00:00:00Z",
          "spent": "10.0000",
          "topped_up": "10.0000",
          "gift_expired": "20.0000",
          "first_total": "590.0000",
          "last_total": "570.0000"
        }
      ],
      "total": {
        "spent": "20.0000",
        "topped_up": "510.0000",
        "gift_expired": "20.0000",
        "first_total": "100.0000",
        "last_total": "570.0000"
      }
    },
    {
      "app": "quiet",
      "points": [],
      "total": null
    }
  ]
}
`
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("since", func(t *testing.T) {
		// The ledger is in January 2026: the last day of real time holds none of it.
		r := cli(t, "spend", "--config", path, "--since", "1d", "--format", "csv")
		r.want(t, 0)
		if want := "app,t,spent,topped_up,gift_expired,first_total,last_total\n"; r.stdout != want {
			t.Errorf("stdout %q, want only the header", r.stdout)
		}
	})
}

func TestSpendBadInput(t *testing.T) {
	t.Parallel()
	path := spendDB(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--step", "5m"}, "monitor: step must be 1h or 1d, not 5m\n"},
		{[]string{"--format", "xml"}, "monitor: --format must be table, csv or json, not \"xml\"\n"},
		{[]string{"--since", "1d", "--from", "2026-01-01T00:00:00Z"}, "monitor: use --since or --from/--to, not both\n"},
		{[]string{"--from", "yesterday"}, "monitor: --from must be an RFC 3339 time, like 2026-11-26T10:00:00Z\n"},
		{[]string{"--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, "monitor: the start of the range must be before its end\n"},
		{[]string{"--app", "nope"}, "monitor: no app named \"nope\" in the config; configured: shop, quiet\n"},
	} {
		r := cli(t, append([]string{"spend", "--config", path}, c.args...)...)
		r.want(t, 2)
		if r.stderr != c.want {
			t.Errorf("%v: stderr %q, want %q", c.args, r.stderr, c.want)
		}
	}
}
