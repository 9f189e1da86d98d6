package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Grouping folds one access or data rule firing on many apps at once (the upstream is down,
// a shared key was revoked) into one message per notifier.
type Grouping struct {
	MinApps int           // 0: grouping is off
	Wait    time.Duration // how long a firing or resolve waits for others to join it
}

// On reports whether grouping is enabled.
func (g Grouping) On() bool { return g.MinApps > 0 }

const (
	defaultGroupMinApps = 3
	defaultGroupWait    = 30 * time.Second
)

// grouping reads `grouping: {min_apps, wait}` or `grouping: off`; absent means on with the
// defaults, since twelve identical pages during an upstream outage help nobody.
func (d *decoder) grouping(n *yaml.Node) Grouping {
	def := Grouping{MinApps: defaultGroupMinApps, Wait: defaultGroupWait}
	if n := deref(n); n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		switch v, _ := d.scalar(n, "grouping"); v {
		case "off", "false":
			return Grouping{}
		case "on", "true":
			return def
		default:
			d.add(n, "grouping", "must be off, on or a mapping with min_apps and wait, not %q", v)
			return def
		}
	}
	f := d.mapping(n, "grouping", "min_apps", "wait")
	g := def
	if v, ok := d.wholeAtLeast(f.get("min_apps"), "grouping.min_apps", 2, " (use grouping: off to turn grouping off)"); ok {
		g.MinApps = v
	}
	g.Wait = d.positiveDuration(f, "wait", defaultGroupWait)
	return g
}
