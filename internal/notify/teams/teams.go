// Package teams posts events to a Microsoft Teams channel through a Workflows webhook ("Post
// to a channel when a webhook request is received"), as an Adaptive Card.
package teams

import (
	"context"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one Workflows webhook. It is trusted: internal/config has validated it.
type Config struct {
	Name       string
	WebhookURL string // the workflow's HTTP trigger URL; its sig parameter is the credential
	PublicURL  string
	Timeout    time.Duration
	Clock      func() time.Time
}

// Notifier posts one card per event.
type Notifier struct {
	ep        notify.Endpoint
	publicURL string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	return &Notifier{ep: notify.NewEndpoint("teams "+c.Name, c.WebhookURL, c.Timeout, c.Clock), publicURL: c.PublicURL}
}

// Message is the body the Workflows trigger takes: a message with one card attachment.
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries the card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card, schema 1.4 (what Teams renders from Workflows).
type Card struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []any          `json:"body"`
	Actions []any          `json:"actions,omitempty"`
	MSTeams map[string]any `json:"msteams"`
}

type textBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Style    string `json:"style,omitempty"`
}

type factSet struct {
	Type  string `json:"type"`
	Facts []fact `json:"facts"`
}

type fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type openURL struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// colours are Adaptive Card text colours: attention is red, warning amber, good green.
var colours = map[string]string{"critical": "attention", "warning": "warning", "resolved": "good", "test": "accent", "info": "accent"}

// Render builds the message carrying e's card. Adaptive Card TextBlocks render a markdown
// subset, so app-provided text goes in as it is but never carries a link of ours.
func Render(e notify.Event, publicURL string) Message {
	card := Card{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		MSTeams: map[string]any{"width": "Full"},
		Body: []any{
			textBlock{Type: "TextBlock", Text: notify.Title(e), Wrap: true, Size: "Large", Weight: "Bolder", Color: colours[notify.Tone(e)], Style: "heading"},
			textBlock{Type: "TextBlock", Text: notify.Text(e), Wrap: true},
		},
	}
	if fs := notify.Fields(e); len(fs) > 0 {
		set := factSet{Type: "FactSet"}
		for _, f := range fs {
			set.Facts = append(set.Facts, fact{f.Label, f.Value})
		}
		card.Body = append(card.Body, set)
	}
	if line := notify.Context(e); line != "" {
		card.Body = append(card.Body, textBlock{Type: "TextBlock", Text: line, Wrap: true, Size: "Small", IsSubtle: true})
	}
	if link := notify.DashboardURL(publicURL, e.App); link != "" {
		card.Actions = []any{openURL{Type: "Action.OpenUrl", Title: "Open dashboard", URL: link}}
	}
	return Message{Type: "message", Attachments: []Attachment{{
		ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}}
}

// Notify makes one delivery attempt. Workflows answers 202 Accepted (200 from older
// connectors); 429 carries Retry-After; other 4xx (a deleted or disabled flow, a bad
// signature) repeat.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	resp, err := n.ep.Post(ctx, Render(e, n.publicURL), nil)
	if err != nil {
		return err
	}
	if resp.OK() {
		return nil
	}
	return n.ep.Refused(resp)
}
