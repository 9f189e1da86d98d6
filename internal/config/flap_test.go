package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFlap(t *testing.T) {
	cfg := func(defaults, apps string) *Config {
		t.Helper()
		c, err := Parse([]byte(`
database: {url: postgres://localhost/monitor}
notifiers: [{name: ops, type: slack, webhook_url: "https://hooks.slack.com/x"}]
defaults:
  thresholds: {warning: "100", critical: "20"}
  notify: [ops]
`+defaults+"\napps:\n"+apps), env(nil), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	two := `
  - {name: a, dev_key: k, dev_secret: s}
  - {name: b, dev_key: k, dev_secret: s, flap: {window: 10m}}
  - {name: c, dev_key: k, dev_secret: s, flap: off}
`
	tests := []struct {
		name     string
		defaults string
		want     map[string]FlapRule
	}{
		{"on by default with 4 changes in 30m", "", map[string]FlapRule{
			"a": {MaxChanges: 4, Window: 30 * time.Minute},
			"b": {MaxChanges: 4, Window: 10 * time.Minute}, // the app's window, the default max_changes
			"c": {Off: true, MaxChanges: 4, Window: 30 * time.Minute},
		}},
		{"defaults inherited key by key", "  flap: {max_changes: 8, window: 1h}", map[string]FlapRule{
			"a": {MaxChanges: 8, Window: time.Hour},
			"b": {MaxChanges: 8, Window: 10 * time.Minute},
			"c": {Off: true, MaxChanges: 8, Window: time.Hour},
		}},
		{"off in defaults, back on where an app sets it", "  flap: off", map[string]FlapRule{
			"a": {Off: true, MaxChanges: 4, Window: 30 * time.Minute},
			"b": {MaxChanges: 4, Window: 10 * time.Minute},
			"c": {Off: true, MaxChanges: 4, Window: 30 * time.Minute},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]FlapRule{}
			for _, a := range cfg(tc.defaults, two).Apps {
				got[a.Name] = a.Flap
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("flap rules (-want +got):\n%s", d)
			}
		})
	}
}
