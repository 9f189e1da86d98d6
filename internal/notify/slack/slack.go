// Package slack posts events to Slack, through an incoming webhook or with a bot token
// (chat.postMessage), as Block Kit with a plain-text fallback.
package slack

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

	slackapi "github.com/slack-go/slack"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one Slack destination: an incoming webhook (WebhookURL) or a bot token
// posting with chat.postMessage (Token and Channel). It is trusted: internal/config has
// validated it.
type Config struct {
	Name       string
	WebhookURL string
	Token      string
	Channel    string
	APIURL     string                  // base replacing https://slackapi.com (tests); "/api/" is appended
	PublicURL  string                  // dashboard base, for the "Open dashboard" button
	AmountKind func(app string) string // which amount each app compares; nil means total_balance
	Timeout    time.Duration           // default 10s
}

// Notifier posts Block Kit messages with a plain-text fallback.
type Notifier struct {
	name       string
	webhookURL string
	client     *http.Client
	api        *slackapi.Client // bot mode when set
	channel    string
	publicURL  string
	amountKind func(app string) string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier. In incoming-webhook mode Slack cannot thread replies: each
// event is a new post in the webhook's channel.
func New(c Config) *Notifier {
	// slack-go's default client has no timeout at all, and follows redirects.
	client := notify.NewHTTPClient(cmp.Or(c.Timeout, 10*time.Second))
	client.Transport = retryAfterRecorder{http.DefaultTransport}
	s := &Notifier{
		name:       c.Name,
		webhookURL: c.WebhookURL,
		client:     client,
		channel:    c.Channel,
		publicURL:  strings.TrimRight(c.PublicURL, "/"),
		amountKind: c.AmountKind,
	}
	if c.Token != "" {
		apiURL := slackapi.APIURL
		if c.APIURL != "" {
			apiURL = strings.TrimRight(c.APIURL, "/") + "/api/" // slack-go needs the trailing slash
		}
		s.api = slackapi.New("", slackapi.OptionHTTPClient(bearerAuth{client: client, token: c.Token}), slackapi.OptionAPIURL(apiURL))
	}
	return s
}

// Notify makes one delivery attempt.
func (s *Notifier) Notify(ctx context.Context, e notify.Event) error {
	_, err := s.post(ctx, e, "")
	return err
}

// post sends e, in bot mode as a reply to the thread whose root is root ("" for a new
// post), and returns the ts of the message posted.
func (s *Notifier) post(ctx context.Context, e notify.Event, root string) (string, error) {
	fallback, blocks := s.render(e)
	answer := &lastAnswer{}
	ctx = context.WithValue(ctx, lastAnswerKey{}, answer)
	var err error
	var ts string
	if s.api != nil {
		opts := []slackapi.MsgOption{slackapi.MsgOptionText(fallback, false), slackapi.MsgOptionBlocks(blocks...)}
		if root != "" {
			opts = append(opts, slackapi.MsgOptionTS(root))
			if e.Type == notify.TypeEscalated && e.Severity == "critical" {
				// Getting worse is news for the whole channel, not only the thread's readers.
				opts = append(opts, slackapi.MsgOptionBroadcast())
			}
		}
		_, ts, err = s.api.PostMessageContext(ctx, s.channel, opts...)
	} else {
		err = slackapi.PostWebhookCustomHTTPContext(ctx, s.webhookURL, s.client,
			&slackapi.WebhookMessage{Text: fallback, Blocks: &slackapi.Blocks{BlockSet: blocks}})
	}
	if err == nil {
		return ts, nil
	}
	return "", s.classify(err, answer)
}

// Threaded is a bot-mode Slack notifier with thread: true: an alert episode's first message
// is a post in the channel and every later event of the episode a reply in its thread
// (escalations to critical also broadcast to the channel). The delivery worker keeps each
// thread's root in Postgres, so threads survive restarts and replicas.
type Threaded struct{ *Notifier }

var _ notify.Threaded = Threaded{}

// NewThreaded builds a threaded notifier; c must be in bot mode (token and channel).
func NewThreaded(c Config) Threaded { return Threaded{New(c)} }

// NotifyInThread posts e in the thread of root, or as a new root when root is "", and
// returns the thread's root.
func (t Threaded) NotifyInThread(ctx context.Context, e notify.Event, root string) (string, error) {
	ts, err := t.post(ctx, e, root)
	if err != nil {
		return "", err
	}
	if root != "" {
		return root, nil
	}
	return ts, nil
}

// lastAnswer keeps the Retry-After of the answer to one Notify call: slack-go reads it only
// on a 429, but a 503 may carry it too.
type lastAnswer struct{ retryAfter string }

type lastAnswerKey struct{}

type retryAfterRecorder struct{ next http.RoundTripper }

func (r retryAfterRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if a, ok := req.Context().Value(lastAnswerKey{}).(*lastAnswer); ok && resp != nil {
		a.retryAfter = resp.Header.Get("Retry-After")
	}
	return resp, err
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

func (s *Notifier) classify(err error, answer *lastAnswer) *notify.Error {
	var limited *slackapi.RateLimitedError
	var refused slackapi.SlackErrorResponse
	var status slackapi.StatusCodeError
	switch {
	case errors.As(err, &limited):
		return &notify.Error{Status: http.StatusTooManyRequests, RetryAfter: limited.RetryAfter,
			Err: fmt.Errorf("slack %s: rate limited, retry after %s", s.name, limited.RetryAfter)}
	case errors.As(err, &refused):
		return &notify.Error{Permanent: !transientSlackErrors[refused.Err],
			Err: fmt.Errorf("slack %s: Slack refused the message: %s", s.name, refused.Err)}
	case errors.As(err, &status):
		// Incoming webhooks explain a refusal (404 channel_not_found, 410 channel_is_archived)
		// in a body slack-go discards, so the status is all there is.
		failure := &notify.Error{Status: status.Code, Permanent: !notify.RetryableStatus(status.Code),
			Err: fmt.Errorf("slack %s: Slack answered HTTP %d", s.name, status.Code)}
		if !failure.Permanent {
			failure.RetryAfter = notify.ParseRetryAfter(answer.retryAfter, time.Now())
		}
		return failure
	default:
		return &notify.Error{Err: fmt.Errorf("slack %s: %w", s.name, notify.RedactErr(err))}
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

// markers lead both the header and the fallback text, so a critical message is recognisable
// in a notification preview.
var markers = map[string]string{
	"test":     ":test_tube: Test",
	"resolved": ":white_check_mark: Resolved",
	"critical": ":rotating_light: CRITICAL",
	"warning":  ":warning: Warning",
	"info":     ":information_source: Info",
}

// render returns the fallback text and the Block Kit blocks of e.
func (s *Notifier) render(e notify.Event) (string, []slackapi.Block) {
	if e.Type == notify.TypeDigest && e.Digest != nil {
		return s.renderDigest(e)
	}
	message := e.Message
	if message == "" {
		message = notify.Describe(e, s.kind(e.App))
	}
	marker := markers[notify.Tone(e)]
	fallback := marker + " " + escapeMrkdwn(message)
	header := marker + " " + notify.Headline(e)

	var fields []*slackapi.TextBlockObject
	for _, f := range notify.Fields(e) {
		fields = append(fields, mrkdwn("*"+f.Label+"*\n"+escapeMrkdwn(f.Value)))
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, header, true, false)),
		slackapi.NewSectionBlock(mrkdwn(escapeMrkdwn(message)), fields, nil),
	}
	if line := notify.Context(e); line != "" {
		blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn(escapeMrkdwn(line))))
	}
	if s.publicURL != "" && e.App != "" {
		link := s.publicURL + "/#app=" + url.QueryEscape(e.App)
		button := slackapi.NewButtonBlockElement("open_dashboard", "",
			slackapi.NewTextBlockObject(slackapi.PlainTextType, "Open dashboard", false, false)).WithURL(link)
		blocks = append(blocks, slackapi.NewActionBlock("", button))
	}
	return fallback, blocks
}

func (s *Notifier) kind(app string) string {
	if s.amountKind == nil {
		return "total_balance"
	}
	return s.amountKind(app)
}

func mrkdwn(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false)
}

// mrkdwnEscaper escapes the three characters Slack treats as control sequences, so an app
// name cannot turn into a mention or a link.
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escapeMrkdwn(s string) string { return mrkdwnEscaper.Replace(s) }
