package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The HTTP silence endpoints of the running service go through the real poller: a silence
// shows in /api/v1/apps and mutes messages, and DELETE sends the one message of what fired
// meanwhile.
func TestSilenceOverHTTP(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	s.start(s.cfg)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := do("POST", "/api/v1/apps/checkout/silence", `{"for":"1h","reason":"recharge on the way"}`); code != 200 {
		t.Fatalf("POST silence = %d %s", code, body)
	}
	_, body := do("GET", "/api/v1/apps", "")
	var apps struct {
		Apps []struct {
			Name          string     `json:"name"`
			SilencedUntil *time.Time `json:"silenced_until"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(body), &apps); err != nil || len(apps.Apps) != 1 || apps.Apps[0].SilencedUntil == nil ||
		time.Until(*apps.Apps[0].SilencedUntil) < 59*time.Minute {
		t.Fatalf("apps while silenced = %s (%v)", body, err)
	}

	s.balance("80")
	waitUntil(t, "the silenced firing to be recorded", func() bool { return len(s.eventLog(st)) > 0 })
	s.morePolls(2)
	if n := len(s.rc.Requests()); n != 0 {
		t.Fatalf("receiver got %d requests while the app was silenced", n)
	}

	if code, body := do("DELETE", "/api/v1/apps/checkout/silence", ""); code != 200 {
		t.Fatalf("DELETE silence = %d %s", code, body)
	}
	s.rc.waitDelivered(t, "/pager", 1)
	s.morePolls(2)
	diff(t, "messages", []msg{firingWarning}, msgs(s.rc.delivered(t, "/pager")))
	diff(t, "event log", []string{"alert.firing low_balance/warning silenced", "alert.firing low_balance/warning"}, s.eventLog(st))
}
