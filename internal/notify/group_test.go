package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func member(app string, i int, typ, rule string, e *EventError) Event {
	at := observedAt.Add(time.Duration(i) * time.Second)
	return Event{ID: fmt.Sprintf("evt_%02d", i), Type: typ, App: app, Alert: "data", Rule: rule,
		Severity: "warning", ObservedAt: at, Since: at.Add(-time.Minute), Error: e,
		Message: app + ": polling EngageLab keeps failing"}
}

func TestGroup(t *testing.T) {
	e1000 := &EventError{HTTPStatus: 200, Code: 1000, Message: "server error"}
	var twelve []Event
	for i := range 12 {
		twelve = append(twelve, member(fmt.Sprintf("app%02d", i), i, TypeFiring, "poll_failing", &EventError{HTTPStatus: 200, Code: 1000, Message: "server error"}))
	}
	tests := []struct {
		name     string
		events   []Event
		message  string
		headline string
	}{
		{"twelve apps with the same upstream error, names capped at ten", twelve,
			"upstream error 1000 on 12 apps: app00, app01, app02, app03, app04, app05, app06, app07, app08, app09, … and 2 more",
			"12 apps: polling failing"},
		{"different errors are not named", []Event{
			member("a", 0, TypeFiring, "poll_failing", e1000),
			member("b", 1, TypeFiring, "poll_failing", &EventError{HTTPStatus: 502}),
			member("c", 2, TypeFiring, "poll_failing", nil)},
			"polling EngageLab keeps failing on 3 apps: a, b, c", "3 apps: polling failing"},
		{"a revoked shared key", []Event{
			member("a", 0, TypeFiring, "auth_failed", nil), member("b", 1, TypeFiring, "auth_failed", nil),
			member("c", 2, TypeFiring, "auth_failed", nil)},
			"EngageLab rejected the API key on 3 apps: a, b, c", "3 apps: API key rejected"},
		{"the grouped resolve", []Event{
			member("a", 0, TypeResolved, "poll_failing", nil), member("b", 1, TypeResolved, "poll_failing", nil),
			member("c", 2, TypeResolved, "poll_failing", nil)},
			"polling EngageLab works again on 3 apps: a, b, c", "3 apps: polling failing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Group(tc.events)
			if g.Message != tc.message {
				t.Errorf("message %q\nwant    %q", g.Message, tc.message)
			}
			if h := Headline(g); h != tc.headline {
				t.Errorf("headline %q, want %q", h, tc.headline)
			}
			if g.ID != "evt_grp_00" || g.App != "" || g.Type != tc.events[0].Type || g.Rule != tc.events[0].Rule {
				t.Errorf("group event %+v", g)
			}
			if !g.Since.Equal(tc.events[0].Since) || !g.ObservedAt.Equal(tc.events[len(tc.events)-1].ObservedAt) {
				t.Errorf("since %s observed %s: want the earliest since and the latest observation", g.Since, g.ObservedAt)
			}
		})
	}
}

// TestGroupWebhookBody is the contract: the body carries "group": {"rule", "apps", "events"},
// each event as it would have been sent alone.
func TestGroupWebhookBody(t *testing.T) {
	g := Group([]Event{member("a", 0, TypeFiring, "auth_failed", nil), member("b", 1, TypeFiring, "auth_failed", nil),
		member("c", 2, TypeFiring, "auth_failed", nil)})
	body, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type  string `json:"type"`
		App   string `json:"app"`
		Group struct {
			Rule   string   `json:"rule"`
			Apps   []string `json:"apps"`
			Events []struct {
				ID  string `json:"id"`
				App string `json:"app"`
			} `json:"events"`
		} `json:"group"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "alert.firing" || got.Group.Rule != "auth_failed" || strings.Join(got.Group.Apps, ",") != "a,b,c" ||
		len(got.Group.Events) != 3 || got.Group.Events[1].ID != "evt_01" || got.Group.Events[2].App != "c" {
		t.Errorf("body %s", body)
	}
	if f := Fields(g); len(f) == 0 || f[0] != (Field{"Apps", "a, b, c"}) {
		t.Errorf("fields %v, want Apps first", f)
	}
}
