package delivery

import (
	"math"
	"testing"
	"time"
)

// backoff doubles from BaseBackoff per attempt, stops at MaxBackoff, and spreads each delay
// over ±20% so that rows failing together do not come back together.
func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	w := New(Config{BaseBackoff: time.Second, MaxBackoff: 30 * time.Second})
	for _, tc := range []struct {
		name     string
		attempts int
		want     time.Duration // before jitter
	}{
		{"first retry", 0, time.Second},
		{"second", 1, 2 * time.Second},
		{"third", 2, 4 * time.Second},
		{"fifth", 4, 16 * time.Second},
		{"capped", 5, 30 * time.Second},
		{"long after the cap", 62, 30 * time.Second}, // 2^62 s would overflow without the cap
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
			for range 200 {
				d := w.backoff(tc.attempts)
				lo, hi = min(lo, d), max(hi, d)
			}
			if lo < tc.want*8/10 || hi > tc.want*12/10 {
				t.Errorf("backoff(%d) ranged over [%v, %v], want within %v ±20%%", tc.attempts, lo, hi, tc.want)
			}
			// 200 uniform draws all within the middle half of the band: odds of 2^-200.
			if lo > tc.want*9/10 || hi < tc.want*11/10 {
				t.Errorf("backoff(%d) ranged over [%v, %v], want it spread over %v ±20%% (jitter)", tc.attempts, lo, hi, tc.want)
			}
		})
	}
}
