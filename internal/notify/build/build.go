// Package build turns the validated config into notifiers: the one place that knows every
// notifier type. Config has already checked each notifier's keys (with line numbers), so the
// constructors trust what they are given.
package build

import (
	"errors"
	"fmt"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/dingtalk"
	"github.com/opsbalance/engagelab-monitor/internal/notify/email"
	"github.com/opsbalance/engagelab-monitor/internal/notify/feishu"
	"github.com/opsbalance/engagelab-monitor/internal/notify/pagerduty"
	"github.com/opsbalance/engagelab-monitor/internal/notify/slack"
	"github.com/opsbalance/engagelab-monitor/internal/notify/teams"
	"github.com/opsbalance/engagelab-monitor/internal/notify/telegram"
	"github.com/opsbalance/engagelab-monitor/internal/notify/webhook"
	"github.com/opsbalance/engagelab-monitor/internal/notify/wecom"
)

// Notifiers builds every configured notifier by name. The only error is a type this build
// does not know, which a config from config.Load cannot hold.
func Notifiers(cfg *config.Config) (map[string]notify.Notifier, error) {
	amount := map[string]string{}
	for _, a := range cfg.Apps {
		amount[a.Name] = a.Amount
	}
	amountKind := func(app string) string { return amount[app] }
	public := cfg.HTTP.PublicURL
	out := map[string]notify.Notifier{}
	var errs []error
	for _, n := range cfg.Notifiers {
		var nt notify.Notifier
		switch n.Type {
		case "slack":
			c := slack.Config{
				Name: n.Name, WebhookURL: n.WebhookURL.Reveal(), Token: n.Token.Reveal(), Channel: n.Channel,
				APIURL: n.APIURL, PublicURL: cfg.HTTP.PublicURL, AmountKind: amountKind,
			}
			nt = slack.New(c)
			if n.Thread {
				nt = slack.NewThreaded(c) // config allows thread only with a token
			}
		case "webhook":
			nt = webhook.New(webhook.Config{Name: n.Name, URL: n.URL.Reveal(), Secret: n.Secret.Reveal()})
		case "telegram":
			nt = telegram.New(telegram.Config{Name: n.Name, BotToken: n.BotToken.Reveal(), ChatID: n.ChatID,
				APIURL: n.APIURL, PublicURL: public})
		case "feishu", "lark":
			nt = feishu.New(feishu.Config{Name: n.Name, Kind: n.Type, WebhookURL: n.WebhookURL.Reveal(),
				Secret: n.Secret.Reveal(), PublicURL: public})
		case "dingtalk":
			nt = dingtalk.New(dingtalk.Config{Name: n.Name, WebhookURL: n.WebhookURL.Reveal(), Secret: n.Secret.Reveal(), PublicURL: public})
		case "wecom":
			nt = wecom.New(wecom.Config{Name: n.Name, WebhookURL: n.WebhookURL.Reveal(), PublicURL: public})
		case "teams":
			nt = teams.New(teams.Config{Name: n.Name, WebhookURL: n.WebhookURL.Reveal(), PublicURL: public})
		case "pagerduty":
			nt = pagerduty.New(pagerduty.Config{Name: n.Name, RoutingKey: n.RoutingKey.Reveal(), APIURL: n.APIURL, PublicURL: public})
		case "email":
			nt = email.New(email.Config{Name: n.Name, Host: n.SMTPHost, Port: n.SMTPPort, Username: n.Username,
				Password: n.Password.Reveal(), From: n.From, To: n.To, StartTLS: n.StartTLS, PublicURL: public})
		default:
			errs = append(errs, fmt.Errorf("notifier %s: unknown type %q", n.Name, n.Type))
			continue
		}
		out[n.Name] = nt
	}
	return out, errors.Join(errs...)
}
