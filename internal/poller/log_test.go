package poller_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
)

// A revoked key logs one WARN line when it starts failing, one more when it fails differently
// and one INFO line when it works again, not a line per poll.
func TestAFailingAppLogsChangesNotEveryPoll(t *testing.T) {
	var buf logtest.Buffer
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
	warns, infos := buf.Lines("level=WARN"), buf.Lines("level=INFO")
	if len(warns) != 2 || !strings.Contains(warns[0], "code=2001") || !strings.Contains(warns[1], "code=2002") {
		t.Errorf("WARN lines:\n%s\nwant two: the first failure and the changed one", strings.Join(warns, "\n"))
	}
	if len(infos) != 1 || !strings.Contains(infos[0], `msg="poll works again"`) {
		t.Errorf("INFO lines:\n%s\nwant one: works again", strings.Join(infos, "\n"))
	}
}
