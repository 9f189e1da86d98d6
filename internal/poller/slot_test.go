package poller

import (
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

func TestSlotAtIsTheScheduledTimeEvenWhenTheJobRunsLate(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		spec     string
		interval time.Duration
		now      string
		want     string
	}{
		{"@every 1m", time.Minute, "2026-11-26T10:05:01.250Z", "2026-11-26T10:05:00Z"},
		{"@every 1m", time.Minute, "2026-11-26T10:05:59.999Z", "2026-11-26T10:05:00Z"},
		{"*/10 * * * *", 10 * time.Minute, "2026-11-26T10:20:03.5Z", "2026-11-26T10:20:00Z"},
		{"*/10 * * * *", 10 * time.Minute, "2026-11-26T10:29:59Z", "2026-11-26T10:20:00Z"},
		{"*/20 * * * * *", 20 * time.Second, "2026-11-26T10:00:41.7Z", "2026-11-26T10:00:40Z"},
		{"0 9 * * 1-5", 72 * time.Hour, "2026-11-30T09:00:02Z", "2026-11-30T09:00:00Z"},
	}
	for _, tt := range tests {
		sched, err := config.CronParser.Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		got := slotAt(Aligned(sched), at(tt.now), tt.interval)
		if !got.Equal(at(tt.want)) {
			t.Errorf("%s at %s: slot %s, want %s", tt.spec, tt.now, got.Format(time.RFC3339), tt.want)
		}
	}
}
