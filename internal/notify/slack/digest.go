package slack

import (
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// maxDigestApps keeps a digest within Slack's 50 blocks per message (a header, the summary,
// one section per app, the dead deliveries, "and N more", the context and the button).
const maxDigestApps = 43

const digestMarker = ":bar_chart:"

// renderDigest lays a daily digest out as one section per app: a section's fields hold at
// most 10 entries, too few for a list of apps.
func (s *Notifier) renderDigest(e notify.Event) (string, []slackapi.Block) {
	d := e.Digest
	summary := notify.DigestSummary(d)
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, digestMarker+" "+notify.Title(e), true, false)),
		slackapi.NewSectionBlock(mrkdwn(escapeMrkdwn(summary)), nil, nil),
	}
	for i, a := range d.Apps {
		if i == maxDigestApps {
			blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn(fmt.Sprintf("and %d more apps: see the dashboard or the webhook digest", len(d.Apps)-maxDigestApps))))
			break
		}
		marker := ":large_green_circle:"
		for _, f := range a.Firing {
			marker = ":warning:"
			if f.Severity == "critical" {
				marker = ":rotating_light:"
				break
			}
		}
		blocks = append(blocks, slackapi.NewSectionBlock(
			mrkdwn(marker+" *"+escapeMrkdwn(a.Name)+"*: "+escapeMrkdwn(notify.DigestLine(a))), nil, nil))
	}
	if line := notify.DigestDeadLine(d); line != "" {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn("*Dead deliveries*\n"+escapeMrkdwn(truncate(line, 2900))), nil, nil))
	}
	if line := notify.Context(e); line != "" {
		blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn(escapeMrkdwn(line))))
	}
	if s.publicURL != "" {
		button := slackapi.NewButtonBlockElement("open_dashboard", "",
			slackapi.NewTextBlockObject(slackapi.PlainTextType, "Open dashboard", false, false)).WithURL(s.publicURL + "/")
		blocks = append(blocks, slackapi.NewActionBlock("", button))
	}
	return digestMarker + " " + escapeMrkdwn(summary), blocks
}

// truncate keeps s within Slack's 3000 characters of a section's text.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
