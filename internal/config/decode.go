package config

import (
	"errors"
	"fmt"
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
}

type problem struct {
	line int
	path string
	msg  string
}

// add records a problem at node n (nil when there is no node to point at).
func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	p := problem{path: path, msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.line = n.Line
	}
	d.problems = append(d.problems, p)
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
	v, err := expand(n.Value, d.getenv)
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
func expand(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
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
				return "", errors.New(`has a malformed ${VAR} reference (write $$ for a literal $)`)
			}
			name := s[i+2 : i+2+end]
			v, ok := getenv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
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
		data, err := os.ReadFile(name)
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
