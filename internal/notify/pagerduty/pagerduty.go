// Package pagerduty opens and resolves PagerDuty incidents with the Events API v2: a trigger
// per alert transition, deduplicated per alert episode so escalations update the same
// incident, and a resolve when the alert resolves. Non-alert events (a top-up) go out as
// change events, which never page.
package pagerduty

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one integration. It is trusted: internal/config has validated it.
type Config struct {
	Name       string
	RoutingKey string // the integration key of an Events API v2 integration
	APIURL     string // default https://events.pagerduty.com
	PublicURL  string
	Timeout    time.Duration
	Clock      func() time.Time
}

// Notifier sends one event per call.
type Notifier struct {
	ep         notify.Endpoint // URL: the API base
	routingKey string
	publicURL  string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	api := strings.TrimRight(cmp.Or(c.APIURL, "https://events.pagerduty.com"), "/")
	return &Notifier{ep: notify.NewEndpoint("pagerduty "+c.Name, api, c.Timeout, c.Clock), routingKey: c.RoutingKey, publicURL: c.PublicURL}
}

// Event is an Events API v2 body (alert events on /v2/enqueue, change events on
// /v2/change/enqueue, which take no event_action or dedup_key).
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action,omitempty"`
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
}

// Payload describes the incident.
type Payload struct {
	Summary       string       `json:"summary"`
	Source        string       `json:"source"`
	Severity      string       `json:"severity,omitempty"` // critical, error, warning or info
	Timestamp     string       `json:"timestamp,omitempty"`
	Component     string       `json:"component,omitempty"`
	Class         string       `json:"class,omitempty"`
	CustomDetails notify.Event `json:"custom_details"`
}

// DedupKey names an alert episode: the app, the alert and when it began. Every event of the
// episode (firing, escalations, reminders, the resolve) carries it, so PagerDuty keeps one
// incident; the next episode starts a new one.
func DedupKey(e notify.Event) string {
	return "engagelab-monitor/" + e.App + "/" + e.Alert + "/" + e.Since.UTC().Format(time.RFC3339)
}

// Build is the request for e: its path under the API base and its body.
func Build(e notify.Event, routingKey, publicURL string) (string, Event) {
	ev := Event{RoutingKey: routingKey, Client: "engagelab-monitor", ClientURL: notify.DashboardURL(publicURL, e.App)}
	payload := &Payload{
		Summary:       truncate(notify.Text(e), 1024),
		Source:        cmp.Or(e.App, "engagelab-monitor"),
		Timestamp:     e.ObservedAt.UTC().Format(time.RFC3339),
		CustomDetails: e,
	}
	switch {
	case e.Type == notify.TypeResolved, e.Type == notify.TypeFlapping:
		// A flapping alert stops paging until it is stable: its episode's incident is resolved
		// (a no-op when that episode never paged), and the message that ends the flap opens a
		// new one if it settled firing. Paging on the flapping message instead would leave an
		// incident that no later event resolves, since each flip is an episode of its own.
		ev.EventAction, ev.DedupKey = "resolve", DedupKey(e)
		return "/v2/enqueue", ev
	case notify.IsAlert(e):
		ev.EventAction, ev.DedupKey = "trigger", DedupKey(e)
		payload.Severity = "warning"
		if e.Severity == "critical" {
			payload.Severity = "critical"
		}
		payload.Component, payload.Class = e.Alert, e.Rule
	case e.Type == notify.TypeTest:
		// A test should page, or it proves nothing; it is its own incident.
		ev.EventAction, ev.DedupKey = "trigger", "engagelab-monitor/test/"+e.ID
		payload.Severity = "info"
	default:
		// A top-up or a gift expiry is news, not an incident.
		ev.ClientURL, ev.Client = "", ""
		payload.Severity = ""
		ev.Payload = payload
		return "/v2/change/enqueue", ev
	}
	ev.Payload = payload
	return "/v2/enqueue", ev
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

type answer struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
}

// Notify makes one delivery attempt. PagerDuty answers 202; 400 is an invalid event
// (permanent), 429 a rate limit and 5xx its trouble (both retryable).
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	path, ev := Build(e, n.routingKey, n.publicURL)
	resp, err := n.ep.PostTo(ctx, n.ep.URL+path, ev, nil)
	if err != nil {
		return err
	}
	if resp.OK() {
		return nil
	}
	failure := n.ep.Refused(resp)
	var a answer
	if resp.Status == http.StatusBadRequest && json.Unmarshal(resp.Body, &a) == nil && a.Message != "" {
		detail := a.Message
		if len(a.Errors) > 0 {
			detail += ": " + strings.Join(a.Errors, "; ")
		}
		// PagerDuty does not echo the routing key, but nothing promises it never will.
		detail = strings.ReplaceAll(detail, n.routingKey, "***")
		failure.Err = fmt.Errorf("%s (%s)", failure.Err, detail)
	}
	return failure
}
