package notify

import (
	"fmt"
	"slices"
	"strings"
)

// EventGroup is what a grouped message stands for: one access or data rule that fired (or
// resolved) on several apps within the grouping wait, typically an upstream outage or a
// shared key revoked. Events are the per-app events, each as it would have been sent alone.
type EventGroup struct {
	Rule   string   `json:"rule"`
	Apps   []string `json:"apps"`
	Events []Event  `json:"events"`
}

// namesShown caps the app names written into a grouped message's sentence; the group object
// lists them all.
const namesShown = 10

// Group folds events of the same type, alert and rule on different apps into one event. Its
// id derives from the earliest event's, so a re-sent group keeps its webhook-id; its app is
// empty (the apps are in Group, in name order); times span the members: since is the
// earliest, observed_at the latest.
func Group(events []Event) Event {
	// Apps in name order, for people; the id from the earliest event (ids are ULIDs, in time
	// order), so that a group retried with its members in any order keeps its webhook-id.
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b Event) int { return strings.Compare(a.App, b.App) })
	first := events[0]
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	g := Event{
		ID:       GroupID(ids),
		Type:     first.Type,
		Alert:    first.Alert,
		Rule:     first.Rule,
		Severity: first.Severity,
		// An escalation's step is the group's: the key includes the rule it escalated to, and
		// access and data ladders have one step to each rule.
		PreviousRule:     first.PreviousRule,
		PreviousSeverity: first.PreviousSeverity,
		Since:            first.Since,
		Error:            sharedError(events),
		Group:            &EventGroup{Rule: first.Rule, Events: events},
	}
	for _, e := range events {
		g.Group.Apps = append(g.Group.Apps, e.App)
		if e.ObservedAt.After(g.ObservedAt) {
			g.ObservedAt = e.ObservedAt
		}
		if e.Since.Before(g.Since) {
			g.Since = e.Since
		}
		if e.Severity == "critical" {
			g.Severity = "critical"
		}
	}
	g.Message = describeGroup(g)
	return g
}

// sharedError is the upstream failure every member saw, or nil when they differ.
func sharedError(events []Event) *EventError {
	first := events[0].Error
	for _, e := range events[1:] {
		if (first == nil) != (e.Error == nil) || first != nil && *first != *e.Error {
			return nil
		}
	}
	return first
}

// describeGroup words a grouped event: "upstream error 1000 on 12 apps: a, b, c, … and 2 more".
func describeGroup(g Event) string {
	n := len(g.Group.Apps)
	var what string
	if g.Type == TypeResolved {
		switch g.Rule {
		case "auth_failed":
			what = fmt.Sprintf("EngageLab accepts the API keys again on %d apps", n)
		case "app_unavailable":
			what = fmt.Sprintf("%d applications are available again", n)
		case "poll_failing":
			what = fmt.Sprintf("polling EngageLab works again on %d apps", n)
		case "stale":
			what = fmt.Sprintf("fresh data again on %d apps", n)
		default:
			what = fmt.Sprintf("%s resolved on %d apps", Level(g.Rule, ""), n)
		}
		return what + ": " + appList(g.Group.Apps)
	}
	switch g.Rule {
	case "auth_failed":
		what = fmt.Sprintf("EngageLab rejected the API key on %d apps", n)
	case "app_unavailable":
		what = fmt.Sprintf("EngageLab reports %d applications deleted or disabled", n)
	case "poll_failing":
		what = fmt.Sprintf("polling EngageLab keeps failing on %d apps", n)
		if e := g.Error; e != nil && e.Code != 0 {
			what = fmt.Sprintf("upstream error %d on %d apps", e.Code, n)
		} else if e != nil && e.HTTPStatus != 0 {
			what = fmt.Sprintf("upstream error HTTP %d on %d apps", e.HTTPStatus, n)
		}
	case "stale":
		what = fmt.Sprintf("no fresh data on %d apps", n)
	default:
		what = fmt.Sprintf("%s on %d apps", Level(g.Rule, g.Severity), n)
	}
	return what + ": " + appList(g.Group.Apps)
}

func appList(apps []string) string {
	if len(apps) <= namesShown {
		return strings.Join(apps, ", ")
	}
	return strings.Join(apps[:namesShown], ", ") + fmt.Sprintf(", … and %d more", len(apps)-namesShown)
}

// GroupID is the id (and webhook-id) of the grouped message of these events: "evt_grp_" and
// the earliest one's ULID, whatever their order.
func GroupID(eventIDs []string) string {
	return "evt_grp_" + strings.TrimPrefix(slices.Min(eventIDs), "evt_")
}
