package poller_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) lines(level string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, "level="+level) {
			out = append(out, l)
		}
	}
	return out
}

// A revoked key logs one WARN line when it starts failing, one more when it fails differently
// and one INFO line when it works again, not a line per poll.
func TestAFailingAppLogsChangesNotEveryPoll(t *testing.T) {
	var buf syncBuffer
	_, p, f := productSetup(t, `
apps:
  - {name: a, dev_key: k-a, dev_secret: s-a, balance: "500"}
`, `  - {name: a, dev_key: k-a, dev_secret: s-a}
`, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	poll := func(n int) {
		for range n {
			if r := p.Poll(context.Background(), "a"); r.Err != nil && r.Failure == nil {
				t.Fatal(r.Err)
			}
		}
	}
	poll(2)
	f.Fail("k-a", fake.Failure{Status: 401, Code: 2001, Message: "invalid token"})
	poll(5)
	f.Fail("k-a", fake.Failure{Status: 401, Code: 2002, Message: "token expired"})
	poll(5)
	f.Recover("k-a")
	poll(3)
	warns, infos := buf.lines("WARN"), buf.lines("INFO")
	if len(warns) != 2 || !strings.Contains(warns[0], "code=2001") || !strings.Contains(warns[1], "code=2002") {
		t.Errorf("WARN lines:\n%s\nwant two: the first failure and the changed one", strings.Join(warns, "\n"))
	}
	if len(infos) != 1 || !strings.Contains(infos[0], `msg="poll works again"`) {
		t.Errorf("INFO lines:\n%s\nwant one: works again", strings.Join(infos, "\n"))
	}
}
