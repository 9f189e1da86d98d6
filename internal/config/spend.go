package config

import (
	"strings"
	"time"
	_ "time/tzdata" // spend_day_timezone must work in a distroless image without zoneinfo

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// RunwayRule configures the runway alert (key `runway`, or `runway: off`).
type RunwayRule struct {
	Off               bool
	Warning, Critical time.Duration
	MinHistory        time.Duration // no runway (and no alert) with less history than this
}

// DrainRule configures the abnormal-drain alert (key `drain`, or `drain: off`).
type DrainRule struct {
	Off        bool
	Window     time.Duration   // a whole number of hours
	Factor     decimal.Decimal // fires above Factor × the typical spend of such a window
	Min        decimal.Decimal // and at or above Min
	MinHistory time.Duration
}

// Defaults of the spend rules, as in the README.
var (
	defaultRunway = RunwayRule{Warning: 72 * time.Hour, Critical: 24 * time.Hour, MinHistory: time.Hour}
	defaultDrain  = DrainRule{Window: time.Hour, Factor: decimal.NewFromInt(5), Min: decimal.NewFromInt(20), MinHistory: 24 * time.Hour}
)

var (
	runwayKeys = []string{"warning", "critical", "min_history"}
	drainKeys  = []string{"window", "factor", "min", "min_history"}
)

// spendSettings are the inheritable spend keys; maps merge key by key like thresholds.
type spendSettings struct {
	runwayOff, drainOff                      setting[bool]
	runwayWarning, runwayCritical, runwayMin setting[time.Duration]
	drainWindow, drainMinHistory             setting[time.Duration]
	drainFactor, drainMin                    setting[decimal.Decimal]
	dailyLimit                               setting[decimal.Decimal]
	dayZone                                  setting[*time.Location]
}

func (s spendSettings) merge(inherited spendSettings) spendSettings {
	return spendSettings{
		runwayOff: override(s.runwayOff, inherited.runwayOff), drainOff: override(s.drainOff, inherited.drainOff),
		runwayWarning: override(s.runwayWarning, inherited.runwayWarning), runwayCritical: override(s.runwayCritical, inherited.runwayCritical),
		runwayMin: override(s.runwayMin, inherited.runwayMin), drainWindow: override(s.drainWindow, inherited.drainWindow),
		drainMinHistory: override(s.drainMinHistory, inherited.drainMinHistory), drainFactor: override(s.drainFactor, inherited.drainFactor),
		drainMin: override(s.drainMin, inherited.drainMin), dailyLimit: override(s.dailyLimit, inherited.dailyLimit),
		dayZone: override(s.dayZone, inherited.dayZone),
	}
}

// offOrMapping reads a rule section: the word off, or a mapping of keys.
func (d *decoder) offOrMapping(f fields, key, owner string, keys []string) (setting[bool], fields) {
	n := f.get(key)
	path := join(f.path, key)
	off := setting[bool]{node: n, owner: owner}
	if n == nil {
		return setting[bool]{owner: owner}, fields{path: path, values: map[string]*yaml.Node{}}
	}
	if v := deref(n); v.Kind == yaml.ScalarNode {
		if v.Value != "off" {
			d.add(n, path, "must be off or a mapping with %s", strings.Join(keys, ", "))
			return off, fields{path: path, values: map[string]*yaml.Node{}}
		}
		off.v, off.ok = true, true
		return off, fields{path: path, values: map[string]*yaml.Node{}}
	}
	off.v, off.ok = false, true
	return off, d.mapping(n, path, keys...)
}

func (d *decoder) spendSettings(f fields, owner string) spendSettings {
	var s spendSettings
	var rw, dr fields
	s.runwayOff, rw = d.offOrMapping(f, "runway", owner, runwayKeys)
	s.drainOff, dr = d.offOrMapping(f, "drain", owner, drainKeys)
	s.runwayWarning = read(rw, "warning", owner, d.duration)
	s.runwayCritical = read(rw, "critical", owner, d.duration)
	s.runwayMin = read(rw, "min_history", owner, d.duration)
	s.drainWindow = read(dr, "window", owner, d.duration)
	s.drainMinHistory = read(dr, "min_history", owner, d.duration)
	s.drainFactor = read(dr, "factor", owner, d.amount)
	s.drainMin = read(dr, "min", owner, d.amount)
	s.dailyLimit = read(f, "daily_spend_limit", owner, d.amount)
	s.dayZone = read(f, "spend_day_timezone", owner, d.zone)

	if v := s.drainWindow; v.ok && (v.v < time.Hour || v.v > 24*time.Hour || v.v%time.Hour != 0) {
		d.add(v.node, join(dr.path, "window"), "%s must be a whole number of hours from 1h to 24h (the ledger keeps hours)", formatDuration(v.v))
		s.drainWindow.ok = false
	}
	if v := s.drainFactor; v.ok && !v.v.IsPositive() {
		d.add(v.node, join(dr.path, "factor"), "%s must be above 0", v.v)
		s.drainFactor.ok = false
	}
	if v := s.drainMin; v.ok && v.v.IsNegative() {
		d.add(v.node, join(dr.path, "min"), "%s must not be negative", v.v)
		s.drainMin.ok = false
	}
	if v := s.dailyLimit; v.ok && !v.v.IsPositive() {
		d.add(v.node, join(f.path, "daily_spend_limit"), "%s must be above 0", v.v)
		s.dailyLimit.ok = false
	}
	// Written out rather than looped over pointers into s, which would move s to the heap:
	// 400 B of garbage an app.
	if v := s.runwayWarning; v.ok && v.v <= 0 {
		d.add(v.node, join(rw.path, "warning"), "must be above 0")
		s.runwayWarning.ok = false
	}
	if v := s.runwayCritical; v.ok && v.v <= 0 {
		d.add(v.node, join(rw.path, "critical"), "must be above 0")
		s.runwayCritical.ok = false
	}
	return s
}

// crossCheckSpend reports runway.critical not below runway.warning, where it was written.
func (d *decoder) crossCheckSpend(s spendSettings, owner string) {
	w, c := s.runwayWarning, s.runwayCritical
	wv, cv := valueOr(w, defaultRunway.Warning), valueOr(c, defaultRunway.Critical)
	if (w.ok || w.node == nil) && (c.ok || c.node == nil) && cv >= wv {
		switch {
		case c.owner == owner && c.node != nil:
			d.add(c.node, owner+".runway.critical", "%s must be below runway.warning %s%s", formatDuration(cv), formatDuration(wv), w.from(owner))
		case w.owner == owner && w.node != nil:
			d.add(w.node, owner+".runway.warning", "%s must be above runway.critical %s%s", formatDuration(wv), formatDuration(cv), c.from(owner))
		}
	}
}

func (d *decoder) zone(n *yaml.Node, path string) (*time.Location, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return nil, false
	}
	loc, err := time.LoadLocation(s)
	if err != nil || s == "" || s == "Local" {
		d.add(n, path, "%q is not a time zone name (write it like UTC or Asia/Shanghai)", s)
		return nil, false
	}
	return loc, true
}

// applySpend fills the spend rules of a from its merged settings.
func (s spendSettings) apply(a *App) {
	a.Runway = RunwayRule{
		Off:        valueOr(s.runwayOff, false),
		Warning:    valueOr(s.runwayWarning, defaultRunway.Warning),
		Critical:   valueOr(s.runwayCritical, defaultRunway.Critical),
		MinHistory: valueOr(s.runwayMin, defaultRunway.MinHistory),
	}
	a.Drain = DrainRule{
		Off:        valueOr(s.drainOff, false),
		Window:     valueOr(s.drainWindow, defaultDrain.Window),
		Factor:     valueOr(s.drainFactor, defaultDrain.Factor),
		Min:        valueOr(s.drainMin, defaultDrain.Min),
		MinHistory: valueOr(s.drainMinHistory, defaultDrain.MinHistory),
	}
	if s.dailyLimit.ok {
		// A copy: a pointer into s would keep all of s, and the YAML it points to, per app.
		limit := s.dailyLimit.v
		a.DailySpendLimit = &limit
	}
	a.SpendDay = valueOr(s.dayZone, time.UTC)
}
