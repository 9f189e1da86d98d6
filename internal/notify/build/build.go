// Package build turns the validated config into notifiers: the one place that knows every
// notifier type. Config has already checked each notifier's keys (with line numbers), so the
// constructors trust what they are given.
package build

import (
	"errors"
	"fmt"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/slack"
	"github.com/opsbalance/engagelab-monitor/internal/notify/webhook"
)

// Notifiers builds every configured notifier by name. The only error is a type this build
// does not know, which a config from config.Load cannot hold.
func Notifiers(cfg *config.Config) (map[string]notify.Notifier, error) {
	amount := map[string]string{}
	for _, a := range cfg.Apps {
		amount[a.Name] = a.Amount
	}
	amountKind := func(app string) string { return amount[app] }
	out := map[string]notify.Notifier{}
	var errs []error
	for _, n := range cfg.Notifiers {
		var nt notify.Notifier
		switch n.Type {
		case "slack":
			nt = slack.New(slack.Config{
				Name: n.Name, WebhookURL: n.WebhookURL.Reveal(), Token: n.Token.Reveal(), Channel: n.Channel,
				APIURL: n.APIURL, PublicURL: cfg.HTTP.PublicURL, AmountKind: amountKind,
			})
		case "webhook":
			nt = webhook.New(webhook.Config{Name: n.Name, URL: n.URL.Reveal(), Secret: n.Secret.Reveal()})
		default:
			errs = append(errs, fmt.Errorf("notifier %s: unknown type %q", n.Name, n.Type))
			continue
		}
		out[n.Name] = nt
	}
	return out, errors.Join(errs...)
}
