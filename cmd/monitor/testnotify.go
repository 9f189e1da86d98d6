package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

type testNotifyCmd struct {
	Name string `arg:"" name:"notifier" help:"The notifier to test, by its name in the config."`
}

func (c *testNotifyCmd) Run(ctx context.Context, e *env) error {
	name := c.Name
	s, err := e.open(ctx, need{notifiers: true})
	if err != nil {
		return err
	}
	n, ok := s.notifiers[name]
	if !ok {
		var names []string
		for name := range s.notifiers {
			names = append(names, name)
		}
		sort.Strings(names)
		return usagef("no notifier named %q; configured: %s", name, strings.Join(names, ", "))
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.Notify(sctx, notify.TestEvent(name, time.Now())); err != nil {
		how := "a retryable failure"
		if notify.IsPermanent(err) {
			how = "a permanent refusal"
		}
		return fmt.Errorf("notifier %s: the test message was not delivered (%s): %v", name, how, err)
	}
	fmt.Fprintf(e.stdout, "notifier %s: test message delivered\n", name)
	return nil
}
