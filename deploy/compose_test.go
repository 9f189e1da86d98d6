package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// compose is the part of docker-compose.yml that these tests read. `docker compose config`
// cannot run here (no Docker), so the facts that matter are checked on the decoded file.
type compose struct {
	Services map[string]struct {
		Image       string
		Build       any
		Profiles    []string
		Environment map[string]string
		Secrets     []string
		Volumes     []string
		Ports       []string
		Healthcheck *struct {
			Test        []string
			Interval    string
			Timeout     string
			StartPeriod string `yaml:"start_period"`
			Retries     int
		}
	}
	Secrets map[string]struct{ File string }
	Volumes map[string]any
}

func readCompose(t *testing.T) compose {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// secretRef finds the secrets that a config reads from /run/secrets/NAME.
var secretRef = regexp.MustCompile(`/run/secrets/([a-z0-9_]+)`)

func TestComposeMonitor(t *testing.T) {
	c := readCompose(t)
	m, ok := c.Services["monitor"]
	if !ok {
		t.Fatal("no monitor service")
	}
	if len(m.Profiles) != 0 {
		t.Errorf("monitor has profiles %v: it must start with a plain `docker compose up`", m.Profiles)
	}
	// The image is distroless: no shell, so the exec form and the binary's own probe.
	if m.Healthcheck == nil {
		t.Fatal("monitor has no healthcheck")
	}
	if got := m.Healthcheck.Test; len(got) < 3 || got[0] != "CMD" || got[1] != "/usr/local/bin/monitor" || got[2] != "healthcheck" {
		t.Errorf("monitor healthcheck = %q, want [CMD /usr/local/bin/monitor healthcheck ...]", got)
	}
	if m.Environment["MONITOR_LOG_FORMAT"] != "json" {
		t.Errorf("MONITOR_LOG_FORMAT = %q, want json", m.Environment["MONITOR_LOG_FORMAT"])
	}
	// No secret in the environment: every credential is a Compose secret read through *_file.
	for k, v := range m.Environment {
		if regexp.MustCompile(`(?i)token|secret|password|webhook|database_url`).MatchString(k) || strings.Contains(v, "://") {
			t.Errorf("monitor environment %s=%s looks like a secret: use a Compose secret and a *_file key", k, v)
		}
	}

	// Every file deploy/monitor.yaml reads from /run/secrets is a secret of the monitor service
	// with a file source, and no secret is mounted for nothing.
	raw, err := os.ReadFile("monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, sm := range secretRef.FindAllStringSubmatch(string(raw), -1) {
		read = append(read, sm[1])
	}
	sort.Strings(read)
	mounted := slices.Clone(m.Secrets)
	sort.Strings(mounted)
	if diff := cmp.Diff(read, mounted); diff != "" {
		t.Errorf("secrets read by deploy/monitor.yaml (-) vs mounted into the monitor service (+):\n%s", diff)
	}
	for _, name := range m.Secrets {
		if s, ok := c.Secrets[name]; !ok || s.File == "" {
			t.Errorf("secret %s is not declared with a file source", name)
		}
	}

	// The config that Compose mounts is valid when the secrets are where Compose puts them.
	mounts := false
	for _, v := range m.Volumes {
		if strings.HasPrefix(v, "./deploy/monitor.yaml:/etc/monitor/monitor.yaml") {
			mounts = true
		}
	}
	if !mounts {
		t.Errorf("monitor does not mount ./deploy/monitor.yaml at /etc/monitor/monitor.yaml: %v", m.Volumes)
	}
	cfg := parseWithSecrets(t, raw, "/run/secrets/", map[string]string{
		"database_url":        "postgres://monitor:pw@postgres:5432/monitor",
		"monitor_api_token":   "ops-token",
		"prometheus_token":    "read-token",
		"slack_webhook_url":   "https://hooks.slack.com/services/T/B/x",
		"checkout_dev_secret": "dev-secret",
	}, map[string]string{"CHECKOUT_DEV_KEY": "dev-key"})
	if cfg.Database.URL.Reveal() != "postgres://monitor:pw@postgres:5432/monitor" || cfg.Apps[0].DevSecret.Reveal() != "dev-secret" {
		t.Errorf("secrets were not read from their files")
	}
	var read2 []string
	for _, tk := range cfg.HTTP.Tokens {
		read2 = append(read2, tk.Name+":"+tk.Scope)
	}
	if diff := cmp.Diff([]string{"ops:write", "prometheus:read"}, read2); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
}

// parseWithSecrets parses a config whose *_file keys point under dir, with the files written
// to a temporary directory instead.
func parseWithSecrets(t *testing.T, raw []byte, dir string, secrets, env map[string]string) *config.Config {
	t.Helper()
	tmp := t.TempDir()
	for name, v := range secrets {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := strings.ReplaceAll(string(raw), dir, tmp+"/")
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok }, tmp)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// Ports are published on the loopback interface unless the operator says otherwise.
func TestComposePortsOnLoopback(t *testing.T) {
	c := readCompose(t)
	loopback := regexp.MustCompile(`^(127\.0\.0\.1|\$\{[A-Z_]+:-127\.0\.0\.1\}):`)
	n := 0
	for name, s := range c.Services {
		for _, p := range s.Ports {
			n++
			if !loopback.MatchString(p) {
				t.Errorf("service %s publishes %q on every interface: bind it to 127.0.0.1", name, p)
			}
		}
	}
	if n == 0 {
		t.Error("no published port found")
	}
}

// Prometheus and Grafana come with `--profile observability`, provisioned with the rules and
// the dashboard of this directory.
func TestComposeObservabilityProfile(t *testing.T) {
	c := readCompose(t)
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if !slices.Equal(s.Profiles, []string{"observability"}) {
			t.Errorf("%s profiles = %v, want [observability]", name, s.Profiles)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			}
		}
	}
	want := map[string][]string{
		"prometheus": {"./deploy/prometheus/rules.yml:", "./deploy/prometheus/prometheus.yml:"},
		"grafana":    {"./deploy/grafana/dashboard.json:", "./deploy/grafana/provisioning:"},
	}
	for name, prefixes := range want {
		for _, p := range prefixes {
			if !slices.ContainsFunc(c.Services[name].Volumes, func(v string) bool { return strings.HasPrefix(v, p) }) {
				t.Errorf("%s does not mount %s", name, strings.TrimSuffix(p, ":"))
			}
		}
	}
	// Prometheus scrapes with the read token that the monitor's config defines.
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "credentials_file: /run/secrets/prometheus_token") ||
		!slices.Contains(c.Services["prometheus"].Secrets, "prometheus_token") {
		t.Error("prometheus does not scrape with the prometheus_token secret")
	}
	if !strings.Contains(string(raw), "job_name: engagelab-monitor") {
		t.Error("the scrape job is not named engagelab-monitor, as rules.yml expects")
	}
}

// The image: pinned bases, the exec-form HEALTHCHECK through the binary, a .dockerignore that
// keeps history, binaries and secrets out of the build context.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	froms := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "FROM" {
			froms++
			if !regexp.MustCompile(`^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$`).MatchString(f[1]) {
				t.Errorf("base image %s is not pinned as tag@sha256:digest", f[1])
			}
		}
	}
	if froms != 2 {
		t.Errorf("%d FROM lines, want 2 (build and runtime)", froms)
	}
	// The build image is the Go release that go.mod names.
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}
	if !strings.Contains(string(raw), "FROM golang:"+string(goVersion[1])+"-bookworm@sha256:") {
		t.Errorf("the build stage is not golang:%s-bookworm, the Go of go.mod", goVersion[1])
	}
	hc := regexp.MustCompile(`(?m)^HEALTHCHECK .*\\\n\s*CMD \["/usr/local/bin/monitor", "healthcheck"`)
	if !hc.Match(raw) {
		t.Error("no exec-form HEALTHCHECK running `monitor healthcheck`")
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ignore))
	for _, want := range []string{".git", ".env", "bin", "deploy"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
