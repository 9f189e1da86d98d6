package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

const (
	defaultSchedule    = "@every 1m"
	defaultAmount      = "total_balance"
	defaultProduct     = balance.ProductOTP
	defaultRepeatEvery = 4 * time.Hour
	minStaleAfter      = 10 * time.Minute
	ownerDefaults      = "defaults"
)

var (
	defaultOverdraftWarnRatio = decimal.RequireFromString("0.8")
	settingKeys               = []string{"product", "schedule", "amount", "thresholds", "resolve_margin",
		"overdraft_warn_ratio", "overdraft_limit", "repeat_every", "stale_after", "notify",
		"runway", "drain", "daily_spend_limit", "spend_day_timezone", "flap"}
	appKeys = append([]string{"name", "dev_key", "dev_secret", "dev_secret_file"}, settingKeys...)
)

// setting is one inheritable value and where it was written, so that a
// problem found on the merged app points at the line that caused it, and a
// mistake in defaults is reported once rather than once per app.
type setting[T any] struct {
	v     T
	ok    bool       // written and valid
	node  *yaml.Node // nil when not written
	owner string     // "defaults" or the app's path
}

// from says where an inherited value came from, for problems reported on an app.
func (s setting[T]) from(owner string) string {
	if s.owner != owner && s.owner == ownerDefaults {
		return " (from defaults)"
	}
	return ""
}

// override returns s when it was written on the app, else the inherited value.
func override[T any](s, inherited setting[T]) setting[T] {
	if s.node != nil {
		return s
	}
	return inherited
}

type scheduleResult struct {
	s   parsedSchedule
	err error
}

type parsedSchedule struct {
	spec     string
	cron     cron.Schedule
	interval time.Duration
}

// settings are the keys an app inherits from defaults.
type settings struct {
	product            setting[balance.Product]
	schedule           setting[parsedSchedule]
	amount             setting[string]
	warning, critical  setting[decimal.Decimal]
	resolveMargin      setting[decimal.Decimal]
	overdraftWarnRatio setting[decimal.Decimal]
	overdraftLimit     setting[decimal.Decimal]
	repeatEvery        setting[time.Duration]
	staleAfter         setting[time.Duration]
	notify             setting[[]string]
	spend              spendSettings
	flap               flapSettings
}

func (s settings) merge(inherited settings) settings {
	return settings{
		product:            override(s.product, inherited.product),
		schedule:           override(s.schedule, inherited.schedule),
		amount:             override(s.amount, inherited.amount),
		warning:            override(s.warning, inherited.warning),
		critical:           override(s.critical, inherited.critical),
		resolveMargin:      override(s.resolveMargin, inherited.resolveMargin),
		overdraftWarnRatio: override(s.overdraftWarnRatio, inherited.overdraftWarnRatio),
		overdraftLimit:     override(s.overdraftLimit, inherited.overdraftLimit),
		repeatEvery:        override(s.repeatEvery, inherited.repeatEvery),
		staleAfter:         override(s.staleAfter, inherited.staleAfter),
		notify:             override(s.notify, inherited.notify),
		spend:              s.spend.merge(inherited.spend),
		flap:               s.flap.merge(inherited.flap),
	}
}

// read parses one optional key of f with parse.
func read[T any](f fields, key, owner string, parse func(*yaml.Node, string) (T, bool)) setting[T] {
	s := setting[T]{node: f.get(key), owner: owner}
	if s.node != nil {
		s.v, s.ok = parse(s.node, join(f.path, key))
	}
	return s
}

// settings reads the inheritable keys of f, checking each value on its own;
// checks that involve several values wait for the merge.
func (d *decoder) settings(f fields, owner string, notifiers []Notifier) settings {
	th := d.mapping(f.get("thresholds"), join(f.path, "thresholds"), "warning", "critical")
	s := settings{
		product:            read(f, "product", owner, d.product),
		schedule:           read(f, "schedule", owner, d.schedule),
		amount:             read(f, "amount", owner, d.amountKind),
		warning:            read(th, "warning", owner, d.amount),
		critical:           read(th, "critical", owner, d.amount),
		resolveMargin:      read(f, "resolve_margin", owner, d.amount),
		overdraftWarnRatio: read(f, "overdraft_warn_ratio", owner, d.amount),
		overdraftLimit:     read(f, "overdraft_limit", owner, d.amount),
		repeatEvery:        read(f, "repeat_every", owner, d.duration),
		staleAfter:         read(f, "stale_after", owner, d.duration),
		notify: read(f, "notify", owner, func(n *yaml.Node, path string) ([]string, bool) {
			return d.notify(n, path, notifiers)
		}),
		spend: d.spendSettings(f, owner),
		flap:  d.flapSettings(f, owner),
	}
	if th.wrongKind {
		// Already reported: count the thresholds as written so that the
		// merged app does not also call them missing.
		s.warning.node, s.critical.node = f.get("thresholds"), f.get("thresholds")
	}
	check := func(s *setting[decimal.Decimal], key string, valid bool, msg string) {
		if s.ok && !valid {
			d.add(s.node, join(f.path, key), "%s %s", s.v, msg)
			s.ok = false
		}
	}
	check(&s.resolveMargin, "resolve_margin", !s.resolveMargin.v.IsNegative(), "must not be negative")
	check(&s.overdraftWarnRatio, "overdraft_warn_ratio",
		s.overdraftWarnRatio.v.IsPositive() && s.overdraftWarnRatio.v.Cmp(decimal.NewFromInt(1)) <= 0,
		"must be above 0 and at most 1")
	check(&s.overdraftLimit, "overdraft_limit", s.overdraftLimit.v.IsPositive(), "must be above 0")
	return s
}

func (d *decoder) amountKind(n *yaml.Node, path string) (string, bool) {
	v, ok := d.scalar(n, path)
	if ok && v != "total_balance" && v != "balance" {
		d.add(n, path, `must be "total_balance" or "balance", not %q`, v)
		return "", false
	}
	return v, ok
}

func (d *decoder) product(n *yaml.Node, path string) (balance.Product, bool) {
	v, ok := d.scalar(n, path)
	if ok && v != string(balance.ProductOTP) && v != string(balance.ProductSMS) {
		d.add(n, path, `must be "otp" or "sms", not %q`, v)
		return "", false
	}
	return balance.Product(v), ok
}

func (d *decoder) notify(n *yaml.Node, path string, notifiers []Notifier) ([]string, bool) {
	items := d.sequence(n, path)
	if deref(n).Kind != yaml.SequenceNode {
		return nil, false
	}
	out := []string{}
	ok := true
	for i, item := range items {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		name, nameOK := d.scalar(item, itemPath)
		switch {
		case !nameOK:
			ok = false
		case !slices.ContainsFunc(notifiers, func(nt Notifier) bool { return nt.Name == name }):
			d.add(item, itemPath, "no notifier is named %q", name)
			ok = false
		case slices.Contains(out, name):
			d.add(item, itemPath, "%q is listed twice", name)
		default:
			out = append(out, name)
		}
	}
	return out, ok
}

// schedule parses a cron spec in UTC (unless it names its own CRON_TZ) and
// measures its longest gap.
func (d *decoder) schedule(n *yaml.Node, path string) (parsedSchedule, bool) {
	spec, ok := d.scalar(n, path)
	if !ok {
		return parsedSchedule{}, false
	}
	// Measuring a schedule walks up to 20000 runs; apps usually share a few specs.
	var s parsedSchedule
	var err error
	if cached, ok := d.schedules[spec]; ok {
		s, err = cached.s, cached.err
	} else {
		s, err = parseSchedule(spec)
		d.schedules[spec] = scheduleResult{s, err}
	}
	if _, fromEnv := d.expanded[deref(n)]; err != nil && fromEnv {
		// cron's reasons quote pieces of the spec, which may be pieces of a secret.
		d.add(n, path, "%q is not a valid cron spec", spec)
		return parsedSchedule{}, false
	}
	if err != nil {
		d.add(n, path, "%q is not a valid cron spec: %v", spec, err)
		return parsedSchedule{}, false
	}
	return s, true
}

func parseSchedule(spec string) (s parsedSchedule, err error) {
	full := spec
	if !strings.HasPrefix(spec, "TZ=") && !strings.HasPrefix(spec, "CRON_TZ=") {
		full = "CRON_TZ=UTC " + spec
	}
	// cron's parser slices out of range on a time zone with nothing after it.
	defer func() {
		if recover() != nil {
			err = fmt.Errorf("a time zone must be followed by a schedule")
		}
	}()
	c, err := CronParser.Parse(full)
	if err != nil {
		return parsedSchedule{}, err
	}
	// cron silently runs "@every 0s" or "@every 500ms" every second and drops the fraction of
	// "@every 1.5s": refuse what it would not do as written.
	if i := strings.Index(spec, "@every "); i >= 0 {
		d, derr := time.ParseDuration(strings.TrimSpace(spec[i+len("@every "):]))
		if derr == nil && (d < time.Second || d%time.Second != 0) {
			return parsedSchedule{}, fmt.Errorf("@every needs a whole number of seconds, at least 1s")
		}
	}
	gap := longestGap(c)
	if gap == 0 {
		return parsedSchedule{}, fmt.Errorf("it never runs")
	}
	return parsedSchedule{spec: spec, cron: c, interval: gap}, nil
}

// longestGap measures the longest gap between runs over a year from a fixed
// instant, so that weekday-only or monthly specs get their real worst case and
// the result does not depend on the day the monitor starts. The run cap keeps
// per-second specs cheap; it covers two weeks of a per-minute spec.
func longestGap(s cron.Schedule) time.Duration {
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return c.Delay
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(1, 0, 0)
	prev := s.Next(start.Add(-time.Second)) // an activation at the very start counts
	var gap time.Duration
	// Measure at least one gap, so that a yearly (or four-yearly) spec has an interval too.
	for i := 0; i < 20000 && !prev.IsZero() && (prev.Before(end) || gap == 0); i++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		gap = max(gap, next.Sub(prev))
		prev = next
	}
	return gap
}

// crossCheck reports problems that involve several settings. A problem is
// reported by the owner that wrote at least one of the values involved, so a
// mistake written in defaults appears once, under defaults.
func (d *decoder) crossCheck(s settings, owner string) {
	d.crossCheckSpend(s.spend, owner)
	if w, c := s.warning, s.critical; w.ok && c.ok && c.v.Cmp(w.v) >= 0 {
		switch {
		case c.owner == owner:
			d.add(c.node, owner+".thresholds.critical", "%s must be below the warning threshold %s%s", c.v, w.v, w.from(owner))
		case w.owner == owner:
			d.add(w.node, owner+".thresholds.warning", "%s must be above the critical threshold %s%s", w.v, c.v, c.from(owner))
		}
	}
	if st, sc := s.staleAfter, s.schedule; st.ok && sc.ok && st.v < 2*sc.v.interval {
		switch {
		case st.owner == owner:
			d.add(st.node, owner+".stale_after", "%s is shorter than two poll intervals (2 × %s) of the schedule %q%s",
				formatDuration(st.v), formatDuration(sc.v.interval), sc.v.spec, sc.from(owner))
		case sc.owner == owner:
			d.add(sc.node, owner+".schedule", "%q polls only every %s, so stale_after %s%s is shorter than two poll intervals",
				sc.v.spec, formatDuration(sc.v.interval), formatDuration(st.v), st.from(owner))
		}
	}
}

func (d *decoder) apps(root fields, notifiers []Notifier) []App {
	def := d.settings(d.mapping(root.get("defaults"), ownerDefaults, settingKeys...), ownerDefaults, notifiers)
	builtin, _ := parseSchedule(defaultSchedule)
	def.schedule = override(def.schedule, setting[parsedSchedule]{v: builtin, ok: true})
	d.crossCheck(def, ownerDefaults)

	items := d.sequence(root.get("apps"), "apps")
	if len(items) == 0 {
		d.add(root.get("apps"), "apps", "at least one app is required")
	}
	// Sized once: appended to, 10,000 apps of 400 B would be copied five times over.
	out := make([]App, 0, len(items))
	seen := map[string]string{}
	for i, item := range items {
		f := d.mapping(item, labelled(fmt.Sprintf("apps[%d]", i), item), appKeys...)
		if f.node == nil {
			continue
		}
		out = append(out, d.app(f, seen, def, notifiers))
	}
	return out
}

func (d *decoder) app(f fields, seen map[string]string, def settings, notifiers []Notifier) App {
	a := App{Name: d.name(f, seen)}
	a.DevKey = d.requiredStr(f, "dev_key", "is required")
	a.DevSecret, _ = d.secret(f, "dev_secret", true)

	s := d.settings(f, f.path, notifiers).merge(def)
	d.crossCheck(s, f.path)
	if s.warning.node == nil {
		d.add(f.node, f.path+".thresholds.warning", "is required (set it on the app or in defaults)")
	}
	if s.critical.node == nil {
		d.add(f.node, f.path+".thresholds.critical", "is required (set it on the app or in defaults)")
	}
	a.Product = valueOr(s.product, defaultProduct)
	a.Schedule, a.Cron, a.Interval = s.schedule.v.spec, s.schedule.v.cron, s.schedule.v.interval
	a.Amount = valueOr(s.amount, defaultAmount)
	a.Warning, a.Critical = s.warning.v, s.critical.v
	a.ResolveMargin = valueOr(s.resolveMargin, decimal.Zero)
	a.OverdraftWarnRatio = valueOr(s.overdraftWarnRatio, defaultOverdraftWarnRatio)
	if s.overdraftLimit.ok {
		// A copy: a pointer into s would keep all of s, and the YAML it points to, per app.
		limit := s.overdraftLimit.v
		a.OverdraftLimit = &limit
	}
	a.RepeatEvery = valueOr(s.repeatEvery, defaultRepeatEvery)
	a.StaleAfter = valueOr(s.staleAfter, max(minStaleAfter, 3*a.Interval))
	a.Notify = valueOr(s.notify, []string{})
	s.spend.apply(&a)
	a.Flap = s.flap.rule()
	return a
}

func valueOr[T any](s setting[T], def T) T {
	if s.ok {
		return s.v
	}
	return def
}
