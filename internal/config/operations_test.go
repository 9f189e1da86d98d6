package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const operationsBase = `database: {url: "${DATABASE_URL}"}
notifiers:
  - {name: ops, type: slack, webhook_url: "${SLACK_URL}"}
  - {name: pager, type: webhook, url: "https://hooks.example.com/x"}
apps:
  - {name: a, dev_key: a, dev_secret: "${DEV_SECRET}", thresholds: {warning: "100", critical: "20"}}
`

func TestOperationsDefaults(t *testing.T) {
	cfg, err := Parse([]byte(operationsBase+`
heartbeat: {url: "https://hc-ping.com/${DEV_SECRET}"}
digest: {notify: [ops]}
`), badEnv, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hb := cfg.Heartbeat
	if hb == nil || hb.URL.Reveal() != "https://hc-ping.com/dev-s3cr3t" || hb.Method != "GET" || hb.Every != 5*time.Minute || hb.MaxOutboxAge != 10*time.Minute {
		t.Errorf("heartbeat = %+v, want the URL, GET, every 5m, max_outbox_age 10m", hb)
	}
	dg := cfg.Digest
	if dg == nil || dg.At != "09:00" || dg.Hour != 9 || dg.Minute != 0 || dg.Timezone != time.UTC || len(dg.Notify) != 1 || dg.Notify[0] != "ops" {
		t.Errorf("digest = %+v, want 09:00 UTC to ops", dg)
	}
}

func TestOperationsOff(t *testing.T) {
	for _, extra := range []string{"", "heartbeat: off\ndigest: off\n", "heartbeat: false\ndigest:\n"} {
		cfg, err := Parse([]byte(operationsBase+extra), badEnv, t.TempDir())
		if err != nil {
			t.Fatalf("%q: %v", extra, err)
		}
		if cfg.Heartbeat != nil || cfg.Digest != nil {
			t.Errorf("%q: heartbeat %+v, digest %+v; want both off", extra, cfg.Heartbeat, cfg.Digest)
		}
	}
}

func TestOperationsSet(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hb"), []byte("https://hc-ping.com/file-s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(operationsBase+`
heartbeat: {url_file: hb, method: POST, every: 1m, max_outbox_age: 30m}
digest: {at: "18:45", timezone: Asia/Shanghai, notify: [pager, ops]}
`), badEnv, dir)
	if err != nil {
		t.Fatal(err)
	}
	hb := cfg.Heartbeat
	if hb.URL.Reveal() != "https://hc-ping.com/file-s3cr3t" || hb.Method != "POST" || hb.Every != time.Minute || hb.MaxOutboxAge != 30*time.Minute {
		t.Errorf("heartbeat = %+v", hb)
	}
	out := cfg.Redacted()
	for _, want := range []string{"heartbeat:\n  url: '***'\n  method: POST\n  every: 1m\n  max_outbox_age: 30m\n",
		"digest:\n  at: \"18:45\"\n  timezone: Asia/Shanghai\n  notify:\n    - pager\n    - ops\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("redacted config lacks\n%s\nin:\n%s", want, out)
		}
	}
	if strings.Contains(out, marker) {
		t.Errorf("redacted config shows the heartbeat URL:\n%s", out)
	}
	dg := cfg.Digest
	if dg.Hour != 18 || dg.Minute != 45 || dg.Timezone.String() != "Asia/Shanghai" || strings.Join(dg.Notify, ",") != "pager,ops" {
		t.Errorf("digest = %+v", dg)
	}
}

func TestHeartbeatURLNeverShown(t *testing.T) {
	for name, doc := range map[string]string{
		"not http":  `heartbeat: {url: "ftp://x/${DEV_SECRET}"}`,
		"relative":  `heartbeat: {url: "${DEV_SECRET}"}`,
		"both ways": `heartbeat: {url: "https://x/${DEV_SECRET}", url_file: nope}`,
		"inline":    `heartbeat: {url: "hc-ping.com/s3cr3t-inline"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(operationsBase+doc+"\n"), badEnv, t.TempDir())
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "heartbeat.url") {
				t.Errorf("error does not name heartbeat.url:\n%s", err)
			}
			if strings.Contains(err.Error(), marker) {
				t.Errorf("error shows the URL:\n%s", err)
			}
		})
	}
}
