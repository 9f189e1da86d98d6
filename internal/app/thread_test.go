package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSlack answers chat.postMessage as Slack does, numbering the messages it posts.
type fakeSlack struct {
	*httptest.Server
	mu    sync.Mutex
	posts []slackPost
}

type slackPost struct {
	ts, threadTS, broadcast, text string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat.postMessage" || r.Header.Get("Authorization") != "Bearer xoxb-test-token" {
			t.Errorf("unexpected request %s %s (authorization %q)", r.Method, r.URL.Path, r.Header.Get("Authorization"))
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		f.mu.Lock()
		p := slackPost{ts: fmt.Sprintf("1764151200.%06d", len(f.posts)+1), threadTS: r.PostForm.Get("thread_ts"),
			broadcast: r.PostForm.Get("reply_broadcast"), text: r.PostForm.Get("text")}
		f.posts = append(f.posts, p)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":"C0123456789","ts":%q}`, p.ts)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) all() []slackPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackPost(nil), f.posts...)
}

// With thread: true an alert episode is one thread: the firing is a post, the escalation and
// the resolve reply to it (the escalation to critical also in the channel), and the thread
// survives a restart of the service between them.
func TestSlackThreadSurvivesARestart(t *testing.T) {
	t.Parallel()
	slack := newFakeSlack(t)
	s := newAlertSetup(t, fmt.Sprintf(`[{name: chat, type: slack, token: xoxb-test-token, channel: C0123456789, api_url: "%s", thread: true}]`, slack.URL),
		"[chat]", "")
	stop := s.start(s.cfg)
	s.balance("80")
	waitUntil(t, "the firing post", func() bool { return len(slack.all()) == 1 })
	s.balance("10")
	waitUntil(t, "the escalation", func() bool { return len(slack.all()) == 2 })
	stop()

	s.start(s.cfg)
	s.balance("150")
	waitUntil(t, "the resolve", func() bool { return len(slack.all()) == 3 })
	s.morePolls(2)
	posts := slack.all()
	var got []string
	for _, p := range posts {
		got = append(got, fmt.Sprintf("%s thread=%q broadcast=%q %s", p.ts, p.threadTS, p.broadcast, strings.SplitN(p.text, "\n", 2)[0]))
	}
	root := posts[0].ts
	want := []string{
		root + ` thread="" broadcast="" ` + strings.SplitN(posts[0].text, "\n", 2)[0],
		posts[1].ts + ` thread="` + root + `" broadcast="true" ` + strings.SplitN(posts[1].text, "\n", 2)[0],
		posts[2].ts + ` thread="` + root + `" broadcast="" ` + strings.SplitN(posts[2].text, "\n", 2)[0],
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("posts (-want +got):\n%s", d)
	}
	for i, frag := range []string{"below the warning threshold", "below the critical threshold", "resolved"} {
		if !strings.Contains(posts[i].text, frag) {
			t.Errorf("post %d = %q, want it to say %q", i, posts[i].text, frag)
		}
	}
}
