package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// SlackConfig configures one Slack destination: an incoming webhook (WebhookURL) or a bot
// token posting with chat.postMessage (Token and Channel).
type SlackConfig struct {
	Name       string
	WebhookURL string
	Token      string
	Channel    string
	APIURL     string                  // base replacing https://slack.com (tests); "/api/" is appended
	PublicURL  string                  // dashboard base, for the "Open dashboard" button
	AmountKind func(app string) string // which amount each app compares; nil means total_balance
	Timeout    time.Duration           // default 10s
}

// Slack posts Block Kit messages with a plain-text fallback.
type Slack struct {
	name       string
	webhookURL string
	client     *http.Client
	api        *slack.Client // bot mode when set
	channel    string
	publicURL  string
	amountKind func(app string) string
}

var _ Notifier = (*Slack)(nil)

// NewSlack validates c and builds the notifier. Its errors never echo the URL or token.
func NewSlack(c SlackConfig) (*Slack, error) {
	var errs []error
	switch {
	case c.WebhookURL != "" && c.Token != "":
		errs = append(errs, fmt.Errorf("slack %s: set webhook_url or token, not both", c.Name))
	case c.WebhookURL != "":
		if err := checkHTTPURL(c.WebhookURL); err != nil {
			errs = append(errs, fmt.Errorf("slack %s: webhook_url %w", c.Name, err))
		}
	case c.Token != "":
		if c.Channel == "" {
			errs = append(errs, fmt.Errorf("slack %s: token needs a channel", c.Name))
		}
	default:
		errs = append(errs, fmt.Errorf("slack %s: set webhook_url or token", c.Name))
	}
	if c.APIURL != "" {
		if err := checkHTTPURL(c.APIURL); err != nil {
			errs = append(errs, fmt.Errorf("slack %s: api_url %w", c.Name, err))
		}
	}
	if c.PublicURL != "" {
		if err := checkHTTPURL(c.PublicURL); err != nil {
			errs = append(errs, fmt.Errorf("slack %s: public_url %w", c.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// slack-go's default client has no timeout at all.
	client := &http.Client{Timeout: cmp.Or(c.Timeout, 10*time.Second)}
	s := &Slack{
		name:       c.Name,
		webhookURL: c.WebhookURL,
		client:     client,
		channel:    c.Channel,
		publicURL:  strings.TrimRight(c.PublicURL, "/"),
		amountKind: c.AmountKind,
	}
	if c.Token != "" {
		apiURL := slack.APIURL
		if c.APIURL != "" {
			apiURL = strings.TrimRight(c.APIURL, "/") + "/api/" // slack-go needs the trailing slash
		}
		s.api = slack.New("", slack.OptionHTTPClient(bearerAuth{client: client, token: c.Token}), slack.OptionAPIURL(apiURL))
	}
	return s, nil
}

// Notify makes one delivery attempt.
func (s *Slack) Notify(ctx context.Context, e Event) error {
	fallback, blocks := s.render(e)
	var err error
	if s.api != nil {
		_, _, err = s.api.PostMessageContext(ctx, s.channel,
			slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...))
	} else {
		err = slack.PostWebhookCustomHTTPContext(ctx, s.webhookURL, s.client,
			&slack.WebhookMessage{Text: fallback, Blocks: &slack.Blocks{BlockSet: blocks}})
	}
	if err == nil {
		return nil
	}
	return s.classify(err)
}

// transientSlackErrors are the API error codes worth retrying. Any other ok:false answer
// (invalid_auth, channel_not_found, not_in_channel, is_archived, missing_scope,
// invalid_blocks, ...) will be given again for the same message, so it is permanent.
var transientSlackErrors = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"rate_limited":        true,
}

func (s *Slack) classify(err error) *Error {
	var limited *slack.RateLimitedError
	var refused slack.SlackErrorResponse
	var status slack.StatusCodeError
	switch {
	case errors.As(err, &limited):
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: limited.RetryAfter,
			Err: fmt.Errorf("slack %s: rate limited, retry after %s", s.name, limited.RetryAfter)}
	case errors.As(err, &refused):
		return &Error{Permanent: !transientSlackErrors[refused.Err],
			Err: fmt.Errorf("slack %s: Slack refused the message: %s", s.name, refused.Err)}
	case errors.As(err, &status):
		// Incoming webhooks explain a refusal (404 channel_not_found, 410 channel_is_archived)
		// in a body slack-go discards, so the status is all there is.
		return &Error{Status: status.Code, Permanent: !retryableStatus(status.Code),
			Err: fmt.Errorf("slack %s: Slack answered HTTP %d", s.name, status.Code)}
	default:
		return &Error{Err: fmt.Errorf("slack %s: %w", s.name, redactErr(err))}
	}
}

// bearerAuth sends the bot token as "Authorization: Bearer", which Slack prefers, instead of
// the form field slack-go v0.35 puts it in (request bodies end up in proxy and debug logs).
type bearerAuth struct {
	client *http.Client
	token  string
}

func (b bearerAuth) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+b.token)
	if req.Body == nil || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return b.client.Do(req)
	}
	raw, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, err
	}
	form.Del("token")
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	return b.client.Do(req)
}

// Severity markers lead both the header and the fallback text, so a critical message is
// recognisable in a notification preview.
func marker(e Event) string {
	switch {
	case e.Type == TypeTest:
		return ":test_tube: Test"
	case e.Type == TypeResolved:
		return ":white_check_mark: Resolved"
	case e.Severity == "critical":
		return ":rotating_light: CRITICAL"
	default:
		return ":warning: Warning"
	}
}

// render returns the fallback text and the Block Kit blocks of e.
func (s *Slack) render(e Event) (string, []slack.Block) {
	message := e.Message
	if message == "" {
		message = Describe(e, s.kind(e.App))
	}
	fallback := marker(e) + " " + escapeMrkdwn(message)

	header := marker(e) + " " + e.App + ": " + level(e.Rule, e.Severity)
	if e.Type == TypeTest {
		header = marker(e) + " message"
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, header, true, false)),
		slack.NewSectionBlock(mrkdwn(escapeMrkdwn(message)), fields(e), nil),
	}
	if line := contextLine(e); line != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(line)))
	}
	if s.publicURL != "" && e.App != "" {
		link := s.publicURL + "/#app=" + url.QueryEscape(e.App)
		button := slack.NewButtonBlockElement("open_dashboard", "",
			slack.NewTextBlockObject(slack.PlainTextType, "Open dashboard", false, false)).WithURL(link)
		blocks = append(blocks, slack.NewActionBlock("", button))
	}
	return fallback, blocks
}

func (s *Slack) kind(app string) string {
	if s.amountKind == nil {
		return "total_balance"
	}
	return s.amountKind(app)
}

func fields(e Event) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	add := func(label, value string) {
		out = append(out, mrkdwn("*"+label+"*\n"+escapeMrkdwn(value)))
	}
	if e.Balance != "" {
		add("Balance", money(e.Balance, e.Currency))
	}
	if e.GiftBalance != "" {
		add("Gift balance", money(e.GiftBalance, e.Currency))
	}
	if e.TotalBalance != "" {
		add("Total balance", money(e.TotalBalance, e.Currency))
	}
	if e.Threshold != "" {
		add("Threshold", money(e.Threshold, e.Currency))
	}
	if e.Type != TypeTest && !e.Since.IsZero() && e.ObservedAt.After(e.Since) {
		label := "Firing for"
		if e.Type == TypeResolved {
			label = "Fired for"
		}
		add(label, formatDuration(e.ObservedAt.Sub(e.Since)))
	}
	return out
}

// contextLine says what changed and when it was observed.
func contextLine(e Event) string {
	var parts []string
	switch e.Type {
	case TypeEscalated:
		parts = append(parts, "Escalated from "+level(e.PreviousRule, e.PreviousSeverity))
	case TypeDeescalated:
		parts = append(parts, "De-escalated from "+level(e.PreviousRule, e.PreviousSeverity))
	case TypeReminder:
		parts = append(parts, "Reminder: still firing")
	}
	if !e.ObservedAt.IsZero() {
		parts = append(parts, "Observed "+e.ObservedAt.UTC().Format(time.RFC3339))
	}
	return escapeMrkdwn(strings.Join(parts, " · "))
}

func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

// mrkdwnEscaper escapes the three characters Slack treats as control sequences, so an app
// name cannot turn into a mention or a link.
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escapeMrkdwn(s string) string { return mrkdwnEscaper.Replace(s) }
