package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds arbitrary documents to the loader: it must never panic, must return
// either a config or an error, and its errors must never show a value that came from the
// environment or a secret file (unless the document itself contains that text).
//
//	go test -run '^$' -fuzz FuzzLoadConfig -fuzztime 10s ./internal/config
func FuzzLoadConfig(f *testing.F) {
	for _, name := range []string{"testdata/good/full.yaml", "testdata/bad/env-values-not-shown.yaml", "testdata/bad/bad-product.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	secrets := map[string]string{
		"DATABASE_URL":        "postgres://monitor:Qd7xDbPassword@db/monitor",
		"DEV_SECRET":          "Vn3-DevSecret-Zk",
		"CHECKOUT_DEV_KEY":    "checkout-key",
		"CHECKOUT_DEV_SECRET": "Hc5-CheckoutSecret-Pq",
		"MONITOR_API_TOKEN":   "Tk8-ApiToken-Wm",
		"SLACK_WEBHOOK_URL":   "https://hooks.slack.com/services/Sl4-SlackPath-Jv",
		"SLACK_BOT_TOKEN":     "xoxb-Bt6-BotToken-Rn",
		"WEBHOOK_SECRET":      "whsec_RnV6ei13aHNlYy1rZXk=",
		"TOKEN_A":             "Ta2-TokenA-Gh",
		"TOKEN_B":             "Tb9-TokenB-Yu",
	}
	dir := f.TempDir()
	const fileSecret = "Fs1-FileSecret-Lo"
	for _, name := range []string{"secret.txt", "scrape-token"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fileSecret+"\n"), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	getenv := func(name string) (string, bool) {
		v, ok := secrets[name]
		return v, ok
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, getenv, dir)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v: want exactly one", cfg != nil, err)
		}
		if err != nil {
			msg := err.Error()
			for name, v := range secrets {
				if name != "CHECKOUT_DEV_KEY" && strings.Contains(msg, v) && !bytes.Contains(data, []byte(v)) {
					t.Fatalf("error shows the value of %s:\n%s", name, msg)
				}
			}
			if strings.Contains(msg, fileSecret) && !bytes.Contains(data, []byte(fileSecret)) {
				t.Fatalf("error shows a secret file's content:\n%s", msg)
			}
			return
		}
		_ = cfg.Redacted() // must not panic either
	})
}
