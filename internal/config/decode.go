package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// decoder walks the yaml.Node tree by hand rather than unmarshalling into
// structs: that is what gives every problem a line number, lets unknown keys be
// reported all at once, and keeps amounts as the exact text that was written.
type decoder struct {
	getenv    func(string) (string, bool)
	baseDir   string
	problems  []problem
	schedules map[string]scheduleResult // by spec
	// expanded holds the scalars that took a value from the environment, so that no
	// problem shows that value: it may be a secret even where a key does not expect one.
	expanded map[*yaml.Node]expansion
}

// expansion is a scalar's value after ${VAR} expansion and the variables that went into it.
type expansion struct {
	value string
	vars  []envVar
}

type envVar struct{ name, value string }

// minScrubbed is the shortest environment value that is blanked out of every problem, not
// only out of the problems of the scalar it went into: shorter ones ("1", "10m") are too
// likely to be ordinary words of other messages, and too short to be secrets.
const minScrubbed = 6

type problem struct {
	line int
	path string
	msg  string
}

// add records a problem at node n (nil when there is no node to point at).
//
// A value taken from the environment never appears in a problem: where it would, the
// problem shows the ${VAR} text that was written instead.
func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	p := problem{path: path, msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.line = n.Line
		if e, ok := d.expanded[deref(n)]; ok && e.value != "" {
			p.msg = scrubEnv(strings.ReplaceAll(p.msg, e.value, deref(n).Value), e.vars, 1)
		}
	}
	var all []envVar
	for _, e := range d.expanded {
		all = append(all, e.vars...)
	}
	p.msg = scrubEnv(p.msg, all, minScrubbed)
	d.problems = append(d.problems, p)
}

// scrubEnv replaces each variable's value (of at least min bytes) in msg with ${NAME},
// longest first, so a value that contains another is replaced whole.
func scrubEnv(msg string, vars []envVar, min int) string {
	vars = slices.Clone(vars)
	slices.SortStableFunc(vars, func(a, b envVar) int { return len(b.value) - len(a.value) })
	for _, v := range vars {
		if len(v.value) >= min {
			msg = strings.ReplaceAll(msg, v.value, "${"+v.name+"}")
		}
	}
	return msg
}

func (d *decoder) sortedProblems() []string {
	slices.SortStableFunc(d.problems, func(a, b problem) int { return a.line - b.line })
	out := make([]string, 0, len(d.problems))
	for _, p := range d.problems {
		s := p.msg
		if p.path != "" {
			s = p.path + ": " + s
		}
		if p.line > 0 {
			s = fmt.Sprintf("line %d: %s", p.line, s)
		}
		out = append(out, s)
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields is a YAML mapping checked against its allowed keys.
type fields struct {
	node      *yaml.Node // the mapping, for "is required" problems; nil when absent
	path      string
	values    map[string]*yaml.Node
	wrongKind bool // not a mapping: already reported, so nothing in it is "required"
}

func (f fields) get(key string) *yaml.Node { return f.values[key] }
func (f fields) has(key string) bool       { return f.values[key] != nil }

// mapping reads n as a mapping, reporting unknown and repeated keys. An absent
// or null n gives empty fields, so optional sections need no special case.
func (d *decoder) mapping(n *yaml.Node, path string, allowed ...string) fields {
	return d.mappingOf(n, path, "", allowed...)
}

// mappingOf is mapping for a kind of entry, named in unknown-key problems
// ("unknown key for a slack notifier").
func (d *decoder) mappingOf(n *yaml.Node, path, kind string, allowed ...string) fields {
	f := fields{path: path, values: map[string]*yaml.Node{}}
	n = deref(n)
	if isNull(n) {
		return f
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "must be a mapping of keys to values, not %s", kindName(n))
		f.wrongKind = true
		return f
	}
	unknown := "unknown key"
	if kind != "" {
		unknown += " for " + kind
	}
	f.node = n
	keyLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		switch {
		case !slices.Contains(allowed, key):
			d.add(k, join(path, key), "%s", unknown)
		case keyLine[key] != 0:
			d.add(k, join(path, key), "set twice (first on line %d)", keyLine[key])
		default:
			keyLine[key] = k.Line
			if !isNull(deref(v)) {
				f.values[key] = v
			}
		}
	}
	return f
}

// sequence reads n as a list; absent or null gives none.
func (d *decoder) sequence(n *yaml.Node, path string) []*yaml.Node {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.add(n, path, "must be a list, not %s", kindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

// scalar returns the value at n with ${VAR} expanded. ok is false when n is
// absent or a problem was recorded.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	n = deref(n)
	if isNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.add(n, path, "must be a single value, not %s", kindName(n))
		return "", false
	}
	v, vars, err := expand(n.Value, d.getenv)
	if len(vars) > 0 {
		if d.expanded == nil {
			d.expanded = map[*yaml.Node]expansion{}
		}
		d.expanded[n] = expansion{value: v, vars: vars}
	}
	if err != nil {
		d.add(n, path, "%v", err)
		return "", false
	}
	return v, true
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} with its value and $$ with $; any other $ stays as
// written. It runs on parsed scalars, so an expanded value can hold any
// character without changing the YAML structure.
// It also returns the variables it used.
func expand(s string, getenv func(string) (string, bool)) (string, []envVar, error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var vars []envVar
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			// The text may be a secret written inline, so a malformed
			// reference is described, never quoted.
			if end < 0 || !varName.MatchString(s[i+2:i+2+end]) {
				return "", vars, errors.New(`has a malformed ${VAR} reference (write $$ for a literal $)`)
			}
			name := s[i+2 : i+2+end]
			v, ok := getenv(name)
			if !ok {
				return "", vars, fmt.Errorf("environment variable %s is not set", name)
			}
			if v != "" {
				vars = append(vars, envVar{name, v})
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), vars, nil
}

// requiredStr reads a string that must be present (missing says how) and not empty.
func (d *decoder) requiredStr(f fields, key, missing string) string {
	v, ok := d.str(f, key)
	switch {
	case !f.has(key):
		d.add(f.node, join(f.path, key), "%s", missing)
	case ok && v == "":
		d.add(f.get(key), join(f.path, key), "must not be empty")
	}
	return v
}

// secret reads key, or key_file, from f. Problems never include the value.
func (d *decoder) secret(f fields, key string, required bool) (Secret, bool) {
	fileKey := key + "_file"
	inline, file := f.get(key), f.get(fileKey)
	switch {
	case inline != nil && file != nil:
		d.add(file, join(f.path, fileKey), "set either %s or %s, not both", key, fileKey)
		return "", false
	case file != nil:
		name, ok := d.scalar(file, join(f.path, fileKey))
		if !ok {
			return "", false
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(d.baseDir, name)
		}
		data, err := readSecretFile(name)
		if err != nil {
			d.add(file, join(f.path, fileKey), "cannot read the secret: %v", err)
			return "", false
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if s == "" {
			d.add(file, join(f.path, fileKey), "the file %s is empty", name)
			return "", false
		}
		return Secret(s), true
	case inline != nil:
		s, ok := d.scalar(inline, join(f.path, key))
		if ok && s == "" {
			d.add(inline, join(f.path, key), "must not be empty")
			return "", false
		}
		return Secret(s), ok
	case required && !f.wrongKind:
		d.add(f.node, join(f.path, key), "is required (or %s)", fileKey)
	}
	return "", false
}

// maxSecretFile bounds what is read of a *_file: a secret is short, and a path such as
// /dev/zero must not make start-up read forever.
const maxSecretFile = 64 << 10

func readSecretFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d KiB, which no secret is", name, maxSecretFile>>10)
	}
	return data, nil
}

// str reads an optional string; ok is false when it is absent or invalid.
func (d *decoder) str(f fields, key string) (string, bool) {
	return d.scalar(f.get(key), join(f.path, key))
}

// oneOf reads an optional string that must be one of allowed; def when absent.
func (d *decoder) oneOf(f fields, key, def string, allowed ...string) string {
	v, ok := d.str(f, key)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		d.add(f.get(key), join(f.path, key), "must be %s, not %q", orList(allowed), v)
		return def
	}
	return v
}

func orList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// httpURL reads an optional absolute http(s) URL. The value is not echoed in
// problems: URLs often carry credentials in their path or query.
func (d *decoder) httpURL(f fields, key string) (string, bool) {
	v, ok := d.str(f, key)
	if !ok || v == "" {
		return v, ok
	}
	if !isHTTPURL(v) {
		d.add(f.get(key), join(f.path, key), "must be an absolute http:// or https:// URL")
		return "", false
	}
	return v, true
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

var dayPrefix = regexp.MustCompile(`^([0-9]+)d`)

// parseDuration accepts Go durations plus a leading day count: "7d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration (write it like 90s, 10m, 4h, 7d or 1d12h)", s)
	var days time.Duration
	if m := dayPrefix.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, bad
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[len(m[0]):]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return days + d, nil
}

func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.add(n, path, "%v", err)
		return 0, false
	}
	return v, true
}

// amount parses a decimal from the text as written, never through a float,
// and only what the database's NUMERIC(20,4) stores without rounding.
func (d *decoder) amount(n *yaml.Node, path string) (decimal.Decimal, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return decimal.Decimal{}, false
	}
	v, err := balance.ParseAmount(s)
	switch {
	case errors.Is(err, balance.ErrTooPrecise):
		d.add(n, path, "%s has more than 4 decimal places", s)
	case errors.Is(err, balance.ErrOutOfRange):
		d.add(n, path, "%s is too large", s)
	case err != nil:
		d.add(n, path, "%q is not a decimal number (write it like 100 or \"100.50\")", s)
	}
	if err != nil {
		return decimal.Decimal{}, false
	}
	return v, true
}
