package build

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// Every type in the config becomes its package's notifier, under its name.
func TestEveryType(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "monitor.yaml")
	if err := os.WriteFile(path, []byte(`
database: {url: "postgres://localhost/x"}
notifiers:
  - {name: s, type: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}
  - {name: w, type: webhook, url: "https://hooks.example.com/x"}
  - {name: tg, type: telegram, bot_token: "123:abc", chat_id: "-1"}
  - {name: fs, type: feishu, webhook_url: "https://open.feishu.cn/open-apis/bot/v2/hook/x"}
  - {name: lk, type: lark, webhook_url: "https://open.larksuite.com/open-apis/bot/v2/hook/x"}
  - {name: dt, type: dingtalk, webhook_url: "https://oapi.dingtalk.com/robot/send?access_token=x"}
  - {name: wc, type: wecom, webhook_url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"}
  - {name: tm, type: teams, webhook_url: "https://example.logic.azure.com/workflows/x"}
  - {name: pd, type: pagerduty, routing_key: "0123456789abcdef0123456789abcdef"}
  - {name: em, type: email, smtp_host: smtp.example.com, from: a@example.com, to: [b@example.com]}
defaults:
  thresholds: {warning: "100", critical: "20"}
apps:
  - {name: a, dev_key: a, dev_secret: s}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	got, err := Notifiers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for name, n := range got {
		types[name] = fmt.Sprintf("%T", n)
	}
	want := map[string]string{
		"s": "*slack.Notifier", "w": "*webhook.Notifier", "tg": "*telegram.Notifier", "fs": "*feishu.Notifier",
		"lk": "*feishu.Notifier", "dt": "*dingtalk.Notifier", "wc": "*wecom.Notifier", "tm": "*teams.Notifier",
		"pd": "*pagerduty.Notifier", "em": "*email.Notifier",
	}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("notifiers (-want +got):\n%s", diff)
	}
}

func TestUnknownType(t *testing.T) {
	_, err := Notifiers(&config.Config{Notifiers: []config.Notifier{{Name: "x", Type: "carrier-pigeon"}}})
	if err == nil || err.Error() != `notifier x: unknown type "carrier-pigeon"` {
		t.Errorf("error = %v, want the unknown type named", err)
	}
}
