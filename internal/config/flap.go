package config

import (
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// FlapRule configures flap damping (key `flap`, or `flap: off`): an alert that fired and
// resolved more than MaxChanges times within Window sends one "flapping" message, then
// nothing until it has been stable for Window.
type FlapRule struct {
	Off        bool
	MaxChanges int
	Window     time.Duration
}

var (
	defaultFlap = FlapRule{MaxChanges: 4, Window: 30 * time.Minute}
	flapKeys    = []string{"max_changes", "window"}
)

// flapSettings are the inheritable flap keys; the mapping merges key by key like thresholds.
type flapSettings struct {
	off        setting[bool]
	maxChanges setting[int]
	window     setting[time.Duration]
}

func (s flapSettings) merge(inherited flapSettings) flapSettings {
	return flapSettings{
		off:        override(s.off, inherited.off),
		maxChanges: override(s.maxChanges, inherited.maxChanges),
		window:     override(s.window, inherited.window),
	}
}

func (d *decoder) flapSettings(f fields, owner string) flapSettings {
	var s flapSettings
	var fl fields
	s.off, fl = d.offOrMapping(f, "flap", owner, flapKeys)
	s.maxChanges = read(fl, "max_changes", owner, d.wholeAtLeastOne)
	s.window = read(fl, "window", owner, d.duration)
	if v := s.window; v.ok && v.v <= 0 {
		d.add(v.node, join(fl.path, "window"), "must be longer than 0")
		s.window.ok = false
	}
	return s
}

func (d *decoder) wholeAtLeastOne(n *yaml.Node, path string) (int, bool) {
	return d.wholeAtLeast(n, path, 1, "")
}

// wholeAtLeast reads n as a whole number of at least least; a refusal says so, then hint.
func (d *decoder) wholeAtLeast(n *yaml.Node, path string, least int, hint string) (int, bool) {
	v, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	switch {
	case err != nil:
		d.add(n, path, "%q is not a whole number", v)
		return 0, false
	case i < least:
		d.add(n, path, "must be at least %d, not %d%s", least, i, hint)
		return 0, false
	}
	return i, true
}

func (s flapSettings) rule() FlapRule {
	return FlapRule{
		Off:        valueOr(s.off, false),
		MaxChanges: valueOr(s.maxChanges, defaultFlap.MaxChanges),
		Window:     valueOr(s.window, defaultFlap.Window),
	}
}
